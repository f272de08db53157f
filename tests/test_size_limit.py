"""The SMTP server's SIZE (RFC 1870) is checked before anything is sent."""

import base64
import os

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from ..testkit.mail_servers import SMTPTestServer
from .common import CrmInboxCase

LIMIT = 60_000


@tagged("post_install", "-at_install")
class TestSizeLimit(CrmInboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.small_smtpd = SMTPTestServer(dict(cls.smtpd.users), size_limit=LIMIT)
        cls.small_smtpd.users = cls.smtpd.users  # the same logins (see _fresh_account)
        cls.small_smtpd.start()
        cls.addClassCleanup(cls.small_smtpd.stop)

    def _setup(self):
        account = self._connect(self._fresh_account(smtp_port=self.small_smtpd.port))
        self.dovecot.append(account.email, "INBOX", (
            f"From: Ann <ann@client.example>\r\nTo: {account.email}\r\nSubject: Plans\r\n"
            f"Message-ID: <plans-1@client.example>\r\nDate: Wed, 18 Nov 2026 08:00:00 +0000"
            f"\r\n\r\nSend me the plans.\r\n").encode())
        account._sync()
        message = self.env["crm.inbox.message"].search([("account_id", "=", account.id)])
        return account, message

    def _attachment(self, size):
        return self.env["ir.attachment"].with_user(self.user).create({
            "name": "plans.pdf", "mimetype": "application/pdf",
            "datas": base64.b64encode(os.urandom(size))})

    def test_inline_reply_over_size_is_refused_with_the_amount(self):
        account, message = self._setup()
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        before = self.small_smtpd.mail_commands
        big = self._attachment(80_000)
        with self.assertRaises(UserError) as info:
            Compose.inbox_send(message.id, "reply", {"text": "Here.",
                                                     "attachment_ids": [big.id]})
        text = str(info.exception)
        self.assertIn("at most 60.0 KB", text)
        self.assertIn("KB over", text)
        self.assertEqual(self.small_smtpd.mail_commands, before, "no MAIL FROM at all")
        # a small one goes
        small = self._attachment(10_000)
        Compose.inbox_send(message.id, "reply", {"text": "Here.", "attachment_ids": [small.id]})
        self._run_mail_queue(delay=11)
        self.assertEqual(len(self.small_smtpd.wait_for(1)), 1)
        self.assertEqual(account.smtp_size_limit, LIMIT, "read from EHLO, kept a day")

    def test_composer_dialog_is_refused_before_it_is_queued(self):
        _account, message = self._setup()
        big = self._attachment(80_000)
        action = message.with_user(self.user).action_reply()
        form = Form(self.env["crm.inbox.compose"].with_user(self.user)
                    .with_context(**action["context"]))
        form.attachment_ids.add(big)
        composer = form.save()
        before = self.small_smtpd.mail_commands
        queued = self.env["mail.mail"].sudo().search_count([])
        with self.assertRaises(UserError) as info:
            composer.action_send()
        self.assertIn("KB over", str(info.exception))
        self.assertEqual(self.env["mail.mail"].sudo().search_count([]), queued, "not queued")
        self._run_mail_queue(delay=11)
        self.assertEqual(self.small_smtpd.mail_commands, before)

    def test_message_over_the_parsing_limits_is_a_placeholder(self):
        account = self._connect(self._fresh_account())
        parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n"
                        for n in range(1100))
        self.dovecot.append(account.email, "INBOX", (
            f"From: Ann <ann@client.example>\r\nTo: {account.email}\r\nSubject: Huge\r\n"
            f"Message-ID: <huge-1@client.example>\r\nDate: Wed, 18 Nov 2026 08:00:00 +0000\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            f"{parts}--b--\r\n").encode())
        account._sync()
        message = self.env["crm.inbox.message"].search([("account_id", "=", account.id)])
        self.assertTrue(message.is_malformed)
        thread = self.env["crm.inbox.conversation"].with_user(self.user).inbox_thread(
            message.conversation_id.id)
        shown = thread["messages"][0]
        self.assertTrue(shown["too_large"])
        self.assertIn("MIME parts", shown["too_large"]["reason"])
        self.assertEqual(shown["too_large"]["size"], message.size)
        self.assertEqual(shown["snippet"], "Too large to display")
        self.assertEqual(shown["body_main"], "")
        att_id = int(shown["too_large"]["download_url"].split("/")[3].split("?")[0])
        original = self.env["ir.attachment"].browse(att_id)
        self.assertEqual(original.mimetype, "message/rfc822")
        self.assertIn(b"part 1099", original.raw)
