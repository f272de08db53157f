"""Issue 9: no user reads another's records or secrets; servers are only where they
should be.

One test class per finding: wizards readable only by their creator (1, 2), secrets
dropped when their endpoint changes (3), manual servers checked like detected ones
(4), address fields parsed strictly (5). Real Dovecot, aiosmtpd and local DNS/TCP.
"""

import socket
import time

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from ..testkit.net_servers import DNSTestServer, TCPTestServer
from .common import CrmInboxCase

WIZARD_PW = "W1zard-Canary-pw!"
WIZARD_SMTP_PW = "W1zard-Smtp-Canary!"


@tagged("post_install", "-at_install")
class TestWizardOwnerRules(CrmInboxCase):
    """Findings 1 and 2: setup wizard, composer and disconnect wizard are their
    creator's only."""

    def _setup_wizard(self):
        return self.env["crm.inbox.account.setup"].with_user(self.user).create({
            "email": self.user.email, "step": "advanced",
            "imap_host": self.dovecot.host, "imap_port": self.dovecot.imap_port,
            "imap_security": "none", "smtp_host": self.smtpd.host,
            "smtp_port": self.smtpd.port, "smtp_security": "none",
            "smtp_username": "other-login", "password": WIZARD_PW,
            "smtp_password": WIZARD_SMTP_PW,
        })

    def test_setup_wizard_is_its_creators_only(self):
        wizard = self._setup_wizard()
        Setup = self.env["crm.inbox.account.setup"].with_user(self.colleague)
        rows = Setup.search_read([], ["password", "smtp_password", "imap_host"])
        self.assertNotIn(wizard.id, [r["id"] for r in rows], "another user lists the wizard")
        with self.assertRaises(AccessError):
            wizard.with_user(self.colleague).read(["imap_host"])
        with self.assertRaises(AccessError):
            wizard.with_user(self.colleague).write({"imap_host": "imap.attacker.example",
                                                    "imap_port": 1143})

    def test_setup_wizard_passwords_are_write_only(self):
        wizard = self._setup_wizard()
        mine = wizard.with_user(self.user)
        for row in (mine.read()[0], mine.web_read({"password": {}, "smtp_password": {}})[0],
                    mine.search_read([("id", "=", wizard.id)])[0]):
            self.assertNotIn(WIZARD_PW, repr(row))
            self.assertNotIn(WIZARD_SMTP_PW, repr(row))

    def test_setup_wizard_password_cleared_once_stored(self):
        wizard = self.env["crm.inbox.account.setup"].with_user(self.user).create({
            "email": self.user.email, "step": "advanced",
            "imap_host": self.dovecot.host, "imap_port": self.dovecot.imap_port,
            "imap_security": "none", "smtp_host": self.smtpd.host,
            "smtp_port": self.smtpd.port, "smtp_security": "none", "password": "sales-pass",
        })
        wizard.action_connect()
        self.assertEqual(wizard.step, "folders", wizard.error_message)
        self.assertTrue(wizard.account_id.has_imap_password)
        self.env.flush_all()
        self.env.cr.execute("SELECT row_to_json(s)::text FROM crm_inbox_account_setup s "
                            "WHERE id = %s", [wizard.id])
        self.assertNotIn("sales-pass", self.env.cr.fetchone()[0])

    def test_composer_is_its_creators_only(self):
        account = self._connect(self._fresh_account())
        composer = self.env["crm.inbox.compose"].with_user(self.user).create({
            "account_id": account.id, "to": "client@example.com", "bcc": "boss@example.com",
            "subject": "Private offer", "body": "<p>secret terms</p>"})
        Compose = self.env["crm.inbox.compose"].with_user(self.colleague)
        rows = Compose.search_read([], ["to", "bcc", "subject", "body"])
        self.assertNotIn(composer.id, [r["id"] for r in rows], "another user lists the draft")
        with self.assertRaises(AccessError):
            composer.with_user(self.colleague).read(["bcc"])
        with self.assertRaises(AccessError):
            composer.with_user(self.colleague).write({"bcc": "spy@example.com"})

    def test_disconnect_wizard_is_its_creators_only(self):
        account = self._fresh_account()
        wizard = self.env["crm.inbox.account.disconnect"].with_user(self.user).create(
            {"account_id": account.id})
        Disconnect = self.env["crm.inbox.account.disconnect"].with_user(self.colleague)
        self.assertFalse(Disconnect.search([("id", "=", wizard.id)]))
        with self.assertRaises(AccessError):
            wizard.with_user(self.colleague).write({"synced_mail": "delete"})


