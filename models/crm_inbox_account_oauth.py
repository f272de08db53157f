"""OAuth (Google, Microsoft) sign-in of inbox accounts, provider detection settings.

Tokens live on ``crm.inbox.account.secret`` (no access rights): nothing in the UI or
RPC can read them. The access token is refreshed before it expires, at a commit
boundary, and a rotated refresh token is committed at once (Entra ID invalidates the
old one as soon as it hands out the new one).
"""

import datetime
import logging

import dns.resolver
from odoo import api, fields, models
from odoo.exceptions import UserError

from ..engine import errors, oauth
from ..engine.discovery import DiscoveryConfig
from .crm_inbox_account import OAUTH_TYPES

_logger = logging.getLogger(__name__)

#: Refresh the access token when it expires within this many seconds.
REFRESH_MARGIN = 300
#: OAuth errors after which only a new sign-in helps (RFC 6749 5.2, OIDC).
REAUTH_ERRORS = frozenset({
    "invalid_grant", "interaction_required", "login_required", "consent_required",
    "access_denied", "missing_refresh_token",
})

PARAM_DEFAULTS = {
    "crm_inbox.ispdb_url": "https://autoconfig.thunderbird.net/v1.1",
    "crm_inbox.google_auth_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
    "crm_inbox.google_token_endpoint": "https://oauth2.googleapis.com/token",
    "crm_inbox.google_revoke_endpoint": "https://oauth2.googleapis.com/revoke",
    "crm_inbox.microsoft_authority_host": "https://login.microsoftonline.com",
    "crm_inbox.microsoft_tenant": "common",
}


def _truthy(value):
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


