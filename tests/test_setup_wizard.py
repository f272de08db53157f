"""The setup wizard against real local DNS, HTTPS (autoconfig, ISPDB), Dovecot and SMTP."""

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..engine.providers import PROVIDERS
from ..testkit.net_servers import DNSTestServer, HTTPTestServer
from .common import OWNER, CrmInboxCase, MailServersMixin

LOOPBACK = {"A": ["127.0.0.1"]}


def client_config(imap, smtp, name="Acme Mail"):
    """A Thunderbird clientConfig v1.1 document."""
    def server(kind, tag, host, port, socket_type, username):
        return (f'<{tag} type="{kind}"><hostname>{host}</hostname><port>{port}</port>'
                f"<socketType>{socket_type}</socketType><username>{username}</username>"
                f"<authentication>password-cleartext</authentication></{tag}>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><clientConfig version="1.1">'
            f'<emailProvider id="x"><domain>x</domain><displayName>{name}</displayName>'
            + server("imap", "incomingServer", *imap)
            + server("smtp", "outgoingServer", *smtp)
            + "</emailProvider></clientConfig>")


class SetupCase(CrmInboxCase):
    """Adds a local DNS server and a local HTTPS server, and points the settings at them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dns = DNSTestServer({"localhost": LOOPBACK})
        cls.dns.start()
        cls.addClassCleanup(cls.dns.close)
        cls.web = HTTPTestServer({}, hostnames=["autoconfig.acme.test", "ispdb.test",
                                                "autoconfig.local.test"])
        cls.web.start()
        cls.addClassCleanup(cls.web.close)
        cls.dns.zone.update({"autoconfig.acme.test": LOOPBACK, "ispdb.test": LOOPBACK,
                             "autoconfig.local.test": LOOPBACK})
        icp = cls.env["ir.config_parameter"].sudo()
        icp.set_param("crm_inbox.dns_server", f"127.0.0.1:{cls.dns.port}")
        icp.set_param("crm_inbox.discovery_https_port", str(cls.web.port))
        icp.set_param("crm_inbox.ca_file", cls.web.cafile)
        icp.set_param("crm_inbox.ispdb_url", f"https://ispdb.test:{cls.web.port}/v1.1")
        icp.set_param("crm_inbox.allow_private_hosts", "True")
        icp.set_param("crm_inbox.discovery_timeout", "1")
        icp.set_param("crm_inbox.discovery_allowed_ports",
                      f"{cls.dovecot.imap_port},{cls.smtpd.port}")
        # the servers of local.test are the fixture Dovecot and SMTP server
        cls.web.routes["autoconfig.local.test/mail/config-v1.1.xml"] = (200, client_config(
            ("localhost", cls.dovecot.imap_port, "plain", "%EMAILADDRESS%"),
            ("localhost", cls.smtpd.port, "plain", "%EMAILADDRESS%"), name="Local Mail"))

    def _wizard(self, email, user=None, **values):
        user = user or self.user
        return self.env["crm.inbox.account.setup"].with_user(user).create(
            dict(values, email=email))

    def _local_mailbox(self, local="anna"):
        MailServersMixin._mailbox_seq += 1
        email = f"{local}{MailServersMixin._mailbox_seq}@local.test"
        password = f"pw-{MailServersMixin._mailbox_seq}"
        self.dovecot.add_user(email, password)
        self.smtpd.users[email] = password
        return email, password


@tagged("post_install", "-at_install")
class TestSetupWizard(SetupCase):

    def test_every_built_in_provider_is_prefilled_with_its_source(self):
        queries = len(self.dns.queries)
        for provider in PROVIDERS:
            if not provider.domains:
                continue
            with self.subTest(provider=provider.key):
                wizard = self._wizard(f"jane@{provider.domains[0]}")
                wizard.action_detect()
                self.assertEqual(wizard.detect_source, "known_provider")
                self.assertEqual(wizard.detect_provider, provider.name)
                self.assertIn(provider.key, wizard.detect_source_detail)
                self.assertEqual(wizard.oauth_provider or "", provider.oauth_provider)
                if provider.imap is None:  # Proton Mail: only a note (Bridge)
                    self.assertEqual(wizard.step, "advanced")
                    self.assertIn("Bridge", wizard.error_message)
                    continue
                self.assertEqual(wizard.step, "auth")
                self.assertEqual((wizard.imap_host, wizard.imap_port, wizard.imap_security),
                                 (provider.imap.host, provider.imap.port,
                                  provider.imap.security))
                self.assertEqual((wizard.smtp_host, wizard.smtp_port, wizard.smtp_security),
                                 (provider.smtp.host, provider.smtp.port,
                                  provider.smtp.security))
        self.assertEqual(len(self.dns.queries), queries, "the table needs no network")

    def test_domain_served_only_by_autoconfig(self):
        self.web.routes["autoconfig.acme.test/mail/config-v1.1.xml"] = (200, client_config(
            ("imap.acme.test", 993, "SSL", "%EMAILLOCALPART%"),
            ("smtp.acme.test", 587, "STARTTLS", "%EMAILADDRESS%")))
        self.dns.zone.update({"imap.acme.test": LOOPBACK, "smtp.acme.test": LOOPBACK})
        wizard = self._wizard("anna@acme.test")
        wizard.action_detect()
        self.assertEqual((wizard.step, wizard.detect_source), ("auth", "autoconfig"))
        self.assertEqual(wizard.detect_source_detail,
                         f"https://autoconfig.acme.test:{self.web.port}/mail/config-v1.1.xml"
                         "?emailaddress=anna%40acme.test")
        self.assertEqual(wizard.detect_provider, "Acme Mail")
        self.assertFalse(wizard.detect_trusted)
        self.assertEqual((wizard.imap_host, wizard.imap_port, wizard.imap_security,
                          wizard.imap_username), ("imap.acme.test", 993, "ssl", "anna"))
        self.assertEqual((wizard.smtp_host, wizard.smtp_port, wizard.smtp_security,
                          wizard.smtp_username),
                         ("smtp.acme.test", 587, "starttls", "anna@acme.test"))

    def test_domain_served_only_by_the_ispdb(self):
        self.web.routes["ispdb.test/v1.1/isp.test"] = (200, client_config(
            ("mx.isp.test", 993, "SSL", "%EMAILADDRESS%"),
            ("mx.isp.test", 465, "SSL", "%EMAILADDRESS%"), name="ISP"))
        self.dns.zone["mx.isp.test"] = LOOPBACK
        wizard = self._wizard("carl@isp.test")
        wizard.action_detect()
        self.assertEqual((wizard.detect_source, wizard.detect_provider), ("ispdb", "ISP"))
        self.assertEqual(wizard.detect_source_detail,
                         f"https://ispdb.test:{self.web.port}/v1.1/isp.test")
        self.assertEqual((wizard.imap_host, wizard.smtp_port), ("mx.isp.test", 465))

    def test_domain_served_only_by_srv_records(self):
        self.dns.zone.update({
            "_imaps._tcp.srv.test": {"SRV": ["0 1 993 imap.srv.test."]},
            "_submission._tcp.srv.test": {"SRV": ["0 1 587 smtp.srv.test."]},
            "imap.srv.test": LOOPBACK, "smtp.srv.test": LOOPBACK,
        })
        wizard = self._wizard("dora@srv.test")
        wizard.action_detect()
        self.assertEqual((wizard.step, wizard.detect_source), ("auth", "srv"))
        self.assertEqual(wizard.detect_source_detail,
                         "_imaps._tcp.srv.test SRV 0 1 993 imap.srv.test.; "
                         "_submission._tcp.srv.test SRV 0 1 587 smtp.srv.test.")
        self.assertEqual((wizard.imap_host, wizard.imap_port, wizard.imap_security),
                         ("imap.srv.test", 993, "ssl"))
        self.assertEqual((wizard.smtp_host, wizard.smtp_port, wizard.smtp_security),
                         ("smtp.srv.test", 587, "starttls"))

    def test_domain_served_only_by_mx_records(self):
        self.dns.zone["hosted.test"] = {"MX": ["1 aspmx.l.google.com."]}
        self.dns.zone["contoso.test"] = {"MX": ["0 contoso-test.mail.protection.outlook.com."]}
        wizard = self._wizard("eve@hosted.test")
        wizard.action_detect()
        self.assertEqual((wizard.detect_source, wizard.oauth_provider), ("mx", "google"))
        self.assertEqual(wizard.detect_source_detail, "MX hosted.test 1 aspmx.l.google.com.")
        self.assertEqual(wizard.imap_host, "imap.gmail.com")
        self.assertTrue(wizard.detect_trusted)
        wizard = self._wizard("bob@contoso.test")
        wizard.action_detect()
        self.assertEqual((wizard.detect_source, wizard.oauth_provider), ("mx", "microsoft"))
        self.assertEqual(wizard.imap_host, "outlook.office365.com")
        # no client ID configured: sign-in is not offered, the password is
        self.assertFalse(wizard.oauth_available)
        with self.assertRaisesRegex(UserError, "Sign-in with Microsoft is not set up"):
            wizard.action_oauth_signin()

    def test_nothing_found_opens_advanced_settings_prefilled(self):
        wizard = self._wizard("zoe@nowhere.test")
        wizard.action_detect()
        self.assertEqual(wizard.step, "advanced")
        self.assertIn("could not be found automatically", wizard.error_message)
        self.assertIn("autoconfig:", wizard.detect_tried)
        self.assertEqual((wizard.imap_host, wizard.smtp_host, wizard.imap_username),
                         ("imap.nowhere.test", "smtp.nowhere.test", "zoe@nowhere.test"))

    def test_invalid_address(self):
        wizard = self._wizard("not an address")
        with self.assertRaisesRegex(UserError, "not a valid email address"):
            wizard.action_detect()

    def test_prefilled_with_own_address_and_warns_on_another(self):
        Setup = self.env["crm.inbox.account.setup"].with_user(self.user)
        wizard = Setup.create({})
        self.assertEqual(wizard.email, OWNER)
        self.assertFalse(wizard.email_warning)
        wizard.email = "someone.else@example.com"
        self.assertIn("not your own address", wizard.email_warning)
        self.assertFalse(wizard.can_share)

    def test_shared_only_for_inbox_administrators(self):
        wizard = self._wizard("team@local.test", account_type="shared")
        with self.assertRaises(AccessError):
            wizard.action_detect()
        self.user.groups_id += self.env.ref("crm_inbox.group_crm_inbox_manager")
        email, password = self._local_mailbox("team")
        wizard = self._wizard(email, account_type="shared")
        self.assertTrue(wizard.can_share)
        wizard.action_detect()
        wizard.password = password
        wizard.action_connect()
        self.assertEqual(wizard.account_id.account_type, "shared")

    def test_from_address_to_first_sync(self):
        email, password = self._local_mailbox()
        self.dovecot.append(email, "INBOX", (
            f"From: Carla <carla@customer.example>\r\nTo: {email}\r\n"
            "Subject: First synced message\r\nMessage-ID: <first@customer.example>\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\nHello!\r\n").encode())
        wizard = self._wizard(email, sync_from="6m")
        wizard.action_detect()
        self.assertEqual((wizard.step, wizard.detect_source, wizard.detect_provider),
                         ("auth", "autoconfig", "Local Mail"))
        self.assertEqual((wizard.imap_host, wizard.imap_port, wizard.imap_security),
                         ("localhost", self.dovecot.imap_port, "none"))
        with self.assertRaisesRegex(UserError, "Enter the password"):
            wizard.action_connect()
        wizard.password = password
        wizard.action_connect()
        self.assertEqual(wizard.step, "folders")
        self.assertFalse(wizard.password, "the typed password does not stay on the wizard")
        account = wizard.account_id
        self.assertEqual((account.state, account.user_id, account.sync_from),
                         ("connected", self.user, "6m"))
        self.assertTrue(account.has_imap_password)
        self.assertEqual(set(wizard.folder_ids.filtered("sync_enabled").mapped("special_use")),
                         {"\\Inbox", "\\Sent"})
        # pick folders: Archive too
        wizard.folder_ids.filtered(lambda f: f.special_use == "\\Archive").sync_enabled = True
        action = wizard.action_finish()
        self.assertEqual(action["res_model"], "crm.inbox.conversation")
        messages = self.env["crm.inbox.message"].search([("account_id", "=", account.id)])
        self.assertEqual(messages.mapped("subject"), ["First synced message"])

    def test_wrong_password_opens_advanced_and_saves_nothing(self):
        email, _password = self._local_mailbox()
        wizard = self._wizard(email)
        wizard.action_detect()
        wizard.password = "wrong"
        wizard.action_connect()
        self.assertEqual(wizard.step, "advanced")
        self.assertIn("rejected the user name or password", wizard.error_message)
        self.assertFalse(wizard.account_id)
        self.assertFalse(self.env["crm.inbox.account"].search([("email", "=", email)]))
        # fixing the server settings in the advanced step works from there
        wizard.write({"password": _password})
        wizard.action_connect()
        self.assertEqual(wizard.account_id.state, "connected")

    def test_reconnect_password_account_resumes_sync_without_duplicates(self):
        email, password = self._local_mailbox()
        raw = ("From: x@customer.example\r\nTo: {to}\r\nSubject: {subject}\r\n"
               "Message-ID: <{subject}@customer.example>\r\n"
               "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\nbody\r\n")
        self.dovecot.append(email, "INBOX", raw.format(to=email, subject="one").encode())
        wizard = self._wizard(email)
        wizard.action_detect()
        wizard.password = password
        wizard.action_connect()
        wizard.action_finish()
        account = wizard.account_id
        # the password changes on the server: the next sync pauses the account
        self.dovecot.set_password(email, "new-password")
        self.smtpd.users[email] = "new-password"
        self.dovecot.append(email, "INBOX", raw.format(to=email, subject="two").encode())
        account._sync()
        self.assertEqual(account.state, "auth_failed")
        self.assertTrue(account.activity_ids)
        action = account.with_user(self.user).action_reconnect()
        self.assertEqual(action["res_model"], "crm.inbox.account.setup")
        wizard = self.env["crm.inbox.account.setup"].browse(action["res_id"])
        self.assertEqual((wizard.step, wizard.reconnect, wizard.account_id),
                         ("auth", True, account))
        wizard.with_user(self.user).write({"password": "new-password"})
        wizard.with_user(self.user).action_connect()
        self.assertEqual(account.state, "connected", (wizard.step, wizard.error_message,
                                                      account.last_error))
        self.assertFalse(account.activity_ids, "the re-connect activity is done")
        self.assertEqual(
            sorted(self.env["crm.inbox.message"].search(
                [("account_id", "=", account.id)]).mapped("subject")), ["one", "two"])
        account._sync()
        self.assertEqual(self.env["crm.inbox.message"].search_count(
            [("account_id", "=", account.id)]), 2)


@tagged("post_install", "-at_install")
class TestErrorTranslation(CrmInboxCase):
    """Provider errors become the fix the user must make."""

    def test_provider_errors_name_the_fix(self):
        from ..engine import errors

        Account = self.env["crm.inbox.account"]
        microsoft = Account.new({"connection_type": "microsoft", "name": "m",
                                 "imap_host": "outlook.office365.com"})
        msg = microsoft._explain_engine_error(errors.OAuthError(
            "refused", error="invalid_grant",
            description="AADSTS50076: Due to a configuration change made by your "
                        "administrator, you must use multi-factor authentication"), "oauth")
        self.assertIn("Sign-in with Microsoft failed", msg)
        self.assertIn("multi-factor", msg.lower())
        google = Account.new({"connection_type": "google", "name": "g"})
        msg = google._explain_engine_error(errors.OAuthError(
            "refused", error="invalid_grant"), "oauth")
        self.assertIn("Google refused the saved authorization", msg)
        password = Account.new({"connection_type": "password", "name": "p",
                                "imap_host": "outlook.office365.com"})
        msg = password._explain_engine_error(errors.AuthenticationFailed(
            "NO IMAP is disabled for this user", protocol="imap"), "imap")
        self.assertIn("Manage email apps", msg)
        gmail = Account.new({"connection_type": "password", "name": "g",
                             "smtp_host": "smtp.gmail.com"})
        msg = gmail._explain_engine_error(errors.AuthenticationFailed(
            "534-5.7.9 Application-specific password required", protocol="smtp"), "smtp")
        self.assertIn("app password", msg)