@tagged("post_install", "-at_install")
class TestSecretBoundToEndpoint(CrmInboxCase):
    """Finding 3: any change of host, port, security or user name drops that side's
    stored password, in every state."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = new_test_user(
            cls.env, login="iso_admin", name="Ida Admin",
            groups="base.group_user,crm_inbox.group_crm_inbox_manager")
        cls.manager = new_test_user(cls.env, login="iso_manage", name="Max Manage",
                                    groups="base.group_user")

    def _shared(self, **values):
        account = self._fresh_account(user=self.admin, account_type="shared", member_ids=[
            Command.create({"user_id": self.manager.id, "access_level": "manage"})], **values)
        return account

    def test_port_or_security_change_drops_the_password(self):
        for change in ({"imap_port": 1143}, {"imap_security": "starttls"},
                       {"imap_username": "someone-else"}):
            account = self._connect(self._shared())
            self.assertTrue(account.has_imap_password)
            account.with_user(self.manager).write(change)
            account.invalidate_recordset()
            self.assertFalse(account.has_imap_password, f"password followed {change}")
            self.assertEqual(account.state, "draft")

    def test_draft_host_change_drops_the_password(self):
        account = self._shared()
        self.assertEqual(account.state, "draft")
        self.assertTrue(account.has_imap_password)
        account.with_user(self.manager).write({"imap_host": "127.0.0.2"})
        account.invalidate_recordset()
        self.assertFalse(account.has_imap_password, "the draft password followed the host")

    def test_smtp_change_drops_the_shared_credentials(self):
        account = self._connect(self._shared())
        self.assertTrue(account.smtp_same_credentials)
        account.with_user(self.manager).write({"smtp_port": 2525})
        account.invalidate_recordset()
        self.assertFalse(account.has_imap_password, "IMAP password followed the SMTP server")

    def test_smtp_change_keeps_a_separate_imap_password(self):
        account = self._connect(self._shared())
        account.write({"smtp_same_credentials": False, "smtp_username": account.email,
                       "smtp_password": "pw-smtp"})
        account.invalidate_recordset()
        self.assertTrue(account.has_imap_password)
        self.assertTrue(account.has_smtp_password)
        account.with_user(self.manager).write({"smtp_security": "starttls"})
        account.invalidate_recordset()
        self.assertFalse(account.has_smtp_password)
        self.assertTrue(account.has_imap_password)

    def test_new_password_in_the_same_write_is_kept(self):
        account = self._connect(self._shared())
        account.with_user(self.manager).write({"imap_port": self.dovecot.imap_port,
                                               "imap_username": account.email})
        account.invalidate_recordset()
        self.assertTrue(account.has_imap_password, "an unchanged value changes nothing")
        account.with_user(self.manager).write({"imap_security": "none", "imap_port": 1,
                                               "imap_password": "typed-again"})
        account.invalidate_recordset()
        self.assertTrue(account.has_imap_password)


@tagged("post_install", "-at_install")
class TestManualHostChecks(CrmInboxCase):
    """Finding 4: manual IMAP/SMTP servers are checked like detected ones."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dns = DNSTestServer({"mail.rebind.test": {"A": ["127.0.0.1"]},
                                 "mixed.rebind.test": {"A": ["127.0.0.1", "169.254.169.254"]},
                                 "mapped.rebind.test": {"AAAA": ["::ffff:169.254.169.254"]}})
        cls.dns.start()
        cls.addClassCleanup(cls.dns.close)
        cls.env["ir.config_parameter"].sudo().set_param(
            "crm_inbox.dns_server", f"127.0.0.1:{cls.dns.port}")

    def _icp(self, allow):
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_inbox.allow_private_hosts", "True" if allow else "False")

    def test_metadata_addresses_refused_at_save_even_when_private_allowed(self):
        self._icp(True)
        for host in ("169.254.169.254", "[fd00:ec2::254]", "100.100.100.200",
                     "::ffff:169.254.169.254", "2002:a9fe:a9fe::1", "mixed.rebind.test",
                     "mapped.rebind.test", "0.0.0.0"):
            for field in ("imap_host", "smtp_host"):
                with self.assertRaises(UserError, msg=f"{field}={host}"), \
                        self.env.cr.savepoint():
                    self._create_account(**{field: host})

    def test_private_addresses_refused_unless_allowed(self):
        self._icp(False)
        for host in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "[::1]", "fe80::1",
                     "localhost", "mail.rebind.test"):
            with self.assertRaises(UserError, msg=host), \
                    self.env.cr.savepoint():
                self._create_account(imap_host=host)
        self._icp(True)
        self._connect(self._fresh_account())

    def test_checked_at_connect_too(self):
        self._icp(True)
        account = self._fresh_account()
        self._icp(False)
        with self.assertRaises(UserError) as caught:
            account.action_test_connection()
        self.assertIn("private", caught.exception.args[0])

    def test_connects_to_the_checked_address(self):
        """The name resolves only through the configured DNS: connecting succeeds
        only when the socket goes to the address that was checked (no second lookup)."""
        self._icp(True)
        account = self._fresh_account(imap_host="mail.rebind.test",
                                      smtp_host="mail.rebind.test")
        self._connect(account)

    def test_banner_never_echoed_and_silent_port_times_out_quickly(self):
        self._icp(True)
        banner = b"SSH-2.0-OpenSSH_9.6 INTERNAL-BANNER-7731\r\n"
        with TCPTestServer(greeting=banner) as server:
            account = self._fresh_account(imap_port=server.port)
            with self.assertRaises(UserError) as caught:
                account.action_test_connection()
        self.assertNotIn("INTERNAL-BANNER", caught.exception.args[0])
        self.assertNotIn("OpenSSH", caught.exception.args[0])
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # never accepted: the handshake completes, nothing is ever sent
        self.addCleanup(silent.close)
        account = self._fresh_account(imap_port=silent.getsockname()[1])
        start = time.monotonic()
        with self.assertRaises(UserError):
            account.action_test_connection()
        self.assertLess(time.monotonic() - start, 12, "Test connection held the worker")


