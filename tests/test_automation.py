"""base_automation rules on conversations fed by a real Dovecot sync."""

from datetime import timedelta

from odoo import Command, fields
from odoo.tests import new_test_user, tagged

from .common import CrmInboxCase


@tagged("post_install", "-at_install")
class TestConversationAutomation(CrmInboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = new_test_user(
            cls.env, login="auto_admin", name="Ada Auto",
            groups="base.group_user,crm_inbox.group_crm_inbox_manager")
        cls.model = cls.env["ir.model"]._get("crm.inbox.conversation")

    def _rule(self, name, trigger, code, **values):
        """A rule whose action posts a note made by *code* (Python, ``record`` bound)."""
        action = self.env["ir.actions.server"].create({
            "name": name, "model_id": self.model.id, "state": "code",
            "code": f"record.message_post(body={code}, subtype_xmlid='mail.mt_note')",
        })
        return self.env["base.automation"].create({
            "name": name, "model_id": self.model.id, "trigger": trigger,
            "action_server_ids": [Command.link(action.id)], **values,
        })

    def _notes(self, conversation, text):
        conversation.invalidate_recordset(["message_ids"])
        return conversation.message_ids.filtered(lambda m: text in (m.body or ""))

    def _mail(self, account, n, **headers):
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.dovecot.append(account.email, "INBOX", (
            f"From: Customer {n} <customer{n}@client.example>\r\nTo: {account.email}\r\n"
            f"Subject: Question {n}\r\nMessage-ID: <auto{n}-{account.id}@client.example>\r\n"
            f"Date: Mon, 16 Nov 2026 10:{n:02d}:00 +0000\r\n{extra}\r\nHello {n}\r\n"
        ).encode())

    def _shared(self, **values):
        return self._connect(self._fresh_account(
            user=self.admin, account_type="shared", member_ids=[
                Command.create({"user_id": self.colleague.id, "access_level": "reply"})],
            **values))

    def test_rule_on_assignee_change_fires(self):
        self._rule("Tell the assignee", "on_user_set", "'assigned to ' + record.user_id.name")
        account = self._shared()
        self._mail(account, 1)
        account._sync()
        conversation = self.env["crm.inbox.conversation"].search([("account_id", "=", account.id)])
        self.assertFalse(self._notes(conversation, "assigned to"))
        # through the mail client's assign action, as a member does it
        conversation.with_user(self.colleague).inbox_action(
            conversation.ids, "assign", self.colleague.id)
        self.assertTrue(self._notes(conversation, "assigned to Cole League"))

    def test_rule_on_assignee_change_fires_for_the_assignment_rule(self):
        self._rule("Tell the assignee", "on_user_set", "'assigned to ' + record.user_id.name")
        account = self._shared(assignment_rule="round_robin")
        self._mail(account, 1)
        account._sync()
        conversation = self.env["crm.inbox.conversation"].search([("account_id", "=", account.id)])
        self.assertEqual(conversation.user_id, self.colleague)
        self.assertTrue(self._notes(conversation, "assigned to Cole League"))

    def test_time_based_rule_fires(self):
        self._rule("Unanswered for a day", "on_time", "'no answer for a day'",
                   trg_date_id=self.env["ir.model.fields"]._get(
                       "crm.inbox.conversation", "last_message_date").id,
                   trg_date_range=1, trg_date_range_type="day")
        account = self._shared()
        self._mail(account, 1)
        self._mail(account, 2)
        account._sync()
        Conversation = self.env["crm.inbox.conversation"]
        old = Conversation.search([("name", "=", "Question 1"), ("account_id", "=", account.id)])
        new = Conversation.search([("name", "=", "Question 2"), ("account_id", "=", account.id)])
        old.last_message_date = fields.Datetime.now() - timedelta(days=2)
        new.last_message_date = fields.Datetime.now() - timedelta(hours=2)
        self.env["base.automation"]._check()
        self.assertTrue(self._notes(old, "no answer for a day"))
        self.assertFalse(self._notes(new, "no answer for a day"))

    def test_on_creation_and_on_incoming_message_from_the_sync(self):
        self._rule("New conversation", "on_create", "'new conversation'")
        self._rule("Customer wrote", "on_message_received", "'customer wrote'")
        self._rule("We wrote", "on_message_sent", "'we wrote'")
        account = self._shared()
        self._mail(account, 1)
        account._sync()
        conversation = self.env["crm.inbox.conversation"].search([("account_id", "=", account.id)])
        self.assertEqual(len(self._notes(conversation, "new conversation")), 1)
        self.assertEqual(len(self._notes(conversation, "customer wrote")), 1)
        self.assertFalse(self._notes(conversation, "we wrote"))
        # an out-of-office reply in the same conversation fires nothing
        self._mail(account, 2, **{"In-Reply-To": f"<auto1-{account.id}@client.example>",
                                  "Auto-Submitted": "auto-replied", "Subject": "Re: Question 1"})
        account._sync()
        self.assertEqual(conversation.email_count, 2)
        self.assertEqual(len(self._notes(conversation, "customer wrote")), 1)
        # our reply sent from another mail client, seen in Sent
        self.dovecot.append(account.email, "Sent", (
            f"From: {account.email}\r\nTo: customer1@client.example\r\nSubject: Re: Question 1\r\n"
            f"Message-ID: <our-1@example.com>\r\nIn-Reply-To: <auto1-{account.id}@client.example>\r\n"
            f"Date: Mon, 16 Nov 2026 11:00:00 +0000\r\n\r\nAnswer.\r\n").encode(), ("\\Seen",))
        account._sync()
        self.assertEqual(len(self._notes(conversation, "we wrote")), 1)
        self.assertEqual(len(self._notes(conversation, "new conversation")), 1)
