"""Chromium tours of the conversation workflow (static/tests/tours/inbox_workflow_tours.js)
against a real Dovecot and aiosmtpd: the other party's answers are APPENDed to the mailbox
between the tours (as another mail client would), the tours sync them with "Sync now", and
what they did is checked on the servers afterwards."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import CrmInboxCase

ELODIE = "Élodie Durand <elodie.durand@acme-industries.fr>"
SUBJECT = "Devis ligne 3"


def _raw(sender, to, subject, msgid, refs=(), extra="", text="Bonjour,\r\nOù en est le devis ?",
         minutes_ago=0):
    date = format_datetime(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    headers = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
               f"Message-ID: {msgid}\r\nDate: {date}\r\n{extra}")
    if refs:
        headers += f"In-Reply-To: {refs[-1]}\r\nReferences: {' '.join(refs)}\r\n"
    return (headers + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + text + "\r\n").encode()


@tagged("post_install", "-at_install")
class TestInboxWorkflowUi(HttpCase, CrmInboxCase):

    def _mailbox(self):
        self.lead = self.env["crm.lead"].create({
            "name": "Acme Industries: line 3 retrofit", "type": "opportunity",
            "email_from": "elodie.durand@acme-industries.fr", "user_id": self.user.id})
        account = self._connect(self._fresh_account(name="Sales mailbox"))
        self.account = account
        self.box = box = account.email
        self.refs = ["<q-1@acme-industries.fr>"]
        self.dovecot.append(box, "INBOX", _raw(ELODIE, box, SUBJECT, self.refs[0],
                                               minutes_ago=30))
        self.dovecot.append(box, "INBOX", _raw(
            "Jonas Berg <jonas.berg@nordlicht-sensorik.example>", box, "Anfrage Sensoren",
            "<s-1@nordlicht-sensorik.example>",
            text="Guten Tag,\r\nwir brauchen 40 Temperatursensoren für unsere Halle.",
            minutes_ago=60))
        account._sync()
        self.conversation = self.env["crm.inbox.conversation"].search(
            [("account_id", "=", account.id), ("name", "=", SUBJECT)])
        self.assertEqual(self.conversation.lead_ids, self.lead)
        return account

    def _answer(self, n, extra="", text="Bien reçu, merci."):
        msgid = f"<a-{n}@acme-industries.fr>"
        self.dovecot.append(self.box, "INBOX", _raw(
            ELODIE, self.box, f"Re: {SUBJECT}", msgid, self.refs, extra, text))
        self.refs.append(msgid)

    def _tour(self, name):
        self.start_tour("/odoo/crm-inbox", name, login="crm_inbox_sales", timeout=120)
        self.conversation.invalidate_recordset()

    def test_reply_waits_answer_reopens_done_reopens(self):
        self._mailbox()
        self.smtpd.clear()
        self._tour("crm_inbox_workflow_reply_tour")
        self.assertEqual(self.conversation.state, "open", "queued, not sent yet")
        self._run_mail_queue(delay=11)
        self.assertEqual(len(self.smtpd.wait_for(1)), 1)
        self.conversation.invalidate_recordset()
        self.assertEqual(self.conversation.state, "waiting")
        self._tour("crm_inbox_workflow_waiting_tour")
        self._answer(1)
        self._tour("crm_inbox_workflow_answer_tour")
        self.assertEqual(self.conversation.state, "done")
        self.assertEqual(len(self.dovecot.messages(self.box, "INBOX")), 1, "archived on the "
                         "server (the other conversation stays)")
        self._answer(2, text="Une question encore : le délai ?")
        self._tour("crm_inbox_workflow_reopen_tour")
        self.assertEqual(self.conversation.state, "open")

    def test_snooze_comes_back_unread_in_odoo(self):
        self._mailbox()
        self.conversation.inbox_message_ids.with_user(self.user).action_mark_read()
        flags = self.dovecot.flags(self.box, "INBOX")
        self._tour("crm_inbox_workflow_snooze_tour")
        until = self.conversation.snoozed_until
        self.assertTrue(until)
        Conv = self.env["crm.inbox.conversation"]
        self.assertFalse(Conv._cron_wake_snoozed(now=until - timedelta(seconds=1)))
        self.assertEqual(Conv._cron_wake_snoozed(now=until + timedelta(seconds=1)),
                         self.conversation)
        self._tour("crm_inbox_workflow_woken_tour")
        self.assertFalse(self.conversation.is_unread)
        self.assertEqual(self.dovecot.flags(self.box, "INBOX"), flags,
                         "the server's flags are not touched by the snooze")

    def test_reminder_done_by_answer_not_by_out_of_office(self):
        self._mailbox()
        self._tour("crm_inbox_workflow_remind_tour")
        kind = self.env.ref("crm_inbox.mail_activity_type_reply_expected")
        self.assertEqual(self.conversation.activity_ids.activity_type_id, kind)
        self.assertEqual(self.lead.activity_ids.activity_type_id, kind)
        self.assertEqual(self.lead.activity_ids.date_deadline,
                         fields.Date.context_today(self.lead) + timedelta(days=3))
        self._answer(1, extra="Auto-Submitted: auto-replied\r\n",
                     text="Je suis absente jusqu'au 14 décembre.")
        self._tour("crm_inbox_workflow_remind_pending_tour")
        self.assertEqual(len(self.lead.activity_ids), 1)
        self._answer(2)
        self._tour("crm_inbox_workflow_remind_done_tour")
        self.lead.invalidate_recordset()
        self.assertFalse(self.lead.activity_ids)
        self.assertFalse(self.conversation.activity_ids)

    def test_crm_panel_and_create_lead(self):
        account = self._mailbox()
        self._tour("crm_inbox_workflow_crm_panel_tour")
        other = self.env["crm.inbox.conversation"].search(
            [("account_id", "=", account.id), ("name", "=", "Anfrage Sensoren")])
        lead = other.lead_ids
        self.assertEqual(len(lead), 1)
        self.assertEqual(lead.name, "Anfrage Sensoren")
        self.assertEqual(lead.email_from, "jonas.berg@nordlicht-sensorik.example")
        self.assertIn("Temperatursensoren", str(lead.description))
        # the lead's chatter lists the thread's emails
        self.assertEqual(lead.with_user(self.user).crm_inbox_email_count, 1)