@tagged("post_install", "-at_install")
class TestStrictAddresses(CrmInboxCase):
    """Finding 5: To/Cc/Bcc with CR, LF, NUL or encoded words are refused; what is
    sent is exactly what the composer shows."""

    def _composer(self, account, **values):
        return self.env["crm.inbox.compose"].with_user(self.user).create(dict(
            {"account_id": account.id, "subject": "Hello", "body": "<p>Hi</p>"}, **values))

    def test_line_breaks_and_encoded_words_refused(self):
        account = self._connect(self._fresh_account())
        self.smtpd.clear()
        for field, value in (
                ("to", "victim@x.com\r\nBcc: evil@x.com"),
                ("to", "victim@x.com\nevil@x.com"),
                ("cc", "victim@x.com\rCc: evil@x.com"),
                ("bcc", "boss@x.com\r\nevil@x.com"),
                ("to", "=?utf-8?q?evil=40x.com?= <victim@x.com>"),
                ("to", "=?utf-8?b?ZXZpbEB4LmNvbQ==?=@x.com"),
        ):
            composer = self._composer(account, **{field: value})
            with self.assertRaises(UserError, msg=f"{field}={value!r}"):
                composer.action_send()
        self.assertFalse(self.smtpd.messages, "nothing left")

    def test_what_is_sent_is_what_is_shown(self):
        account = self._connect(self._fresh_account())
        self.smtpd.clear()
        composer = self._composer(account, to='"Doe, Jane" <jane@x.com>, bob@x.com',
                                  cc="Carl <carl@x.com>", bcc="boss@x.com")
        composer.action_send()
        self._run_mail_queue()
        [received] = self.smtpd.wait_for(1)
        self.assertEqual(received.rcpt_tos,
                         ["jane@x.com", "bob@x.com", "carl@x.com", "boss@x.com"])
        self.assertNotIn(b"boss@x.com", received.data)
