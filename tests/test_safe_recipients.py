"""Reply / Reply all recipients from a synced message, read from the real SMTP envelope."""

from odoo.tests import tagged

from .common import CrmInboxCase


@tagged("post_install", "-at_install")
class TestSafeRecipients(CrmInboxCase):

    def _incoming(self, account, extra=b""):
        raw = (b"From: Ann <ann@client.example>\r\nTo: " + account.email.upper().encode() +
               b", Bob <bob@client.example>, info@example.com\r\n"
               b"Cc: ann@CLIENT.example, Cy <cy@partner.example>\r\n" + extra +
               b"Subject: Order\r\nMessage-ID: <order-1@client.example>\r\n"
               b"Date: Wed, 18 Nov 2026 08:00:00 +0000\r\n\r\nPlease confirm.\r\n")
        self.dovecot.append(account.email, "INBOX", raw)
        account._sync()
        return self.env["crm.inbox.message"].search(
            [("account_id", "=", account.id), ("message_id", "=", "<order-1@client.example>")])

    def test_reply_all_follows_reply_to_and_leaves_out_our_addresses(self):
        account = self._connect(self._fresh_account(alias_emails="info@example.com"))
        message = self._incoming(account, b"Reply-To: Orders <orders@client.example>\r\n")
        self.assertEqual(message.email_reply_to, "Orders <orders@client.example>")
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        defaults = Compose.inbox_reply_defaults(message.id, "reply_all")
        self.assertEqual(defaults["to"], "Orders <orders@client.example>")
        self.assertEqual(defaults["cc"], "Bob <bob@client.example>, ann@CLIENT.example, "
                                         "Cy <cy@partner.example>")
        self.assertEqual(defaults["added"], ["orders@client.example"])
        self.assertEqual(defaults["removed"], [account.email, "info@example.com"])
        self.assertEqual(defaults["original_addresses"], [
            "ann@client.example", account.email, "bob@client.example", "info@example.com",
            "cy@partner.example"])
        self.smtpd.clear()
        Compose.inbox_send(message.id, "reply_all", {"text": "Confirmed.",
                                                     "bcc": "boss@example.com"})
        self._run_mail_queue(delay=11)
        received = self.smtpd.wait_for(1)[0]
        self.assertEqual(received.rcpt_tos, ["orders@client.example", "bob@client.example",
                                             "ann@CLIENT.example", "cy@partner.example",
                                             "boss@example.com"])
        self.assertNotIn(b"boss@example.com", received.data.split(b"\r\n\r\n")[0],
                         "Bcc stays out of the header")

    def test_reply_goes_to_from_only(self):
        account = self._connect(self._fresh_account())
        message = self._incoming(account)
        defaults = self.env["crm.inbox.compose"].with_user(self.user).inbox_reply_defaults(
            message.id, "reply")
        self.assertEqual(defaults["to"], "Ann <ann@client.example>")
        self.assertEqual(defaults["cc"], "")
        self.assertEqual(defaults["added"], [])
        self.assertEqual(defaults["removed"], [account.email, "bob@client.example",
                                               "info@example.com", "cy@partner.example"])
