from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..testkit.mail_servers import free_port
from .common import CrmInboxCase


@tagged("post_install", "-at_install")
class TestConnection(CrmInboxCase):

    def test_connection_lists_folders_with_special_use(self):
        account = self._fresh_account()
        result = account.action_test_connection()
        self.assertEqual(result["params"]["type"], "success")
        roles = {f.special_use for f in account.folder_ids}
        self.assertTrue({"\\Inbox", "\\Sent", "\\Drafts", "\\Trash", "\\Junk"} <= roles)
        self.assertEqual(set(account.folder_ids.filtered("sync_enabled").mapped("special_use")),
                         {"\\Inbox", "\\Sent"})

    def test_wrong_password(self):
        account = self._fresh_account()
        account.imap_password = "wrong"
        with self.assertRaisesRegex(UserError, "IMAP: the server rejected the user name or "
                                               "password"):
            account.action_test_connection()

    def test_closed_port(self):
        account = self._fresh_account(imap_port=free_port())
        with self.assertRaisesRegex(UserError, "refused the connection on port"):
            account.action_test_connection()

    def test_smtp_step_is_named(self):
        account = self._fresh_account(smtp_port=free_port())
        with self.assertRaisesRegex(UserError, "^SMTP: .*refused the connection"):
            account.action_test_connection()

    def test_untrusted_self_signed_certificate(self):
        account = self._fresh_account(imap_security="ssl", imap_port=self.dovecot.imaps_port)
        with self.assertRaisesRegex(UserError, "certificate of 127.0.0.1 is not trusted.*"
                                               "Allow self-signed certificate"):
            account.action_test_connection()
        # opting in pins the certificate the server presented
        # a new SMTP endpoint drops the shared password: it is typed again with it
        account.write({"allow_self_signed": True, "smtp_security": "ssl",
                       "smtp_port": self.smtpd.ssl_port,
                       "imap_password": self.dovecot.users[account.email]})
        account.action_test_connection()
        self.assertEqual(len(account.imap_cert_fingerprint), 64)
        self.assertEqual(len(account.smtp_cert_fingerprint), 64)
        # a different certificate later is refused
        account.sudo().imap_cert_fingerprint = "0" * 64
        with self.assertRaisesRegex(UserError, "different certificate"):
            account.action_test_connection()

    def test_unknown_host(self):
        account = self._fresh_account(imap_host="no-such-host.invalid")
        with self.assertRaisesRegex(UserError, "does not exist"):
            account.action_test_connection()

    def test_passwords_are_write_only(self):
        account = self._fresh_account()
        self.assertFalse(account.imap_password)
        self.assertTrue(account.has_imap_password)
        data = account.read(["imap_password", "smtp_password"])[0]
        self.assertFalse(data["imap_password"] or data["smtp_password"])
        secret = self.env["crm.inbox.account.secret"].with_user(self.user)
        with self.assertRaises(AccessError):
            secret.search([]).read(["imap_password"])
        admin = self.env.ref("base.user_admin")
        with self.assertRaises(AccessError):
            self.env["crm.inbox.account.secret"].with_user(admin).search([])

    def test_other_user_cannot_see_a_personal_account(self):
        account = self._fresh_account()
        Account = self.env["crm.inbox.account"].with_user(self.colleague)
        self.assertFalse(Account.search([("id", "=", account.id)]))
        with self.assertRaises(AccessError):
            account.with_user(self.colleague).read(["email"])

    def test_header_values_in_settings_refused(self):
        with self.assertRaisesRegex(ValidationError, "line breaks"):
            self._fresh_account(sender_name="Sam\r\nBcc: x@example.com")
