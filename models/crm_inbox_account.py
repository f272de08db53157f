import contextlib
import logging
import threading
import time
import uuid

from dateutil.relativedelta import relativedelta
from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..engine import errors, oauth, sync
from ..engine.discovery import check_host_safe
from ..engine.imap import IMAPSession, IMAPSettings
from ..engine.providers import default_port
from ..engine.smtp import SMTPSession, SMTPSettings
from .crm_inbox_fixes import explain_fix

_logger = logging.getLogger(__name__)

#: Connection types that sign in with OAuth 2.0 (SASL XOAUTH2) instead of a password.
OAUTH_TYPES = ("google", "microsoft")
MANAGER_GROUP = "crm_inbox.group_crm_inbox_manager"
#: A stored secret is bound to its endpoint: changing one of these, in any state,
#: drops the password of that side (and OAuth tokens), unless a new password comes
#: in the same write; the account goes back to "Not connected". With shared
#: credentials (the IMAP password also logs in to SMTP), a change on either side
#: drops it. A manage member cannot point a stored password at another server.
IMAP_ENDPOINT_KEYS = ("email", "imap_host", "imap_port", "imap_security", "imap_username")
SMTP_ENDPOINT_KEYS = ("email", "smtp_host", "smtp_port", "smtp_security", "smtp_username",
                      "smtp_same_credentials")
SETUP_KEYS = tuple(dict.fromkeys(IMAP_ENDPOINT_KEYS + SMTP_ENDPOINT_KEYS))


class _NothingToSync(Exception):
    """No folder of the account is switched on (an account-level setting to fix)."""

