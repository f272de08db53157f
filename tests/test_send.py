import email
from email import policy

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from .common import CrmInboxCase

INCOMING = (
    b"From: =?utf-8?q?=C3=89lodie_Durand?= <elodie@acme.example>\r\n"
    b"To: {to}\r\n"
    b"Subject: Quote request\r\n"
    b"Message-ID: <quote-2@acme.example>\r\n"
    b"In-Reply-To: <quote-1@acme.example>\r\n"
    b"References: <quote-0@acme.example> <quote-1@acme.example>\r\n"
    b"Date: Tue, 17 Nov 2026 09:30:00 +0100\r\n"
    b"\r\n"
    b"Could you send the quote?\r\n"
)


@tagged("post_install", "-at_install")
class TestSend(CrmInboxCase):

    def _account_with_incoming(self):
        account = self._connect(self._fresh_account())
        self.dovecot.append(account.email, "INBOX",
                            INCOMING.replace(b"{to}", account.email.encode()))
        account._sync()
        incoming = self.env["crm.inbox.message"].search(
            [("account_id", "=", account.id), ("message_id", "=", "<quote-2@acme.example>")])
        self.assertTrue(incoming)
        return account, incoming

    def test_reply_goes_out_threaded_and_lands_in_sent(self):
        account, incoming = self._account_with_incoming()
        self.smtpd.clear()
        action = incoming.conversation_id.with_user(self.user).action_reply()
        composer = Form(self.env["crm.inbox.compose"].with_user(self.user)
                        .with_context(**action["context"]))
        self.assertEqual(composer.subject, "Re: Quote request")
        self.assertIn("elodie@acme.example", composer.to)
        composer.body = "<p>Here is the quote.</p>"
        composer.save().action_send()
        self.assertFalse(self.smtpd.messages, "queued, not sent in the request")
        self._run_mail_queue()
        received = self.smtpd.wait_for(1)[0]
        sent = email.message_from_bytes(received.data, policy=policy.default)
        self.assertEqual(sent["In-Reply-To"], "<quote-2@acme.example>")
        self.assertEqual(sent["References"].split(),
                         ["<quote-0@acme.example>", "<quote-1@acme.example>",
                          "<quote-2@acme.example>"])
        self.assertEqual(received.rcpt_tos, ["elodie@acme.example"])
        # the copy is in Dovecot's Sent folder, \Seen
        sent_folder = self.dovecot.messages(account.email, "Sent")
        self.assertEqual(len(sent_folder), 1)
        uid, raw = next(iter(sent_folder.items()))
        self.assertIn(b"Here is the quote.", raw)
        self.assertIn("\\Seen", self.dovecot.flags(account.email, "Sent")[uid])
        # ... and shows in the conversation at once, only once after the next sync
        conversation = incoming.conversation_id
        self.assertEqual(len(conversation.inbox_message_ids), 2)
        account._sync()
        self.assertEqual(len(conversation.inbox_message_ids), 2)
        copy = conversation.inbox_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(copy.imap_uid, uid)

    def test_reply_all_and_forward(self):
        account, incoming = self._account_with_incoming()
        ctx = incoming.with_user(self.user).action_reply_all()["context"]
        composer = Form(self.env["crm.inbox.compose"].with_user(self.user).with_context(**ctx))
        self.assertNotIn(account.email, (composer.to or "") + (composer.cc or ""))
        ctx = incoming.with_user(self.user).action_forward()["context"]
        composer = Form(self.env["crm.inbox.compose"].with_user(self.user).with_context(**ctx))
        self.assertEqual(composer.subject, "Fwd: Quote request")
        self.assertFalse(composer.to)

    def test_smtp_failure_is_shown_and_nothing_is_filed(self):
        account, incoming = self._account_with_incoming()
        self.smtpd.refuse_data = True
        try:
            ctx = incoming.with_user(self.user).action_reply()["context"]
            composer = Form(self.env["crm.inbox.compose"].with_user(self.user).with_context(**ctx))
            composer.body = "<p>lost?</p>"
            wizard = composer.save()
            wizard.action_send()
            self._run_mail_queue()
        finally:
            self.smtpd.refuse_data = False
        mail = self.env["mail.mail"].sudo().search([("crm_inbox_account_id", "=", account.id)])
        self.assertEqual(mail.state, "exception")
        self.assertIn("554", mail.failure_reason, "the server's reason is shown")
        self.assertIn("lost?", mail.crm_inbox_draft["body"], "the draft is kept")
        self.assertEqual(mail.crm_inbox_conversation_id, incoming.conversation_id)
        self.assertFalse(self.dovecot.messages(account.email, "Sent"))
        # nothing is retried: a permanent failure stays failed
        self._run_mail_queue()
        self.assertEqual(mail.state, "exception")

    def test_header_injection_is_refused(self):
        account, _incoming = self._account_with_incoming()
        wizard = self.env["crm.inbox.compose"].with_user(self.user).create({
            "account_id": account.id, "to": "x@example.com",
            "subject": "Hello\r\nBcc: victim@example.com", "body": "<p>hi</p>",
        })
        with self.assertRaises(UserError):
            wizard.action_send()
        self.assertFalse(self.smtpd.messages and any(
            "victim@example.com" in m.rcpt_tos for m in self.smtpd.messages))

    def test_new_email_from_a_contact(self):
        account = self._connect(self._fresh_account())
        partner = self.env["res.partner"].create({"name": "Kim", "email": "kim@client.example"})
        ctx = partner.with_user(self.user).action_crm_inbox_compose()["context"]
        composer = Form(self.env["crm.inbox.compose"].with_user(self.user).with_context(**ctx))
        composer.account_id = account
        composer.subject = "Hello Kim"
        composer.body = "<p>Nice to meet you</p>"
        self.smtpd.clear()
        composer.save().action_send()
        self._run_mail_queue()
        self.assertEqual(self.smtpd.wait_for(1)[0].rcpt_tos, ["kim@client.example"])
        message = self.env["crm.inbox.message"].search([("account_id", "=", account.id)])
        self.assertIn(partner, message.partner_ids)
