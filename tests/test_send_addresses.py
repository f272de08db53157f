"""Replying to a display name with a comma; a partly refused send says who was refused."""

import email
from email import policy

from odoo.tests import Form, tagged

from .common import CrmInboxCase

COMMA = (b'From: "Doe, John" <john.doe@client.example>\r\nTo: {to}\r\n'
         b'Cc: "Roe, Jane" <jane.roe@client.example>, bob@client.example\r\n'
         b"Subject: Contract\r\nMessage-ID: <comma-1@client.example>\r\n"
         b"Date: Wed, 18 Nov 2026 08:00:00 +0000\r\n\r\nSee attached.\r\n")


@tagged("post_install", "-at_install")
class TestSendAddresses(CrmInboxCase):

    def _incoming(self):
        account = self._connect(self._fresh_account())
        self.dovecot.append(account.email, "INBOX", COMMA.replace(b"{to}", account.email.encode()))
        account._sync()
        return account, self.env["crm.inbox.message"].search([("account_id", "=", account.id)])

    def _composer(self, message, mode="reply"):
        action = getattr(message.with_user(self.user), f"action_{mode}")()
        return Form(self.env["crm.inbox.compose"].with_user(self.user)
                    .with_context(**action["context"]))

    def test_sender_with_a_comma_in_the_name_is_stored_quoted_and_replied_to(self):
        _account, incoming = self._incoming()
        self.assertEqual(incoming.email_from, '"Doe, John" <john.doe@client.example>')
        self.assertIn('"Roe, Jane" <jane.roe@client.example>', incoming.email_cc)
        self.smtpd.clear()
        composer = self._composer(incoming, "reply_all")
        self.assertEqual(composer.to, '"Doe, John" <john.doe@client.example>')
        composer.save().action_send()
        self._run_mail_queue()
        received = self.smtpd.wait_for(1)[0]
        self.assertEqual(sorted(received.rcpt_tos), ["bob@client.example",
                                                     "jane.roe@client.example",
                                                     "john.doe@client.example"])
        sent = email.message_from_bytes(received.data, policy=policy.default)
        self.assertEqual(sent["To"].addresses[0].display_name, "Doe, John")

    def test_partly_refused_send_names_the_refused_recipients(self):
        _account, incoming = self._incoming()
        self.smtpd.refused_recipients.add("bob@client.example")
        self.addCleanup(self.smtpd.refused_recipients.discard, "bob@client.example")
        self.smtpd.clear()
        composer = self._composer(incoming, "reply_all")
        composer.save().action_send()
        self._run_mail_queue()
        received = self.smtpd.wait_for(1)[0]
        self.assertNotIn("bob@client.example", received.rcpt_tos)
        note = incoming.conversation_id.message_ids.filtered(
            lambda m: "bob@client.example" in (m.body or ""))
        self.assertTrue(note, "the refusal is noted on the conversation")
        self.assertIn("550", note.body)