SECURITY = [("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("none", "None (unencrypted)")]
SYNC_FROM = [
    ("now", "Now (new mail only)"),
    ("1m", "1 month ago"),
    ("3m", "3 months ago"),
    ("6m", "6 months ago"),
]
SYNC_FROM_MONTHS = {"now": 0, "1m": 1, "3m": 3, "6m": 6}
#: How long a sync lease is held before another worker may take it over (seconds);
#: the system parameter ``crm_inbox.sync_lease_seconds`` overrides it. A runner that
#: is killed holds its accounts at most this long. Keep it above the cron's time
#: budget (``crm_inbox.cron_time_budget``, 60 s) so a live run never loses its lease.
LEASE_SECONDS = 15 * 60


class CrmInboxAccount(models.Model):
    """A mailbox connected to Odoo: IMAP for reading, SMTP for sending."""

    _name = "crm.inbox.account"
    _description = "Inbox Account"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "sequence, name, id"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    email = fields.Char("Email Address", required=True, tracking=True)
    sender_name = fields.Char(
        help="Name shown to recipients in the From header; the owner's name when empty."
    )
    user_id = fields.Many2one(
        "res.users",
        string="Owner",
        required=True,
        default=lambda self: self.env.user,
        tracking=True,
        index=True,
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    account_type = fields.Selection(
        [("personal", "Personal"), ("shared", "Shared")],
        default="personal",
        required=True,
        help="Personal: only the owner sees the mail. Shared: the named members do.",
    )
    connection_type = fields.Selection(
        [("password", "IMAP/SMTP with password"),
         ("forwarding", "Forwarding to a receiving address")],
        default="password",
        required=True,
        help="Forwarding (shared accounts): the mailbox forwards its mail to an address "
             "generated on the database's alias domain; replies go out through SMTP.",
    )
    # incoming
    imap_host = fields.Char("IMAP Server")
    imap_port = fields.Integer("IMAP Port", default=993)
    imap_security = fields.Selection(SECURITY, "IMAP Security", default="ssl", required=True)
    imap_username = fields.Char(
        "IMAP User Name",
        help="Usually the email address; Exchange servers may need DOMAIN\\user.",
    )
    imap_password = fields.Char(
        "IMAP Password",
        compute="_compute_passwords",
        inverse="_inverse_imap_password",
        help="Write-only: the stored password is never sent back to the browser.",
    )
    has_imap_password = fields.Boolean(compute="_compute_has_secrets")
    # outgoing
    smtp_host = fields.Char("SMTP Server")
    smtp_port = fields.Integer("SMTP Port", default=465)
    smtp_security = fields.Selection(SECURITY, "SMTP Security", default="ssl", required=True)
    smtp_same_credentials = fields.Boolean(
        "Same credentials as incoming", default=True
    )
    smtp_username = fields.Char("SMTP User Name")
    smtp_password = fields.Char(
        "SMTP Password",
        compute="_compute_passwords",
        inverse="_inverse_smtp_password",
        help="Write-only: the stored password is never sent back to the browser.",
    )
    has_smtp_password = fields.Boolean(compute="_compute_has_secrets")
    allow_self_signed = fields.Boolean(
        "Allow self-signed certificate",
        help="Trust the certificate the server presents at the next connection test and "
        "pin its fingerprint; a different certificate later is refused. Off: certificates "
        "are verified against the system's authorities.",
    )
    imap_cert_fingerprint = fields.Char(
        "Pinned IMAP certificate (SHA-256)", copy=False, readonly=True
    )
    smtp_cert_fingerprint = fields.Char(
        "Pinned SMTP certificate (SHA-256)", copy=False, readonly=True
    )
    # sync
    sync_from = fields.Selection(
        SYNC_FROM, "Sync emails from", default="1m", required=True,
        help="How far back the first sync goes. Later syncs fetch everything new.",
    )
    sync_since = fields.Date(
        "Synced since", copy=False, readonly=True,
        help="First day imported, fixed when the account first syncs.",
    )
    sync_interval = fields.Integer(
        "Sync every (minutes)", default=5,
        help="How often the scheduled sync fetches this mailbox. The scheduler itself runs "
        "every 5 minutes, so shorter intervals are not useful.")
    create_partners = fields.Boolean(
        "Create contacts for unknown senders", default=True,
    )
    state = fields.Selection(
        [
            ("draft", "Not connected"),
            ("connected", "Connected"),
            ("error", "Error"),
            ("auth_failed", "Authentication failed"),
        ],
        default="draft",
        required=True,
        copy=False,
        tracking=True,
    )
    last_sync_date = fields.Datetime("Last sync", copy=False, readonly=True)
    last_error = fields.Text(copy=False, readonly=True)
    sync_lease_token = fields.Char(copy=False, readonly=True, groups="base.group_system")
    sync_lease_until = fields.Datetime(copy=False, readonly=True, groups="base.group_system")
    folder_ids = fields.One2many("crm.inbox.folder", "account_id", string="Folders")
    sync_in_progress = fields.Boolean(compute="_compute_sync_progress")
    sync_progress = fields.Char("Sync progress", compute="_compute_sync_progress",
                                help="Messages synced / messages on the server, synced folders.")
    message_count = fields.Integer(compute="_compute_message_count", string="Synced emails")
    conversation_count = fields.Integer(compute="_compute_message_count")

    _sql_constraints = [
        ("sync_interval_positive", "CHECK(sync_interval > 0)",
         "The sync interval must be at least one minute."),
        ("imap_port_range", "CHECK(imap_port >= 0 AND imap_port <= 65535)",
         "The IMAP port must be between 1 and 65535."),
        ("smtp_port_range", "CHECK(smtp_port >= 0 AND smtp_port <= 65535)",
         "The SMTP port must be between 1 and 65535."),
    ]

    # ------------------------------------------------------------------
    # secrets: stored on crm.inbox.account.secret, which has no access rights
    # ------------------------------------------------------------------
    def _compute_passwords(self):
        for account in self:
            account.imap_password = False
            account.smtp_password = False

    def _secret(self):
        """The secret row of this account (sudo): the only read path of passwords."""
        self.ensure_one()
        Secret = self.env["crm.inbox.account.secret"].sudo()
        secret = Secret.search([("account_id", "=", self.id)], limit=1)
        return secret or Secret.create({"account_id": self.id})

    def _inverse_imap_password(self):
        for account in self:
            if account.imap_password:
                account._secret().imap_password = account.imap_password
        # drop the typed value from the cache: not even the response to this save echoes it
        self.invalidate_recordset(["imap_password"])

    def _inverse_smtp_password(self):
        for account in self:
            if account.smtp_password:
                account._secret().smtp_password = account.smtp_password
        self.invalidate_recordset(["smtp_password"])

    @api.depends_context("uid")
    def _compute_has_secrets(self):
        secrets = self.env["crm.inbox.account.secret"].sudo().search(
            [("account_id", "in", self.ids)]
        )
        by_account = {s.account_id.id: s for s in secrets}
        for account in self:
            secret = by_account.get(account.id)
            account.has_imap_password = bool(secret and secret.imap_password)
            account.has_smtp_password = bool(secret and secret.smtp_password)

    def _compute_sync_progress(self):
        for account in self:
            folders = account.folder_ids.filtered("sync_enabled")
            done = sum(folders.mapped("message_count"))
            total = sum(folders.mapped("server_count"))
            account.sync_in_progress = account.state != "draft" and account._sync_unfinished()
            account.sync_progress = self.env._("%(done)s / %(total)s messages",
                                               done=done, total=total)

    def _sync_unfinished(self):
        """Whether a synced folder of this account still has a first pass to finish."""
        self.ensure_one()
        return not all(self.folder_ids.filtered("sync_enabled").mapped("sync_complete"))

    def _compute_message_count(self):
        messages = dict(
            self.env["crm.inbox.message"]._read_group(
                [("account_id", "in", self.ids)], ["account_id"], ["__count"]
            )
        )
        conversations = dict(
            self.env["crm.inbox.conversation"]._read_group(
                [("account_id", "in", self.ids)], ["account_id"], ["__count"]
            )
        )
        for account in self:
            account.message_count = messages.get(account, 0)
            account.conversation_count = conversations.get(account, 0)

    # ------------------------------------------------------------------
    # constraints and onchanges
    # ------------------------------------------------------------------
    @api.constrains("email")
    def _check_email(self):
        from ..engine.mime import normalize_email

        for account in self:
            if not normalize_email(account.email or "") or "@" not in account.email:
                raise ValidationError(
                    self.env._(
                        "“%(email)s” is not a valid email address: enter it as name@domain.",
                        email=account.email,
                    )
                )

    @api.constrains("imap_host", "smtp_host", "imap_username", "smtp_username", "sender_name")
    def _check_header_safe(self):
        for account in self:
            for value in (account.imap_host, account.smtp_host, account.imap_username,
                          account.smtp_username, account.sender_name, account.email):
                if value and any(c in value for c in "\r\n\0"):
                    raise ValidationError(
                        self.env._("Account “%(name)s”: settings may not contain line breaks.",
                                   name=account.name)
                    )

    @api.constrains("imap_host", "imap_port", "smtp_host", "smtp_port")
    def _check_server_addresses(self):
        """Manual servers are checked like detected ones, at save (and again at connect:
        a name that does not resolve now is accepted here)."""
        for account in self:
            for protocol in ("imap", "smtp"):
                if not (account[f"{protocol}_host"] or "").strip():
                    continue
                try:
                    account._vet_server(protocol)
                except errors.UnsafeHost as exc:
                    raise ValidationError(account._explain_engine_error(exc, protocol)) from exc
                except errors.EngineError:
                    continue  # unknown or unreachable name: refused at connect if unsafe

    @api.onchange("email")
    def _onchange_email(self):
        for account in self:
            if account.email and not account.imap_username:
                account.imap_username = account.email
            if account.email and not account.name:
                account.name = account.email

    @api.onchange("imap_security")
    def _onchange_imap_security(self):
        self.imap_port = default_port("imap", self.imap_security, self.imap_port)

    @api.onchange("smtp_security")
    def _onchange_smtp_security(self):
        self.smtp_port = default_port("smtp", self.smtp_security, self.smtp_port)

    @api.model_create_multi
    def create(self, vals_list):
        """Create accounts: shared ones by inbox administrators only, personal ones for
        oneself only, and only where the company uses integrated email.

        :raises AccessError: a shared account by a non-administrator, or a personal
            account for another user.
        :raises UserError: integrated email is off for the account's company.
        """
        if not self.env.su:
            is_manager = self.env.user.has_group(MANAGER_GROUP)
            for vals in vals_list:
                if vals.get("account_type") == "shared" and not is_manager:
                    raise AccessError(self.env._(
                        "Only inbox administrators can create shared accounts: ask one to "
                        "create it and add you as a member."))
                owner = vals.get("user_id", self.env.uid)
                if vals.get("account_type", "personal") == "personal" and owner != self.env.uid:
                    raise AccessError(self.env._(
                        "A personal account belongs to the user who connects it: the other "
                        "user connects it from their own Inbox."))
        for vals in vals_list:
            if vals.get("email"):
                vals.setdefault("imap_username", vals["email"])
                vals.setdefault("name", vals["email"])
        accounts = super().create(vals_list)
        for account in accounts:
            if not account.company_id.crm_inbox_enabled:
                raise UserError(self.env._(
                    "Integrated email is turned off for %(company)s: an administrator can "
                    "turn it on in Settings > Inbox.", company=account.company_id.name))
        return accounts

    # ------------------------------------------------------------------
    # engine settings: the one place that reads secrets
    # ------------------------------------------------------------------
    def _connect_timeout(self):
        """Seconds for the IMAP connect, TLS handshake and greeting:
        ``crm_inbox.connect_timeout`` (10), at most :meth:`_timeout`. A server that
        accepts and never greets holds a sync runner this long, not the read timeout."""
        params = self.env["ir.config_parameter"].sudo()
        return min(float(params.get_param("crm_inbox.connect_timeout", 10)), self._timeout())

    def _timeout(self):
        """Seconds for connects and reads: ``crm_inbox.timeout`` (30), at most
        ``crm_inbox.test_timeout`` (10) for *Test connection*."""
        params = self.env["ir.config_parameter"].sudo()
        timeout = float(params.get_param("crm_inbox.timeout", 30))
        if self.env.context.get("crm_inbox_connection_test"):
            timeout = min(timeout, float(params.get_param("crm_inbox.test_timeout", 10)))
        return timeout

    def _vet_server(self, protocol):
        """Resolve the IMAP or SMTP server once and check every address, like a
        detected server (:func:`engine.discovery.check_host_safe`): loopback, private,
        link-local and unspecified addresses are refused unless Settings > Inbox >
        "Allow private mail hosts" is on; cloud metadata addresses always are. Any
        port is accepted for a server entered by hand.

        :param protocol: ``"imap"`` or ``"smtp"``.
        :returns: the checked IP addresses (connect to one of them, not to the name).
        :raises errors.UnsafeHost: an address that is not allowed.
        :raises errors.UnknownHost: the name does not resolve.
        :raises errors.ConnectTimeout: the DNS lookup timed out (``step="dns"``).
        """
        self.ensure_one()
        host = (self[f"{protocol}_host"] or "").strip()
        port = self[f"{protocol}_port"]
        config = self._discovery_config()
        return check_host_safe(host, port, protocol, allow_private=config.allow_private,
                               resolver=config.resolver, allowed_ports=(port,),
                               allowed_hosts=config.allowed_hosts, timeout=config.timeout)

    def _get_server_settings(self, protocol):
        """Plain-value settings for the engine's IMAP or SMTP session (reads the password
        with sudo). OAuth accounts log in with XOAUTH2 as the IMAP user and a fresh access
        token (refreshed, and committed, when near expiry): the provider's SMTP takes the
        same token. With "same credentials", SMTP logs in with the IMAP user and password.

        :param protocol: ``"imap"`` or ``"smtp"``.
        :returns: ``engine.imap.IMAPSettings`` or ``engine.smtp.SMTPSettings`` connecting
            to the vetted address.
        :raises UserError: no server of that protocol, or a server that is not allowed.
        """
        self.ensure_one()
        host = (self[f"{protocol}_host"] or "").strip()
        if not host:
            raise UserError(
                self.env._("Account “%(name)s” has no %(proto)s server: fill in the "
                           "%(proto)s server in the Advanced settings.",
                           name=self.name, proto=protocol.upper())
            )
        address = self._vet_server(protocol)[0]
        secret = self._secret()
        imap_username = (self.imap_username or self.email).strip()
        if protocol == "imap" or (self.smtp_same_credentials
                                  and self.connection_type != "forwarding"):
            username, password = imap_username, secret.imap_password or ""
        else:
            username, password = (self.smtp_username or "").strip(), secret.smtp_password or ""
        access_token = ""
        if self.connection_type in OAUTH_TYPES:
            username, password, access_token = imap_username, "", self._oauth_access_token()
        settings_class = IMAPSettings if protocol == "imap" else SMTPSettings
        extra = {"connect_timeout": self._connect_timeout()} if protocol == "imap" else {}
        return settings_class(
            host=host,
            address=address,
            port=self[f"{protocol}_port"],
            security=self[f"{protocol}_security"],
            username=username,
            password=password,
            access_token=access_token,
            timeout=self._timeout(),
            allow_self_signed=self.allow_self_signed,
            pinned_fingerprint=self[f"{protocol}_cert_fingerprint"] or "",
            **extra,
        )

    def _get_imap_settings(self):
        """``engine.imap.IMAPSettings`` of this account: :meth:`_get_server_settings`."""
        return self._get_server_settings("imap")

    def _get_smtp_settings(self):
        """``engine.smtp.SMTPSettings`` of this account: :meth:`_get_server_settings`."""
        return self._get_server_settings("smtp")

    @contextlib.contextmanager
    def _imap_session(self):
        """An open ``engine.imap.IMAPSession`` of this account, inside one of its
        connection slots (``crm_inbox.max_connections_per_mailbox``,
        models/crm_inbox_account_runner.py); the sync holds its own slot for the whole
        run (context ``crm_inbox_mailbox_slot``).

        :raises engine.errors.MailboxBusy: every slot stayed taken for
            ``crm_inbox.mailbox_slot_wait`` seconds (5).
        :raises engine.errors.EngineError: as ``IMAPSession.open``.
        """
        held = self.env.context.get("crm_inbox_mailbox_slot")
        if not held:
            self._crm_inbox_wait_mailbox_slot()
        with IMAPSession(self._get_imap_settings()) as session:
            yield session

    def _smtp_session(self):
        return SMTPSession(self._get_smtp_settings())

    # ------------------------------------------------------------------
    # errors -> actionable messages (one place)
    # ------------------------------------------------------------------
    def _explain_engine_error(self, exc, protocol):
        """Translate an engine error into the sentence a user can act on.

        :param exc: an ``engine.errors.EngineError``.
        :param protocol: ``"imap"``, ``"smtp"`` or ``"oauth"`` (whose server is named).
        :returns: a translated message naming the failed step and the fix; for
            OAuth accounts, the sign-in problem and its fix instead of a password.
        """
        self.ensure_one()
        proto = protocol.upper()
        if protocol == "imap":
            host, port = self.imap_host, self.imap_port
        else:
            host, port = self.smtp_host, self.smtp_port
        detail = str(exc)
        provider = {"google": "Google", "microsoft": "Microsoft"}.get(self.connection_type, "")
        if isinstance(exc, errors.OAuthError):
            fix = explain_fix(self.env, oauth.error_fix_code(
                self.connection_type, exc.error, exc.description))
            return self.env._("Sign-in with %(provider)s failed (%(error)s). %(fix)s",
                     provider=provider, error=exc.error or detail, fix=fix)
        if self.connection_type in OAUTH_TYPES and isinstance(exc, errors.AuthenticationFailed):
            fix = explain_fix(self.env, getattr(exc, "hint", "")
                              or oauth.server_auth_fix_code(detail, host or ""))
            return self.env._("The sign-in with %(provider)s is no longer accepted (%(detail)s). "
                     "%(fix)s Click Re-connect and sign in again.",
                     provider=provider, detail=detail, fix=fix or "")
        if isinstance(exc, errors.UnsafeHost):
            msg = self.env._("%(proto)s: the server “%(host)s” is refused: %(detail)s. Enter your "
                    "provider's public server name; for a server on your own network an "
                    "administrator can turn on Settings > Inbox > Allow private mail hosts "
                    "(cloud metadata addresses are always refused).",
                    proto=proto, host=host, detail=detail)
        elif isinstance(exc, errors.UnknownHost):
            msg = self.env._("%(proto)s: the server name “%(host)s” does not exist. Check the spelling "
                    "of the server name.", proto=proto, host=host)
        elif isinstance(exc, errors.ConnectionRefused):
            msg = self.env._("%(proto)s: %(host)s refused the connection on port %(port)s. Check the "
                    "port number (IMAP: 993 for SSL/TLS, 143 for STARTTLS; SMTP: 465 for "
                    "SSL/TLS, 587 for STARTTLS) and that the server is running.",
                    proto=proto, host=host, port=port)
        elif isinstance(exc, errors.ConnectTimeout):
            msg = self.env._("%(proto)s: %(host)s did not answer on port %(port)s in time. Check the "
                    "server name and port, and that no firewall blocks the connection.",
                    proto=proto, host=host, port=port)
        elif isinstance(exc, errors.CertificateChanged):
            msg = self.env._("%(proto)s: %(host)s presented a different certificate from the one you "
                    "trusted. If the server's certificate was renewed on purpose, switch "
                    "“Allow self-signed certificate” off and on again, then test the connection.",
                    proto=proto, host=host)
        elif isinstance(exc, errors.CertificateUntrusted):
            msg = self.env._("%(proto)s: the certificate of %(host)s is not trusted (%(detail)s). If this "
                    "is your own server with a self-signed certificate, tick “Allow self-signed "
                    "certificate” and test again.", proto=proto, host=host, detail=detail)
        elif isinstance(exc, errors.TLSFailed):
            msg = self.env._("%(proto)s: the secure connection to %(host)s:%(port)s failed (%(detail)s). "
                    "Check that the security setting matches the port (SSL/TLS or STARTTLS).",
                    proto=proto, host=host, port=port, detail=detail)
        elif isinstance(exc, errors.AuthenticationFailed):
            msg = self.env._("%(proto)s: the server rejected the user name or password (%(detail)s). "
                    "Check them; some providers require an app password.",
                    proto=proto, detail=detail)
            code = getattr(exc, "hint", "") or oauth.server_auth_fix_code(detail, host or "")
            if code and code != "password_refused":  # the message above says it already
                msg += "\n" + explain_fix(self.env, code)
        elif isinstance(exc, errors.MailboxBusy):
            msg = self.env._("%(proto)s: %(count)s connections to %(email)s are open already "
                    "(syncs and colleagues' actions); try again in a moment. An administrator "
                    "sets the number in Settings > Inbox > Connections per mailbox.",
                    proto=proto, count=exc.limit, email=self.email)
        elif isinstance(exc, errors.Throttled):
            msg = self.env._("%(proto)s: %(host)s asks to come back later (%(detail)s). The "
                    "next attempt waits; nothing needs changing.",
                    proto=proto, host=host, detail=detail)
        elif isinstance(exc, errors.ConnectFailed):
            msg = self.env._("%(proto)s: the connection to %(host)s was lost (%(detail)s). It will be "
                    "retried at the next sync.", proto=proto, host=host, detail=detail)
        else:
            msg = self.env._("%(proto)s: %(detail)s", proto=proto, detail=detail)
        return msg

    # ------------------------------------------------------------------
    # actions
    # ------------------------------------------------------------------
    def action_test_connection(self):
        """Log in to IMAP and SMTP (sending nothing), list and store the folders.

        Connects and reads with the short ``crm_inbox.test_timeout`` (seconds, 10).
        """
        self.ensure_one()
        self.check_access("write")  # the stored password is sent only for who may change it
        self = self.with_context(crm_inbox_connection_test=True)  # noqa: PLW0642
        if self.connection_type == "forwarding":
            return self._crm_inbox_test_forwarding()
        settings = {}
        for protocol in ("imap", "smtp"):
            try:  # checking the host can fail (DNS, a refused address)
                settings[protocol] = self._get_server_settings(protocol)
            except errors.EngineError as exc:
                raise UserError(self._explain_engine_error(exc, protocol)) from exc
        try:
            probe = sync.probe_connection(settings["imap"], settings["smtp"])
        except errors.EngineError as exc:
            raise UserError(self._explain_engine_error(exc, exc.protocol)) from exc
        folders = probe.folders
        imap_fingerprint, smtp_fingerprint = probe.imap_fingerprint, probe.smtp_fingerprint
        vals = {"state": "connected", "last_error": False}
        if self.allow_self_signed:
            if imap_fingerprint and not self.imap_cert_fingerprint:
                vals["imap_cert_fingerprint"] = imap_fingerprint
            if smtp_fingerprint and not self.smtp_cert_fingerprint:
                vals["smtp_cert_fingerprint"] = smtp_fingerprint
        self.write(vals)
        self.env["crm.inbox.folder"].sudo()._update_from_server(self.sudo(), folders)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": self.env._("Connection successful"),
                "message": self.env._(
                    "IMAP and SMTP accepted the login. %(count)s folders found: choose the "
                    "ones to sync.", count=len(folders)
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    @api.onchange("allow_self_signed")
    def _onchange_allow_self_signed(self):
        if not self.allow_self_signed:
            self.imap_cert_fingerprint = False
            self.smtp_cert_fingerprint = False

    def write(self, vals):
        """Write, keeping each secret bound to its endpoint (see ``IMAP_ENDPOINT_KEYS``).

        Turning off "allow self-signed" forgets the pinned fingerprints.

        :raises AccessError: a non-administrator changes the account type, or
            anyone changes the owner of a personal account.
        """
        if "allow_self_signed" in vals and not vals["allow_self_signed"]:
            vals = dict(vals, imap_cert_fingerprint=False, smtp_cert_fingerprint=False)
        if not self.env.su:
            if "account_type" in vals and any(a.account_type != vals["account_type"] for a in self) \
                    and not self.env.user.has_group(MANAGER_GROUP):
                raise AccessError(self.env._(
                    "Only inbox administrators can turn a personal account into a shared one "
                    "or back."))
            if "user_id" in vals and any(
                    a.account_type == "personal" and a.user_id.id != vals["user_id"] for a in self):
                raise AccessError(self.env._(
                    "The owner of a personal account cannot be changed: its mail is private. "
                    "The new owner connects the mailbox from their own Inbox."))
        if not any(k in vals for k in SETUP_KEYS):
            return super().write(vals)
        drops = {}  # account -> secret fields to drop
        for account in self:
            def moved(keys, account=account):
                return any(k in vals and (vals[k] or False) != (account[k] or False)
                           for k in keys)
            imap_moved, smtp_moved = moved(IMAP_ENDPOINT_KEYS), moved(SMTP_ENDPOINT_KEYS)
            if not (imap_moved or smtp_moved):
                continue
            same = vals.get("smtp_same_credentials", account.smtp_same_credentials)
            drop = {"oauth_access_token", "oauth_refresh_token"}
            if imap_moved or (smtp_moved and same):
                drop.add("imap_password")
            if smtp_moved:
                drop.add("smtp_password")
            drops[account] = {f for f in drop if not vals.get(f)}
        if not drops:
            return super().write(vals)
        changed = self.browse([a.id for a in drops])
        reset = {"state": "draft", "imap_cert_fingerprint": False,
                 "smtp_cert_fingerprint": False}
        if self - changed:
            super(CrmInboxAccount, self - changed).write(vals)
        result = super(CrmInboxAccount, changed).write(dict(vals, **reset))
        # after the write (access checked, new passwords stored): drop the rest
        Secret = self.env["crm.inbox.account.secret"].sudo()
        for account, fields_to_drop in drops.items():
            secret = Secret.search([("account_id", "=", account.id)])
            if secret and fields_to_drop:
                secret.write(dict.fromkeys(fields_to_drop, False))
        changed.invalidate_recordset(["has_imap_password", "has_smtp_password"])
        return result


    def action_sync_now(self):
        """Sync now, in this request, for at most ``crm_inbox.sync_now_time_budget``
        seconds (default 20); a longer first sync goes on in the scheduled action, which
        is triggered at once."""
        self.ensure_one()
        if self.state == "disconnected":
            raise UserError(self.env._("%(email)s is disconnected: type the password and test "
                                       "the connection to re-connect it.", email=self.email))
        if self.state == "draft":
            raise UserError(self.env._("Test the connection first, then sync."))
        self.check_access("write")
        budget = float(self.env["ir.config_parameter"].sudo().get_param(
            "crm_inbox.sync_now_time_budget", 20))
        result = self._sync(time_budget=budget)
        if self.state in ("error", "auth_failed"):
            raise UserError(self.last_error)
        message = self.env._("%(count)s new messages.", count=result)
        if self.sudo()._sync_unfinished():
            self._crm_inbox_trigger_runners()
            message += " " + self.env._("The rest is synced in the background.")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": message,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_open_conversations(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_inbox.crm_inbox_conversation_action"
        )
        action["domain"] = [("account_id", "=", self.id)]
        action["context"] = {"search_default_account_id": self.id}
        return action

    def action_compose(self):
        self.ensure_one()
        return self.env["crm.inbox.compose"]._action_open({"default_account_id": self.id})

    # ------------------------------------------------------------------
    # sync
    # ------------------------------------------------------------------
    @api.model
    def _auto_commit(self):
        """Commit only outside tests (TransactionCase forbids commits)."""
        return not getattr(threading.current_thread(), "testing", False)

    def _acquire_lease(self):
        """Take this account's sync lease, or return ``None`` if another run holds it.

        A lease (token + expiry) rather than a row lock: the sync commits per
        batch, and every commit would release a lock.
        """
        self.ensure_one()
        token = uuid.uuid4().hex
        self.env.cr.execute(
            """
            UPDATE crm_inbox_account
               SET sync_lease_token = %s,
                   sync_lease_until = (now() AT TIME ZONE 'UTC') + %s * interval '1 second'
             WHERE id = %s
               AND (sync_lease_until IS NULL OR sync_lease_until < (now() AT TIME ZONE 'UTC'))
         RETURNING id
            """,
            (token, self._lease_seconds(), self.id),
        )
        if not self.env.cr.fetchone():
            return None
        self.invalidate_recordset(["sync_lease_token", "sync_lease_until"])
        if self._auto_commit():
            # make the lease visible
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return token

    @api.model
    def _lease_seconds(self):
        """The lease length in seconds: ``crm_inbox.sync_lease_seconds`` or
        :data:`LEASE_SECONDS`."""
        value = self.env["ir.config_parameter"].sudo().get_param("crm_inbox.sync_lease_seconds")
        try:
            return max(int(value), 1) if value else LEASE_SECONDS
        except ValueError:
            _logger.warning("crm_inbox: crm_inbox.sync_lease_seconds=%r is not a number of "
                            "seconds; using %s", value, LEASE_SECONDS)
            return LEASE_SECONDS

    def _release_lease(self, token):
        self.env.cr.execute(
            "UPDATE crm_inbox_account SET sync_lease_token = NULL, sync_lease_until = NULL "
            "WHERE id = %s AND sync_lease_token = %s",
            (self.id, token),
        )
        self.invalidate_recordset(["sync_lease_token", "sync_lease_until"])

    def _compute_sync_since(self):
        months = SYNC_FROM_MONTHS.get(self.sync_from, 1)
        today = fields.Date.context_today(self)
        return today - relativedelta(months=months) if months else today

    def _sync(self, max_messages=None, time_budget=None):
        """Sync every enabled folder of this account; return the number of new messages.

        Runs as superuser: rows are written by the system, access is checked by
        the callers (buttons check write access on the account). Errors never
        escape: they are recorded on the account (``state``, ``last_error``);
        an authentication failure pauses the account and tells its owner.
        Returns 0 when another run holds the lease.

        :param max_messages: at most this many messages per folder in this run
            (a long first sync proceeds in slices); ``None`` for no limit.
        :param time_budget: seconds after which no new batch starts (the
            cron's time limit must never be reached); ``None`` for no limit.
        """
        self.ensure_one()
        if self.sudo().state == "disconnected" or not self.sudo().company_id.crm_inbox_enabled:
            return 0
        if self.sudo().connection_type == "forwarding":
            return 0  # its mail arrives through the mail gateway (crm_inbox_forwarding.py)
        return self.sudo()._sync_as_system(max_messages, time_budget)

    def _sync_as_system(self, max_messages, time_budget, token=None):
        """:param token: the lease already taken by the caller (the scheduler's claim,
        models/crm_inbox_account_health.py); ``None``: take it here."""
        token = token or self._acquire_lease()
        if not token:
            _logger.info("crm_inbox: account %s is already syncing, skipped", self.id)
            return 0
        new = 0
        outcome = None
        slot = mailbox_slot = None
        try:
            slot = self._crm_inbox_take_host_slot()
            if slot is False:
                outcome = "no_slot"
                return 0
            mailbox_slot = self._crm_inbox_take_mailbox_slot(session=True)
            if mailbox_slot is False:
                _logger.info("crm_inbox: every connection slot of account %s is taken, "
                             "its sync waits", self.id)
                outcome = "no_slot"
                return 0
            if not self.sync_since:
                self.sync_since = self._compute_sync_since()
            deadline = time.monotonic() + time_budget if time_budget else None
            with self.with_context(crm_inbox_mailbox_slot=True)._imap_session() as session:
                if not self.with_context(active_test=False).folder_ids:
                    # connected without a folder list (a sign-in finished, Test connection
                    # never did): list them now, Inbox and Sent on by default
                    self.env["crm.inbox.folder"]._update_from_server(
                        self, sync.list_folders(session))
                folders = self.folder_ids.filtered("sync_enabled")
                if not folders:
                    raise _NothingToSync()
                for folder in folders:
                    new += folder._sync_folder_scoped(session, max_messages, deadline)
            self.write({
                "state": "connected",
                "last_error": False,
                "last_sync_date": fields.Datetime.now(),
            })
            outcome = True
        except _NothingToSync as exc:
            outcome = exc
            self.write({"state": "error", "last_sync_date": fields.Datetime.now(),
                        "last_error": self.env._(
                            "No folder of %(email)s is selected for sync: open the account "
                            "and switch on Sync for the folders to bring in (Inbox, Sent).",
                            email=self.email)})
        except errors.AuthenticationFailed as exc:
            outcome = exc
            if self._auto_commit():
                self.env.cr.rollback()
            self._set_auth_failed(self._explain_engine_error(exc, "imap"))
        except errors.EngineError as exc:
            outcome = exc
            if self._auto_commit():
                self.env.cr.rollback()
            _logger.warning("crm_inbox: sync of account %s failed: %s", self.id, exc)
            self.write({"state": "error", "last_error": self._explain_engine_error(exc, "imap"),
                        "last_sync_date": fields.Datetime.now()})
        finally:
            self._crm_inbox_release_host_slot(mailbox_slot)
            self._crm_inbox_release_host_slot(slot)
            # next attempt, failure count, stale warning (models/crm_inbox_account_health.py)
            self._crm_inbox_after_sync(outcome)
            self._release_lease(token)
            if self._auto_commit():
                # lease release, state
                self.env.cr.commit()  # pylint: disable=invalid-commit
        return new

    def _set_auth_failed(self, message):
        """Pause the account and tell its owner, with a way to re-connect."""
        self.ensure_one()
        was_failed = self.state == "auth_failed"
        self.write({"state": "auth_failed", "last_error": message,
                    "last_sync_date": fields.Datetime.now()})
        if was_failed:
            return
        self._notify_owner(
            message,
            summary=self.env._("Re-connect your mailbox %(email)s", email=self.email),
            title=self.env._("Mailbox %(email)s paused", email=self.email),
            level="danger")

    def _notify_owner(self, message, summary, title, level, deadline=None):
        """Tell the account's owner everywhere they look: a note on the account, a
        warning activity (with *deadline*, a date, when given) and a sticky
        notification in their open browsers.

        :param message: the sentence, with the fix (translated).
        :param summary: the activity's summary; :param title: the notification's title.
        :param level: notification type, ``"danger"`` or ``"warning"``.
        """
        self.ensure_one()
        self.message_post(body=message, subtype_xmlid="mail.mt_note")
        self.activity_schedule(
            "mail.mail_activity_data_warning",
            date_deadline=deadline,  # None: the activity type's own delay
            summary=summary,
            note=message,
            user_id=self.user_id.id,
        )
        self.user_id._bus_send("simple_notification", {
            "type": level, "title": title, "message": message, "sticky": True,
        })

    def action_reconnect(self):
        """Open the setup wizard on the step that fixes this account: the password, or
        the sign-in with Google / Microsoft.

        :raises AccessError: the user may not change the account.
        """
        self.ensure_one()
        self.check_access("write")
        return self.env["crm.inbox.account.setup"]._action_reconnect(self)

    @api.model
    def _cron_sync_accounts(self):
        """Scheduled action of every sync runner (``crm_inbox.sync_runners`` ir.cron
        records): claim due accounts one at a time, most overdue first, until none is
        left or the run's time budget is spent; one failure never stops the others.
        With OCA queue_job installed, enqueue one job per due account instead.
        See models/crm_inbox_account_runner.py."""
        return self._crm_inbox_run_sync()

    def _get_folder(self, special_use):
        self.ensure_one()
        return self.folder_ids.filtered(lambda f: f.special_use == special_use)[:1]
