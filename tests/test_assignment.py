"""Assignment rules of shared accounts, with mail synced from a real Dovecot."""

from odoo import Command
from odoo.tests import new_test_user, tagged

from .common import CrmInboxCase


@tagged("post_install", "-at_install")
class TestAssignmentRules(CrmInboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = new_test_user(
            cls.env, login="team_admin", name="Tara Admin",
            groups="base.group_user,crm_inbox.group_crm_inbox_manager")
        cls.agents = [
            new_test_user(cls.env, login=f"agent{n}", name=f"Agent {n}",
                          groups="base.group_user,sales_team.group_sale_salesman")
            for n in range(1, 6)
        ]

    def _team_account(self, rule, away=()):
        """A shared account with agents 1-4 at reply level (those in *away* away) and
        agent 5 at read level."""
        members = [Command.create({"user_id": agent.id, "access_level": "reply",
                                   "is_away": agent in away})
                   for agent in self.agents[:4]]
        members.append(Command.create({"user_id": self.agents[4].id, "access_level": "read"}))
        account = self._fresh_account(user=self.admin, account_type="shared",
                                      member_ids=members, assignment_rule=rule)
        return self._connect(account)

    def _mail(self, account, n, **headers):
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.dovecot.append(account.email, "INBOX", (
            f"From: Customer {n} <customer{n}@client.example>\r\nTo: {account.email}\r\n"
            f"Subject: Question {n}\r\nMessage-ID: <q{n}-{account.id}@client.example>\r\n"
            f"Date: Mon, 16 Nov 2026 10:{n:02d}:00 +0000\r\n{extra}\r\nHello {n}\r\n"
        ).encode())

    def _loads(self, account):
        convs = self.env["crm.inbox.conversation"].search([("account_id", "=", account.id)])
        return [len(convs.filtered(lambda c, a=agent: c.user_id == a)) for agent in self.agents]

    def test_round_robin_skips_the_away_member(self):
        account = self._team_account("round_robin", away=self.agents[3:4])
        for n in range(10):
            self._mail(account, n)
        account._sync()
        self.assertEqual(self._loads(account), [4, 3, 3, 0, 0])
        # the next one continues the turn (agent 2), in the next sync
        self._mail(account, 10)
        account._sync()
        self.assertEqual(self._loads(account), [4, 4, 3, 0, 0])
        # back from holidays: the turn includes them again
        account.member_ids.filtered(lambda m: m.user_id == self.agents[3]).is_away = False
        self._mail(account, 11)
        self._mail(account, 12)
        account._sync()
        self.assertEqual(self._loads(account), [4, 4, 4, 1, 0])

    def test_round_robin_one_per_conversation_not_per_message(self):
        account = self._team_account("round_robin")
        self._mail(account, 1)
        account._sync()
        conv = self.env["crm.inbox.conversation"].search([("account_id", "=", account.id)])
        self.assertEqual(conv.user_id, self.agents[0])
        # the other party answers: the conversation keeps its assignee
        self._mail(account, 2, **{"In-Reply-To": f"<q1-{account.id}@client.example>",
                                  "Subject": "Re: Question 1"})
        account._sync()
        conv.invalidate_recordset()
        self.assertEqual(conv.email_count, 2)
        self.assertEqual(conv.user_id, self.agents[0])
        self.assertEqual(self._loads(account), [1, 0, 0, 0, 0])

    def test_least_loaded_follows_the_open_counts(self):
        account = self._team_account("least_loaded")
        Conversation = self.env["crm.inbox.conversation"]
        # agent 1 already has 3 conversations, agent 2 has 1, agents 3 and 4 none
        for user, count in ((self.agents[0], 3), (self.agents[1], 1)):
            Conversation.create([{"name": f"old {i}", "account_id": account.id,
                                  "user_id": user.id} for i in range(count)])
        for n in range(5):
            self._mail(account, n)
        account._sync()
        # 3 + 0, 1 + 1, 0 + 2, 0 + 2: ties go to the member listed first
        self.assertEqual(self._loads(account), [3, 2, 2, 2, 0])
        member = account.member_ids.filtered(lambda m: m.user_id == self.agents[2])
        self.assertEqual(member.open_conversation_count, 2)

    def test_manual_and_automatic_mail_are_not_assigned(self):
        account = self._team_account("manual")
        self._mail(account, 1)
        account._sync()
        self.assertEqual(self._loads(account), [0, 0, 0, 0, 0])
        account.assignment_rule = "round_robin"
        self._mail(account, 2, **{"Auto-Submitted": "auto-replied"})
        self._mail(account, 3, **{"List-Id": "<news.client.example>"})
        account._sync()
        self.assertEqual(self._loads(account), [0, 0, 0, 0, 0])

    def test_member_marks_themselves_away(self):
        account = self._team_account("round_robin")
        me = account.member_ids.filtered(lambda m: m.user_id == self.agents[1])
        me.with_user(self.agents[1]).action_toggle_away()
        self.assertTrue(me.is_away)
        self.assertNotIn(self.agents[1], account._crm_inbox_assignable_members().user_id)