class CrmInboxAccount(models.Model):
    _inherit = "crm.inbox.account"

    connection_type = fields.Selection(
        selection_add=[
            ("google", "Sign in with Google"),
            ("microsoft", "Sign in with Microsoft"),
        ],
        ondelete={"google": "set default", "microsoft": "set default"},
    )
    oauth_token_expires = fields.Datetime(
        "Access token valid until", copy=False, readonly=True,
        help="The access token is renewed automatically a few minutes before this time.",
    )
    oauth_signin_expires = fields.Datetime(
        "Sign-in valid until", copy=False, readonly=True,
        help="When the provider will ask the owner to sign in again (set by the "
             "administrator's sign-in lifetime per provider); the owner is warned before.",
    )
    oauth_expiry_warned = fields.Boolean(copy=False, readonly=True)
    has_oauth_token = fields.Boolean(compute="_compute_has_oauth_token")

    @api.depends_context("uid")
    def _compute_has_oauth_token(self):
        secrets = self.env["crm.inbox.account.secret"].sudo().search(
            [("account_id", "in", self.ids)])
        by_account = {s.account_id.id: s for s in secrets}
        for account in self:
            secret = by_account.get(account.id)
            account.has_oauth_token = bool(secret and secret.oauth_refresh_token)

    # ------------------------------------------------------------------
    # configuration (ir.config_parameter, see res.config.settings)
    # ------------------------------------------------------------------
    @api.model
    def _crm_inbox_param(self, key, default=None):
        """A ``crm_inbox.*`` system parameter, with this module's default."""
        value = self.env["ir.config_parameter"].sudo().get_param(key)
        if value in (None, False, ""):
            return PARAM_DEFAULTS.get(key, default)
        return value

    @api.model
    def _crm_inbox_ca_file(self):
        """CA bundle for HTTPS of detection and OAuth, or ``True`` (system CAs)."""
        return self._crm_inbox_param("crm_inbox.ca_file") or True

    @api.model
    def _discovery_config(self):
        """The engine's :class:`DiscoveryConfig` built from the Inbox settings."""
        param = self._crm_inbox_param
        resolver = None
        dns_server = (param("crm_inbox.dns_server") or "").strip()
        if dns_server:
            host, port = dns_server, 53
            if dns_server.startswith("["):  # [v6]:port
                host, _sep, rest = dns_server[1:].partition("]")
                port = int(rest.lstrip(":") or 53)
            elif dns_server.count(":") == 1:
                host, port = dns_server.split(":")
                port = int(port)
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [host]
            resolver.port = port
        extra_ports = frozenset(
            int(p) for p in (param("crm_inbox.discovery_allowed_ports") or "").split(",")
            if p.strip().isdigit()
        )
        allowed_hosts = frozenset(
            h.strip() for h in (param("crm_inbox.discovery_allowed_hosts") or "").split(",")
            if h.strip()
        )
        return DiscoveryConfig(
            ispdb_url=param("crm_inbox.ispdb_url"),
            timeout=float(param("crm_inbox.discovery_timeout") or 4.0),
            resolver=resolver,
            allow_private=_truthy(param("crm_inbox.allow_private_hosts")),
            https_port=int(param("crm_inbox.discovery_https_port") or 443),
            http_verify=self._crm_inbox_ca_file(),
            allowed_ports=extra_ports,
            allowed_hosts=allowed_hosts,
        )

    @api.model
    def _oauth_is_configured(self, provider):
        """Whether an administrator entered the client ID and secret of *provider*."""
        param = self._crm_inbox_param
        return bool(param(f"crm_inbox.{provider}_client_id")
                    and param(f"crm_inbox.{provider}_client_secret"))

    @api.model
    def _oauth_client_config(self, provider):
        """The engine's :class:`OAuthClientConfig` of *provider* from the settings.

        :raises UserError: the administrator has not configured this provider.
        """
        param = self._crm_inbox_param
        name = {"google": "Google", "microsoft": "Microsoft"}.get(provider, provider)
        if provider not in OAUTH_TYPES or not self._oauth_is_configured(provider):
            raise UserError(self.env._(
                "Sign-in with %(provider)s is not set up: an administrator must enter its "
                "client ID and secret in Inbox > Configuration > Settings. Meanwhile, connect "
                "with a password (an app password for most providers).", provider=name))
        common = {
            "timeout": float(param("crm_inbox.oauth_timeout") or 10.0),
            "verify": self._crm_inbox_ca_file(),
        }
        client_id = param(f"crm_inbox.{provider}_client_id")
        client_secret = param(f"crm_inbox.{provider}_client_secret")
        if provider == "google":
            return oauth.google_config(
                client_id, client_secret,
                auth_endpoint=param("crm_inbox.google_auth_endpoint"),
                token_endpoint=param("crm_inbox.google_token_endpoint"),
                revoke_endpoint=param("crm_inbox.google_revoke_endpoint"),
                **common,
            )
        return oauth.microsoft_config(
            client_id, client_secret,
            tenant=param("crm_inbox.microsoft_tenant"),
            authority_host=param("crm_inbox.microsoft_authority_host"),
            **common,
        )

    def _oauth_signin_lifetime(self):
        """Days a sign-in lasts at this provider (0: unknown, no warning)."""
        self.ensure_one()
        return int(self._crm_inbox_param(
            f"crm_inbox.{self.connection_type}_signin_days") or 0)

    # ------------------------------------------------------------------
    # tokens
    # ------------------------------------------------------------------
    def _oauth_store_tokens(self, tokens, signed_in=False):
        """Save a :class:`~engine.oauth.TokenSet` on the secret row (sudo).

        :param signed_in: the tokens come from an interactive sign-in (restarts
            the sign-in lifetime and the expiry warning).
        """
        self.ensure_one()
        secret = self._secret()
        secret.write({
            "oauth_access_token": tokens.access_token,
            "oauth_refresh_token": tokens.refresh_token or secret.oauth_refresh_token,
        })
        vals = {"oauth_token_expires": datetime.datetime.fromtimestamp(
            tokens.expires_at, datetime.UTC).replace(tzinfo=None)}
        lifetime = self._oauth_signin_lifetime()
        if signed_in or (self.connection_type == "microsoft" and lifetime):
            # Entra ID refresh tokens live 90 days from their last use (rotation)
            vals["oauth_signin_expires"] = (
                fields.Datetime.now() + datetime.timedelta(days=lifetime) if lifetime else False)
            vals["oauth_expiry_warned"] = False
        self.sudo().write(vals)

    def _oauth_access_token(self):
        """A live access token, refreshed first when it expires within 5 minutes.

        The refresh happens under a row lock on the secret, and the new tokens
        (Microsoft rotates the refresh token) are committed at once, outside any
        transaction that could later roll back — unless the caller set the context
        key ``crm_inbox_no_commit`` (inside a savepoint) or a test runs.

        :raises errors.AuthenticationFailed: the sign-in was revoked or expired:
            only a new sign-in helps.
        :raises errors.OAuthError: other refusals (e.g. client misconfigured).
        :raises errors.ConnectFailed: the token endpoint is unreachable.
        """
        self.ensure_one()
        secret = self._secret()
        deadline = fields.Datetime.now() + datetime.timedelta(seconds=REFRESH_MARGIN)
        if secret.oauth_access_token and self.oauth_token_expires \
                and self.oauth_token_expires > deadline:
            return secret.oauth_access_token
        # one refresh at a time: a second worker would use an already rotated token
        self.env.cr.execute(
            "SELECT id FROM crm_inbox_account_secret WHERE id = %s FOR UPDATE", (secret.id,))
        secret.invalidate_recordset(["oauth_access_token", "oauth_refresh_token"])
        self.invalidate_recordset(["oauth_token_expires"])
        if secret.oauth_access_token and self.oauth_token_expires \
                and self.oauth_token_expires > deadline:
            return secret.oauth_access_token
        if not secret.oauth_refresh_token:
            raise errors.AuthenticationFailed(
                "no OAuth sign-in stored", protocol="oauth", step="refresh")
        config = self._oauth_client_config(self.connection_type)
        try:
            tokens = oauth.refresh(config, secret.oauth_refresh_token)
        except errors.OAuthError as exc:
            if exc.error in REAUTH_ERRORS or "AADSTS" in f"{exc.error} {exc.description}":
                raise errors.AuthenticationFailed(
                    f"the sign-in was refused: {exc.error}", protocol="oauth",
                    step="refresh",
                    hint=oauth.error_fix_code(self.connection_type, exc.error,
                                              exc.description),
                ) from exc
            raise
        self._oauth_store_tokens(tokens)
        if self._auto_commit() and not self.env.context.get("crm_inbox_no_commit"):
            # rotated refresh token
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return tokens.access_token

    # ------------------------------------------------------------------
    # re-connect and expiry warnings
    # ------------------------------------------------------------------
    @api.model
    def action_open_setup(self):
        """Accounts > New: the setup wizard."""
        return self.env["crm.inbox.account.setup"].action_open()

    def _oauth_revoke(self):
        """Revoke the stored grant at the provider (best effort) and forget the tokens."""
        for account in self:
            secret = account._secret()
            token = secret.oauth_refresh_token or secret.oauth_access_token
            if token and account.connection_type in OAUTH_TYPES:
                try:
                    oauth.revoke(account._oauth_client_config(account.connection_type), token)
                except (errors.EngineError, UserError) as exc:
                    _logger.info("crm_inbox: revoking the token of account %s failed: %s",
                                 account.id, exc)
            secret.write({"oauth_access_token": False, "oauth_refresh_token": False})

    def unlink(self):
        self.filtered(lambda a: a.connection_type in OAUTH_TYPES)._oauth_revoke()
        return super().unlink()

    @api.model
    def _cron_warn_expiring_signins(self):
        """Scheduled action: warn owners whose sign-in expires within the warning delay
        (setting, 7 days by default), once per sign-in."""
        days = int(self._crm_inbox_param("crm_inbox.signin_warning_days") or 7)
        limit = fields.Datetime.now() + datetime.timedelta(days=days)
        accounts = self.sudo().search([
            ("connection_type", "in", OAUTH_TYPES),
            ("state", "in", ("connected", "error")),
            ("oauth_signin_expires", "!=", False),
            ("oauth_signin_expires", "<=", limit),
            ("oauth_expiry_warned", "=", False),
        ])
        for account in accounts:
            account._warn_signin_expiry()
        return True

    def _warn_signin_expiry(self):
        self.ensure_one()
        when = fields.Datetime.to_string(self.oauth_signin_expires)[:10]
        message = self.env._("The sign-in of your mailbox %(email)s expires on %(date)s: click "
                    "Re-connect on the account and sign in again to keep it syncing.",
                    email=self.email, date=when)
        self._notify_owner(
            message,
            summary=self.env._("Sign in again to %(email)s", email=self.email),
            title=self.env._("Mailbox %(email)s: sign-in expires soon", email=self.email),
            level="warning", deadline=self.oauth_signin_expires.date())
        self.oauth_expiry_warned = True

    def _mark_reconnected(self):
        """After a successful re-connect: close the re-connect activities."""
        self.ensure_one()
        warning = self.env.ref("mail.mail_activity_data_warning", raise_if_not_found=False)
        activities = self.sudo().activity_ids.filtered(
            lambda a: a.activity_type_id == warning and a.user_id == self.user_id)
        if activities:
            activities.action_feedback(feedback=self.env._("Re-connected."))
