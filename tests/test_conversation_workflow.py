"""Conversation states, snooze, reply reminders and the CRM panel (issue 12), against a
real Dovecot: the other party's answers and our Sent copies are APPENDed to the mailbox
(as another mail client would) and synced; the server's flags are read back from Dovecot."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import CrmInboxCase

ELODIE = "Élodie Durand <elodie.durand@acme-industries.fr>"


def _raw(sender, to, subject, msgid, ref=(), extra="", text="Bonjour,\r\nOù en est le devis ?"):
    date = format_datetime(datetime.now(UTC))
    headers = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
               f"Message-ID: {msgid}\r\nDate: {date}\r\n{extra}")
    if ref:
        headers += f"In-Reply-To: {ref[-1]}\r\nReferences: {' '.join(ref)}\r\n"
    return (headers + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + text + "\r\n").encode()


@tagged("post_install", "-at_install")
class TestConversationWorkflow(CrmInboxCase):

    def _start(self, subject="Devis ligne 3"):
        account = self._connect(self._fresh_account())
        self.box = account.email
        self.subject = subject
        self.refs = ["<q-1@acme-industries.fr>"]
        self.dovecot.append(self.box, "INBOX", _raw(ELODIE, self.box, subject, self.refs[0]))
        account._sync()
        conversation = self.env["crm.inbox.conversation"].search(
            [("account_id", "=", account.id)])
        self.assertEqual(len(conversation), 1)
        return account, conversation

    def _answer(self, account, n, extra="", text="Merci, c'est noté."):
        msgid = f"<a-{n}@acme-industries.fr>"
        self.dovecot.append(self.box, "INBOX", _raw(
            ELODIE, self.box, f"Re: {self.subject}", msgid, self.refs, extra, text))
        self.refs.append(msgid)
        account._sync()

    def _our_reply(self, account, n):
        """Our reply, as another mail client files it: its copy in Sent."""
        msgid = f"<r-{n}@example.com>"
        self.dovecot.append(self.box, "Sent", _raw(
            f"Sam Sales <{self.box}>", ELODIE, f"Re: {self.subject}", msgid, self.refs),
            flags=["\\Seen"])
        self.refs.append(msgid)
        account._sync()

    def _list(self, smart="all"):
        Conv = self.env["crm.inbox.conversation"].with_user(self.user)
        return [r["id"] for r in Conv.inbox_list({"smart": smart})["rows"]]

    def _work(self, conversation, action, value=None):
        return self.env["crm.inbox.conversation"].with_user(self.user).inbox_workflow(
            conversation.ids, action, value)

    def test_reply_waits_answer_reopens_done_reopens(self):
        account, conversation = self._start()
        self.assertEqual(conversation.state, "open")
        self._our_reply(account, 1)
        self.assertEqual(conversation.state, "waiting")
        self.assertIn(conversation.id, self._list("waiting"))
        self._answer(account, 1)
        self.assertEqual(conversation.state, "open")
        self.assertNotIn(conversation.id, self._list("waiting"))
        # archive (e in the client) = done: the mail moves on the server, the list hides it
        self.env["crm.inbox.conversation"].with_user(self.user).inbox_action(
            conversation.ids, "archive")
        self.assertEqual(conversation.state, "done")
        self.assertEqual(len(self.dovecot.messages(self.box, "INBOX")), 0)
        self.assertNotIn(conversation.id, self._list("all"))
        self.assertIn(conversation.id, self._list("done"))
        account._sync()  # the Archive copies are re-keyed, not new: still done
        self.assertEqual(conversation.state, "done")
        self._answer(account, 2)
        self.assertEqual(conversation.state, "open")
        self.assertIn(conversation.id, self._list("all"))
        # our own follow-up after done: waiting
        self._work(conversation, "done")
        self._our_reply(account, 2)
        self.assertEqual(conversation.state, "waiting")

    def test_automatic_reply_changes_nothing(self):
        account, conversation = self._start()
        self._our_reply(account, 1)
        self.assertEqual(conversation.state, "waiting")
        self._answer(account, 1, extra="Auto-Submitted: auto-replied\r\n",
                     text="Je suis absente jusqu'au 14.")
        self.assertEqual(conversation.inbox_message_ids.sorted("id")[-1].automatic_kind,
                         "auto_reply")
        self.assertEqual(conversation.state, "waiting")
        self._work(conversation, "done")
        self._answer(account, 2, extra="Auto-Submitted: auto-replied\r\n",
                     text="Je suis absente jusqu'au 14.")
        self.assertEqual(conversation.state, "done")
        self._work(conversation, "reopen")
        self.assertEqual(conversation.state, "waiting")

    def test_snooze_comes_back_unread_in_odoo_only(self):
        account, conversation = self._start()
        conversation.inbox_message_ids.with_user(self.user).action_mark_read()
        self.assertFalse(conversation.is_unread)
        server_flags = self.dovecot.flags(self.box, "INBOX")
        self.assertEqual([set(f) for f in server_flags.values()], [{"\\Seen"}])
        until = fields.Datetime.now().replace(microsecond=0) + timedelta(minutes=2)
        self._work(conversation, "snooze", fields.Datetime.to_string(until))
        self.assertEqual(conversation.snoozed_until, until)
        self.assertNotIn(conversation.id, self._list("all"))
        self.assertIn(conversation.id, self._list("snoozed"))
        sidebar = self.env["crm.inbox.conversation"].with_user(self.user).inbox_sidebar()
        self.assertEqual(sidebar["smart"]["snoozed"], 1)
        Conv = self.env["crm.inbox.conversation"]
        self.assertFalse(Conv._cron_wake_snoozed(now=until - timedelta(seconds=1)))
        self.assertTrue(conversation.snoozed_until)
        self.assertEqual(Conv._cron_wake_snoozed(now=until + timedelta(seconds=1)), conversation)
        self.assertFalse(conversation.snoozed_until)
        self.assertTrue(conversation.is_unread)
        self.assertTrue(conversation.wake_unread)
        self.assertIn(conversation.id, self._list("all"))
        self.assertIn(conversation.id, self._list("unread"))
        # the server's flags are unchanged (still \Seen), and a later sync keeps it unread
        self.assertEqual(self.dovecot.flags(self.box, "INBOX"), server_flags)
        account._sync()
        self.assertTrue(conversation.is_unread)
        # opening it (read) clears the Odoo-side unread, nothing else to change on the server
        Conv.with_user(self.user).inbox_action(conversation.ids, "read")
        self.assertFalse(conversation.is_unread)
        self.assertEqual(self.dovecot.flags(self.box, "INBOX"), server_flags)
        # an answer from the other party ends a snooze early; an automatic reply does not
        self._work(conversation, "snooze", fields.Datetime.to_string(until))
        self._answer(account, 1, extra="Auto-Submitted: auto-replied\r\n", text="Absente.")
        self.assertEqual(conversation.snoozed_until, until)
        self._answer(account, 2)
        self.assertFalse(conversation.snoozed_until)
        self.assertIn(conversation.id, self._list("all"))
        with self.assertRaises(UserError):
            self._work(conversation, "snooze", "2001-01-01 00:00:00")

    def test_reminder_done_by_answer_not_by_out_of_office(self):
        lead = self.env["crm.lead"].create({
            "name": "Acme Industries: line 3 retrofit",
            "email_from": "elodie.durand@acme-industries.fr", "user_id": self.user.id})
        account, conversation = self._start()
        self.assertEqual(conversation.lead_ids, lead)
        self._our_reply(account, 1)
        day = fields.Date.to_string(fields.Date.today() + timedelta(days=3))
        self._work(conversation, "remind", day)
        kind = self.env.ref("crm_inbox.mail_activity_type_reply_expected")
        self.assertEqual(conversation.activity_ids.activity_type_id, kind)
        self.assertEqual(lead.activity_ids.activity_type_id, kind)
        thread = self.env["crm.inbox.conversation"].with_user(self.user).inbox_thread(
            conversation.id)
        self.assertEqual(thread["conversation"]["reminder"], {"date_deadline": day})
        self._answer(account, 1, extra="Auto-Submitted: auto-replied\r\n", text="Absente.")
        self.assertEqual(len(conversation.activity_ids), 1, "an out-of-office is no answer")
        self.assertEqual(len(lead.activity_ids), 1)
        self._answer(account, 2)
        self.assertFalse(conversation.activity_ids)
        self.assertFalse(lead.activity_ids)
        done = lead.message_ids.filtered(lambda m: m.mail_activity_type_id == kind)
        self.assertTrue(done, "the completed reminder is in the lead's chatter")
        with self.assertRaises(UserError):
            self._work(conversation, "remind", "2001-01-01")

    def test_crm_panel_reasons_offers_and_unlink_remembered(self):
        lead = self.env["crm.lead"].create({
            "name": "Acme Industries: line 3 retrofit",
            "email_from": "elodie.durand@acme-industries.fr", "user_id": self.user.id})
        account, conversation = self._start()
        Conv = self.env["crm.inbox.conversation"].with_user(self.user)
        panel = Conv.inbox_crm_panel(conversation.id)
        self.assertEqual(panel["sender"]["contact"]["name"], "Élodie Durand")
        self.assertEqual([(r["id"], r["reason_kind"]) for r in panel["linked"]],
                         [(lead.id, "email")])
        self.assertEqual(panel["linked"][0]["reason"],
                         "elodie.durand@acme-industries.fr is the lead's email")
        self.assertEqual([r["id"] for r in panel["sender"]["open_leads"]], [lead.id])
        # unlinked by hand: a later email does not link it again
        Conv.inbox_unlink(conversation.id, "lead", lead.id)
        self._answer(account, 1)
        self.assertFalse(conversation.lead_ids)
        panel = Conv.inbox_crm_panel(conversation.id)
        self.assertFalse(panel["linked"])
        self.assertFalse(panel["offered"], "an unlinked lead is not offered again")
        Conv.inbox_link(conversation.id, "lead", lead.id)
        panel = Conv.inbox_crm_panel(conversation.id)
        self.assertEqual(panel["linked"][0]["reason"], "Linked by you")

    def test_ambiguous_contact_is_offered_not_linked(self):
        partner = self.env["res.partner"].create(
            {"name": "Élodie Durand", "email": "elodie.durand@acme-industries.fr"})
        first = self.env["crm.lead"].create(
            {"name": "Line 3", "partner_id": partner.id, "user_id": self.user.id})
        second = self.env["crm.lead"].create(
            {"name": "Line 4", "partner_id": partner.id, "user_id": self.user.id})
        _account, conversation = self._start()
        self.assertFalse(conversation.lead_ids, "two open leads: no automatic link")
        panel = self.env["crm.inbox.conversation"].with_user(self.user).inbox_crm_panel(
            conversation.id)
        self.assertEqual({r["id"] for r in panel["offered"]}, {first.id, second.id})
        self.assertEqual(panel["sender"]["contact"]["id"], partner.id)

    def test_create_lead_from_conversation(self):
        _account, conversation = self._start(subject="Demande de prix: 40 capteurs")
        Conv = self.env["crm.inbox.conversation"].with_user(self.user)
        action = Conv.inbox_lead_defaults(conversation.id)
        ctx = action["context"]
        self.assertEqual(ctx["default_name"], "Demande de prix: 40 capteurs")
        self.assertEqual(ctx["default_email_from"], "elodie.durand@acme-industries.fr")
        self.assertIn("devis", ctx["default_description"])
        Lead = self.env["crm.lead"].with_user(self.user).with_context(
            **{k: v for k, v in ctx.items()})
        lead = Lead.create({"name": ctx["default_name"]})
        self.assertEqual(conversation.lead_ids, lead)
        self.assertEqual(lead.crm_inbox_conversation_ids, conversation)
        self.assertEqual(lead.crm_inbox_email_count, 1)
        panel = Conv.inbox_crm_panel(conversation.id)
        self.assertEqual(panel["linked"][0]["reason"], "Linked by you")
