"""OAuth accounts end to end: the real redirect flow (our controllers) against a local
OAuth 2.0 server, XOAUTH2 IMAP from Dovecot (token introspection), XOAUTH2 SMTP,
revocation, re-connect."""

import urllib.parse

import requests
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged

from ..testkit.mail_servers import DovecotServer, SMTPTestServer
from ..testkit.oauth_server import OAuthTestServer
from .common import loopback_servers

OAUTH_USER = "olga@oauth.example"
PASSWORD_USER = "paul@oauth.example"
SHARED_STATE = ("_lock", "_clients", "_codes", "_access", "_refresh", "_grants",
                "_token_errors", "counters")


def message(subject, to=OAUTH_USER):
    return (f"From: Carla <carla@customer.example>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@customer.example>\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\nHello\r\n").encode()


@tagged("post_install", "-at_install")
class TestOAuthFlow(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        loopback_servers(cls)
        # msal needs HTTPS; Dovecot introspects over plain HTTP: one server state, two doors
        cls.oauth = OAuthTestServer(login_email=OAUTH_USER).start()
        cls.addClassCleanup(cls.oauth.stop)
        cls.twin = OAuthTestServer(tls=False)
        for attr in SHARED_STATE:
            setattr(cls.twin, attr, getattr(cls.oauth, attr))
        cls.twin.start()
        cls.addClassCleanup(cls.twin.stop)
        cls.dovecot = DovecotServer({PASSWORD_USER: "paul-pass"},
                                    oauth2_introspection_url=cls.twin.introspection_url)
        cls.dovecot.start()
        cls.addClassCleanup(cls.dovecot.stop)
        cls.dovecot.add_user(OAUTH_USER, "unused-password")
        cls.smtpd = SMTPTestServer({PASSWORD_USER: "paul-pass"},
                                   xoauth2_validator=cls.oauth.validator)
        cls.smtpd.start()
        cls.addClassCleanup(cls.smtpd.stop)
        icp = cls.env["ir.config_parameter"].sudo()
        endpoints = cls.oauth.google_endpoints()
        for key, value in {
            "google_client_id": cls.oauth.client_id,
            "google_client_secret": cls.oauth.client_secret,
            "google_auth_endpoint": endpoints["auth_endpoint"],
            "google_token_endpoint": endpoints["token_endpoint"],
            "google_revoke_endpoint": endpoints["revoke_endpoint"],
            "microsoft_client_id": cls.oauth.client_id,
            "microsoft_client_secret": cls.oauth.client_secret,
            "microsoft_authority_host": cls.oauth.base_url,
            "microsoft_tenant": "common",
            "ca_file": cls.oauth.cafile,
        }.items():
            icp.set_param(f"crm_inbox.{key}", value)
        cls.user = new_test_user(cls.env, login="crm_inbox_oauth", name="Olga OAuth",
                                 email=OAUTH_USER, groups="base.group_user")

    def _servers(self):
        return {
            "imap_host": self.dovecot.host, "imap_port": self.dovecot.imap_port,
            "imap_security": "none", "smtp_host": self.smtpd.host,
            "smtp_port": self.smtpd.port, "smtp_security": "none",
        }

    def _sign_in(self, wizard):
        """The browser's part: our start route, the provider's page, our callback."""
        start = self.url_open(f"/crm_inbox/oauth/start/{wizard.id}", allow_redirects=False)
        self.assertEqual(start.status_code, 303, start.text[:500])
        provider_url = start.headers["Location"]
        self.assertTrue(provider_url.startswith(self.oauth.base_url), provider_url)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(provider_url).query)
        self.assertEqual(query["code_challenge_method"], ["S256"])
        self.assertNotIn("code_verifier", provider_url)
        consent = requests.get(provider_url, allow_redirects=False, verify=self.oauth.cafile,
                               timeout=10)
        self.assertEqual(consent.status_code, 302, consent.text[:300])
        callback = urllib.parse.urlsplit(consent.headers["Location"])
        self.assertEqual(callback.path, f"/crm_inbox/oauth/{wizard.oauth_provider}/callback")
        return callback, self.url_open(f"{callback.path}?{callback.query}",
                                       allow_redirects=False)

    def _new_wizard(self, provider="google"):
        return self.env["crm.inbox.account.setup"].with_user(self.user).create(dict(
            self._servers(), email=OAUTH_USER, step="auth", detected=True,
            detect_source="mx", oauth_provider=provider))

    def _subjects(self, account):
        return sorted(self.env["crm.inbox.message"].search(
            [("account_id", "=", account.id)]).mapped("subject"))

    def test_google_account_end_to_end(self):
        self.authenticate("crm_inbox_oauth", "crm_inbox_oauth")
        self.dovecot.append(OAUTH_USER, "INBOX", message("before sign-in"))
        wizard = self._new_wizard("google")
        self.assertTrue(wizard.oauth_available)
        action = wizard.action_oauth_signin()
        self.assertEqual(action["url"], f"/crm_inbox/oauth/start/{wizard.id}")
        _callback, back = self._sign_in(wizard)
        self.assertEqual(back.status_code, 303)
        self.assertIn(f"crm_inbox_account_setup_action/{wizard.id}", back.headers["Location"])
        wizard.invalidate_recordset()
        self.assertEqual(wizard.step, "folders", wizard.error_message)
        account = wizard.account_id
        self.assertEqual((account.connection_type, account.state), ("google", "connected"))
        self.assertTrue(account.has_oauth_token)
        # tokens are readable by nobody through the ORM / RPC
        with self.assertRaises(AccessError):
            self.env["crm.inbox.account.secret"].with_user(self.user).search([])
        self.assertFalse(wizard.sudo().oauth_flow, "the flow is used once")
        # first sync through XOAUTH2 (Dovecot asks the OAuth server about the token)
        introspections = self.oauth.counters.introspect
        wizard.action_finish()
        self.assertEqual(self._subjects(account), ["before sign-in"])
        self.assertGreater(self.oauth.counters.introspect, introspections)

        # a reply goes out through XOAUTH2 SMTP
        with account._smtp_session() as smtp:
            smtp.send(message("Re: before sign-in", to="carla@customer.example"),
                      OAUTH_USER, ["carla@customer.example"])
        received = self.smtpd.wait_for(1)[-1]
        self.assertEqual(received.auth_login, OAUTH_USER)
        # the chatter's Send message leaves through the account's hidden server, XOAUTH2
        # too; Gmail files sent mail itself: no APPEND
        carla = self.env["res.partner"].create({"name": "Carla",
                                                "email": "carla@customer.example"})
        self.smtpd.clear()
        account.with_user(self.user).message_post(
            body="<p>via the chatter</p>", message_type="comment",
            subtype_xmlid="mail.mt_comment", partner_ids=[carla.id])
        self.env["mail.mail"].sudo().process_email_queue()
        [received] = self.smtpd.wait_for(1)
        self.assertEqual((received.auth_login, received.rcpt_tos),
                         (OAUTH_USER, ["carla@customer.example"]))
        self.assertIn(b"Reply-To: \"Olga OAuth\" <olga@oauth.example>", received.data)
        self.assertFalse(self.dovecot.messages(OAUTH_USER, "Sent"))

        # an expired access token is refreshed (rotated refresh token saved)
        secret = account._secret()
        old_refresh = secret.oauth_refresh_token
        account.sudo().oauth_token_expires = "2000-01-01 00:00:00"
        self.dovecot.append(OAUTH_USER, "INBOX", message("after refresh"))
        account._sync()
        secret.invalidate_recordset()
        self.assertNotEqual(secret.oauth_refresh_token, old_refresh)
        self.assertTrue(self.oauth.is_refresh_token_valid(secret.oauth_refresh_token))
        self.assertEqual(account.state, "connected")

        # a password account of another user keeps syncing through what follows
        other_user = new_test_user(self.env, login="crm_inbox_paul", email=PASSWORD_USER,
                                   groups="base.group_user")
        other = self.env["crm.inbox.account"].with_user(other_user).create(dict(
            self._servers(), email=PASSWORD_USER, imap_password="paul-pass"))
        other.action_test_connection()

        # revoking the grant on the server: authentication failed, owner told
        self.oauth.revoke_all(OAUTH_USER)
        self.dovecot.append(OAUTH_USER, "INBOX", message("while revoked"))
        self.dovecot.append(PASSWORD_USER, "INBOX", message("for paul", to=PASSWORD_USER))
        account.sudo().sync_next_attempt = False  # due for the cron (sync interval)
        self.env["crm.inbox.account"]._cron_sync_accounts()
        self.assertEqual(account.state, "auth_failed")
        self.assertIn("Google", account.last_error)
        self.assertIn("Re-connect", account.last_error)
        self.assertEqual(account.activity_ids.user_id, self.user)
        self.assertEqual(self._subjects(other), ["for paul"])
        self.assertEqual(other.state, "connected")
        # a failing access-token refresh is an authentication failure too
        account.sudo().oauth_token_expires = "2000-01-01 00:00:00"
        account._sync()
        self.assertEqual(account.state, "auth_failed")
        self.assertIn("refused the saved authorization", account.last_error)

        # Re-connect reopens the sign-in; sync resumes, nothing lost or duplicated
        action = account.with_user(self.user).action_reconnect()
        wizard = self.env["crm.inbox.account.setup"].browse(action["res_id"])
        self.assertEqual((wizard.step, wizard.oauth_provider, wizard.account_id),
                         ("auth", "google", account))
        self._sign_in(wizard)
        self.assertEqual(account.state, "connected", account.last_error)
        self.assertFalse(account.activity_ids)
        self.assertEqual(self._subjects(account),
                         ["after refresh", "before sign-in", "while revoked"])
        account._sync()
        self.assertEqual(len(self._subjects(account)), 3)

    def test_microsoft_account_through_msal(self):
        self.authenticate("crm_inbox_oauth", "crm_inbox_oauth")
        self.dovecot.append(OAUTH_USER, "INBOX", message("hello microsoft"))
        wizard = self._new_wizard("microsoft")
        callback, back = self._sign_in(wizard)
        self.assertEqual(back.status_code, 303)
        wizard.invalidate_recordset()
        self.assertEqual(wizard.step, "folders", wizard.error_message)
        account = wizard.account_id
        self.assertEqual(account.connection_type, "microsoft")
        self.assertTrue(account.oauth_signin_expires, "Entra ID sign-ins last 90 days")
        # the callback URL cannot be replayed, nor used from another session
        replay = self.url_open(f"{callback.path}?{callback.query}", allow_redirects=False)
        wizard.invalidate_recordset()
        self.assertIn("already used", wizard.error_message or "")
        self.assertEqual(replay.status_code, 303)
        self.authenticate("crm_inbox_oauth", "crm_inbox_oauth")  # a new session
        forged = self.url_open(f"{callback.path}?{callback.query}", allow_redirects=False)
        self.assertEqual(forged.status_code, 403)
        # an expiry warning before the sign-in fails
        account.sudo().oauth_signin_expires = "2000-01-01 00:00:00"
        self.env["crm.inbox.account"]._cron_warn_expiring_signins()
        self.assertTrue(account.oauth_expiry_warned)
        self.assertTrue(account.activity_ids.filtered(lambda a: "Sign in again" in a.summary))

    def test_declined_consent_opens_advanced_settings(self):
        self.authenticate("crm_inbox_oauth", "crm_inbox_oauth")
        self.oauth.authorize_error = "access_denied"
        try:
            wizard = self._new_wizard("google")
            self._sign_in(wizard)
        finally:
            self.oauth.authorize_error = ""
        wizard.invalidate_recordset()
        self.assertEqual(wizard.step, "advanced")
        self.assertIn("declined", wizard.error_message)
        self.assertEqual(wizard.imap_host, self.dovecot.host, "prefilled with what was found")
        self.assertFalse(wizard.account_id)

    def test_state_from_another_user_is_refused(self):
        self.authenticate("admin", "admin")
        wizard = self._new_wizard("google")
        response = self.url_open(f"/crm_inbox/oauth/start/{wizard.id}", allow_redirects=False)
        self.assertEqual(response.status_code, 404)
        response = self.url_open(f"/crm_inbox/oauth/google/callback?code=x&state={wizard.id}.a.b",
                                 allow_redirects=False)
        self.assertEqual(response.status_code, 403)
