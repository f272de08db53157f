"""Setup wizard: from an e-mail address to a connected, syncing mailbox.

Step ``email``: the address, personal or shared, "sync emails from". Step ``auth``:
what detection found and where from, then the password or the OAuth sign-in. Step
``advanced``: every server setting, opened when detection or sign-in fails (prefilled
with whatever was found). Step ``folders``: pick the folders, then the first sync.
The same wizard re-connects an account whose sign-in failed (``account_id`` set).
"""

import json
import logging
import secrets

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import consteq

from ..engine import errors, oauth
from ..engine.discovery import detect
from ..engine.providers import default_port
from ..models.crm_inbox_account import SECURITY, SYNC_FROM

_logger = logging.getLogger(__name__)

STEPS = [
    ("email", "Email address"),
    ("auth", "Sign in"),
    ("advanced", "Advanced settings"),
    ("folders", "Folders"),
    ("forwarding", "Forwarding: outgoing server"),
    ("forwarding_done", "Forwarding: set the rule"),
]
SOURCES = [
    ("known_provider", "Built-in provider table"),
    ("autoconfig", "The domain's autoconfig file"),
    ("ispdb", "Thunderbird ISPDB"),
    ("srv", "DNS SRV records"),
    ("mx", "DNS MX records"),
    ("guess", "Guessed server names, confirmed by connecting"),
]
OAUTH_PROVIDERS = [("google", "Google"), ("microsoft", "Microsoft")]
STATE_SCOPE = "crm_inbox.oauth_state"


class CrmInboxAccountSetup(models.TransientModel):
    """Connect a mailbox: detection, sign-in or password, connection test, folders."""

    _name = "crm.inbox.account.setup"
    _description = "Connect a Mailbox"

    step = fields.Selection(STEPS, default="email", required=True)
    account_id = fields.Many2one("crm.inbox.account", readonly=True)
    reconnect = fields.Boolean(readonly=True)
    email = fields.Char(
        "Email Address", required=True,
        default=lambda self: self.env.user.email,
    )
    email_warning = fields.Char(compute="_compute_email_warning")
    account_type = fields.Selection(
        [("personal", "Personal"), ("shared", "Shared")], default="personal", required=True,
        help="Personal: only you see the mail. Shared (inbox administrators only): a team "
             "mailbox such as sales@ whose members see the mail.")
    can_share = fields.Boolean(compute="_compute_can_share")
    sync_from = fields.Selection(SYNC_FROM, "Sync emails from", default="1m", required=True)
    # what detection found
    detected = fields.Boolean(readonly=True)
    detect_source = fields.Selection(SOURCES, "Found in", readonly=True)
    detect_source_detail = fields.Char("Source", readonly=True)
    detect_provider = fields.Char("Provider", readonly=True)
    detect_notes = fields.Text("Notes", readonly=True)
    detect_trusted = fields.Boolean(readonly=True)
    detect_tried = fields.Text("Sources tried", readonly=True)
    oauth_provider = fields.Selection(OAUTH_PROVIDERS, "Sign-in", readonly=True)
    oauth_available = fields.Boolean(compute="_compute_oauth_available")
    connection_type = fields.Selection(
        [("password", "Password"), ("google", "Google"), ("microsoft", "Microsoft")],
        default="password", required=True)
    # servers (prefilled by detection, editable in the advanced step)
    imap_host = fields.Char("IMAP Server")
    imap_port = fields.Integer("IMAP Port", default=993)
    imap_security = fields.Selection(SECURITY, "IMAP Security", default="ssl", required=True)
    imap_username = fields.Char("User Name")
    smtp_host = fields.Char("SMTP Server")
    smtp_port = fields.Integer("SMTP Port", default=465)
    smtp_security = fields.Selection(SECURITY, "SMTP Security", default="ssl", required=True)
    smtp_username = fields.Char(
        "SMTP User Name", help="Empty: the same user name and password as for IMAP.")
    # typed passwords: write-only (never sent back by read/web_read/search_read);
    # kept server-side in the NO_ACCESS fields below until stored on the account
    password = fields.Char(
        compute="_compute_typed_passwords", inverse="_inverse_password",
        help="Write-only; cleared as soon as the account stores it.")
    smtp_password = fields.Char(
        "SMTP Password", compute="_compute_typed_passwords",
        inverse="_inverse_smtp_password")
    typed_password = fields.Char(groups=fields.NO_ACCESS, copy=False)
    typed_smtp_password = fields.Char(groups=fields.NO_ACCESS, copy=False)
    allow_self_signed = fields.Boolean("Allow self-signed certificate")
    error_message = fields.Text(readonly=True)
    # server-side OAuth flow (PKCE verifier, nonce): nobody reads it through RPC
    oauth_flow = fields.Text(groups=fields.NO_ACCESS, copy=False)
    forward_address = fields.Char(related="account_id.forward_address")
    forward_test_state = fields.Selection(related="account_id.forward_test_state")
    folder_ids = fields.One2many(related="account_id.folder_ids", readonly=False,
                                 compute_sudo=False)

    def _compute_typed_passwords(self):
        for wizard in self:
            wizard.password = False
            wizard.smtp_password = False

    def _inverse_password(self):
        for wizard in self:
            wizard.sudo().typed_password = wizard.password or False
        self.invalidate_recordset(["password"])

    def _inverse_smtp_password(self):
        for wizard in self:
            wizard.sudo().typed_smtp_password = wizard.smtp_password or False
        self.invalidate_recordset(["smtp_password"])

    def _typed(self):
        """The typed ``(password, smtp_password)`` (sudo: the only read path)."""
        self.ensure_one()
        wizard = self.sudo()
        return wizard.typed_password or "", wizard.typed_smtp_password or ""

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_account_writable(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._check_account_writable(vals)
        return super().write(vals)

    def _check_account_writable(self, vals):
        """A wizard only works on an account its user may change (no reading another
        account's folders through it)."""
        if vals.get("account_id") and not self.env.su:
            self.env["crm.inbox.account"].browse(vals["account_id"]).check_access("write")

    @api.depends("email")
    def _compute_email_warning(self):
        user_email = (self.env.user.email or "").strip().lower()
        for wizard in self:
            email = (wizard.email or "").strip().lower()
            wizard.email_warning = self.env._(
                "This is not your own address (%(mine)s). Connect it as a shared mailbox "
                "if a team reads it.", mine=self.env.user.email,
            ) if email and user_email and email != user_email else False

    def _compute_can_share(self):
        can = self.env.user.has_group("crm_inbox.group_crm_inbox_manager")
        for wizard in self:
            wizard.can_share = can

    @api.depends("oauth_provider")
    def _compute_oauth_available(self):
        Account = self.env["crm.inbox.account"]
        for wizard in self:
            wizard.oauth_available = bool(
                wizard.oauth_provider and Account._oauth_is_configured(wizard.oauth_provider))

    @api.onchange("imap_security")
    def _onchange_imap_security(self):
        self.imap_port = default_port("imap", self.imap_security, self.imap_port)

    @api.onchange("smtp_security")
    def _onchange_smtp_security(self):
        self.smtp_port = default_port("smtp", self.smtp_security, self.smtp_port)

    # ------------------------------------------------------------------
    # navigation
    # ------------------------------------------------------------------
    @api.model
    def action_open(self):
        """The wizard in a dialog (menu "Connect a mailbox", Accounts > New)."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Connect a mailbox"),
            "res_model": self._name,
            "view_mode": "form",
            "target": "new",
            "context": {"dialog_size": "medium"},
        }

    @api.model
    def action_open_inbox(self):
        """The Mail menu: the inbox client, or this wizard when the user has no mailbox."""
        if not self.env.company.crm_inbox_enabled:
            raise UserError(self.env._(
                "Integrated email is turned off for %(company)s: an administrator can turn "
                "it on in Settings > Inbox > Use integrated email.",
                company=self.env.company.name))
        if not self.env["crm.inbox.account"].search_count(
                [("user_id", "=", self.env.uid)], limit=1):
            return self.action_open()
        action = self.env["ir.actions.actions"]._for_xml_id("crm_inbox.crm_inbox_client_action")
        primary = self.env.user._crm_inbox_default_account()
        if primary:
            # the client opens on the primary account's Inbox
            action["context"] = {"crm_inbox_account_id": primary.id}
        return action

    def _reopen(self):
        self.ensure_one()
        if self.env.context.get("crm_inbox_setup_page"):
            # opened full page (back from the OAuth provider): reload it in place
            return {"type": "ir.actions.client", "tag": "soft_reload"}
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Re-connect a mailbox") if self.reconnect
            else self.env._("Connect a mailbox"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "context": {"dialog_size": "medium"},
        }

    def action_back(self):
        """Back to the first step."""
        self.write({"step": "email", "error_message": False})
        return self._reopen()

    def action_show_advanced(self):
        """Show every server setting."""
        self.write({"step": "advanced", "connection_type": "password"})
        return self._reopen()

    @api.model
    def _action_reconnect(self, account):
        """A wizard on the step that fixes *account*: the OAuth sign-in or the password."""
        wizard = self.create({
            "account_id": account.id,
            "reconnect": True,
            "step": "auth",
            "email": account.email,
            "account_type": account.account_type,
            "sync_from": account.sync_from,
            "detected": True,
            "connection_type": account.connection_type,
            "oauth_provider": account.connection_type
            if account.connection_type in ("google", "microsoft") else False,
            "imap_host": account.imap_host,
            "imap_port": account.imap_port,
            "imap_security": account.imap_security,
            "imap_username": account.imap_username,
            "smtp_host": account.smtp_host,
            "smtp_port": account.smtp_port,
            "smtp_security": account.smtp_security,
            "smtp_username": False if account.smtp_same_credentials else account.smtp_username,
            "allow_self_signed": account.allow_self_signed,
            "error_message": account.last_error,
        })
        return wizard._reopen()

    # ------------------------------------------------------------------
    # step 1 -> 2: detection
    # ------------------------------------------------------------------
    def action_detect(self):
        """Detect the servers of the address, then ask for the password or the sign-in."""
        self.ensure_one()
        self._check_account_type()
        email = (self.email or "").strip()
        values = {"email": email, "imap_username": email, "error_message": False,
                  "detected": False, "detect_source": False, "detect_source_detail": False,
                  "detect_provider": False, "detect_notes": False, "detect_tried": False,
                  "oauth_provider": False, "connection_type": "password"}
        config = self.env["crm.inbox.account"]._discovery_config()
        try:
            found = detect(email, config)
        except ValueError as exc:
            raise UserError(self.env._("“%(email)s” is not a valid email address: enter it as "
                              "name@domain.", email=email)) from exc
        except errors.DiscoveryFailed as exc:
            tried = getattr(exc, "tried", ()) or ()
            domain = email.rpartition("@")[2]
            values.update({
                "step": "advanced",
                "detect_tried": "\n".join(tried) or str(exc),
                "imap_host": self.imap_host or f"imap.{domain}",
                "smtp_host": self.smtp_host or f"smtp.{domain}",
                "error_message": self.env._("The settings of %(domain)s could not be found "
                                   "automatically. Enter the servers your provider gives "
                                   "(often in its help pages).", domain=domain),
            })
            self.write(values)
            return self._reopen()
        values.update({
            "step": "auth" if found.imap else "advanced",
            "detected": bool(found.imap),
            "detect_source": found.source,
            "detect_source_detail": found.source_detail,
            "detect_provider": found.provider_name,
            "detect_notes": "\n".join(found.notes) or False,
            "detect_trusted": found.trusted,
            "detect_tried": "\n".join(found.tried) or False,
            "oauth_provider": found.oauth_provider or False,
        })
        if found.imap:
            values.update({
                "imap_host": found.imap.host, "imap_port": found.imap.port,
                "imap_security": found.imap.security,
                "imap_username": found.imap.username or email,
            })
        if found.smtp:
            values.update({
                "smtp_host": found.smtp.host, "smtp_port": found.smtp.port,
                "smtp_security": found.smtp.security,
                "smtp_username": False if found.smtp.username in (
                    "", values["imap_username"]) else found.smtp.username,
            })
        if not found.imap:
            values["error_message"] = "\n".join(found.notes) or False
        self.write(values)
        return self._reopen()

    def _check_account_type(self):
        if self.account_type == "shared" and not self.env.user.has_group(
                "crm_inbox.group_crm_inbox_manager"):
            raise AccessError(self.env._(
                "Only inbox administrators connect shared mailboxes. Connect it as personal, "
                "or ask an administrator."))

    # ------------------------------------------------------------------
    # step 2/advanced -> 3: save and test with a password
    # ------------------------------------------------------------------
    def _account_values(self, connection_type):
        self.ensure_one()
        email = (self.email or "").strip()
        vals = {
            "email": email,
            "connection_type": connection_type,
            "imap_host": (self.imap_host or "").strip(),
            "imap_port": self.imap_port,
            "imap_security": self.imap_security,
            "imap_username": (self.imap_username or email).strip(),
            "smtp_host": (self.smtp_host or "").strip(),
            "smtp_port": self.smtp_port,
            "smtp_security": self.smtp_security,
            "smtp_same_credentials": connection_type != "password" or not self.smtp_username,
            "allow_self_signed": self.allow_self_signed,
        }
        if connection_type == "password" and self.smtp_username:
            vals["smtp_username"] = self.smtp_username.strip()
        if not self.account_id:
            vals.update({
                "name": email,
                "user_id": self.env.uid,
                "account_type": self.account_type,
                "sync_from": self.sync_from,
            })
        return vals

    def _save_account(self, vals):
        """Create the account, or update the one being re-connected."""
        if self.account_id:
            self.account_id.write(vals)
            return self.account_id
        account = self.env["crm.inbox.account"].create(vals)
        self.account_id = account
        return account

    def _test(self, account):
        """Test the connection; on success the account is connected and lists its folders."""
        account.with_context(crm_inbox_no_commit=True).action_test_connection()

    def action_connect(self):
        """Save the account with the password, test IMAP and SMTP, list the folders.

        A failure opens the Advanced settings step with the reason; nothing is saved.
        """
        self.ensure_one()
        self._check_account_type()
        password, smtp_password = self._typed()
        if not password and not (self.account_id and self.account_id.has_imap_password
                                 and self.account_id.connection_type == "password"):
            raise UserError(self.env._("Enter the password of %(email)s (for most providers "
                                       "with two-step verification: an app password).",
                                       email=self.email))
        vals = self._account_values("password")
        if password:
            vals["imap_password"] = password
        if self.smtp_username and smtp_password:
            vals["smtp_password"] = smtp_password
        had_account = self.account_id
        try:
            with self.env.cr.savepoint():
                account = self._save_account(vals)
                self._test(account)
        except (UserError, errors.EngineError) as exc:
            self.env.invalidate_all()
            self.write({"step": "advanced", "error_message": str(exc.args[0] if exc.args
                                                                  else exc),
                        "account_id": had_account.id})
            return self._reopen()
        return self._connected(account)

    # ------------------------------------------------------------------
    # forwarding (shared accounts): SMTP only, then the rule at the provider
    # ------------------------------------------------------------------
    def action_show_forwarding(self):
        """Connect a shared mailbox by forwarding instead of IMAP: ask for its SMTP server."""
        self.ensure_one()
        if self.account_type != "shared":
            raise UserError(self.env._("Forwarding is for shared mailboxes such as support@: "
                                       "choose Shared on the first step."))
        self.write({"step": "forwarding", "error_message": False})
        return self._reopen()

    def action_connect_forwarding(self):
        """Save the shared account in forwarding mode, test SMTP, create the receiving
        address, and show the rule to set at the provider. Nothing is saved on failure."""
        self.ensure_one()
        self._check_account_type()
        _password, smtp_password = self._typed()
        vals = self._account_values("forwarding")
        vals.update({"smtp_same_credentials": False,
                     "smtp_username": (self.smtp_username or self.email or "").strip()})
        if smtp_password:
            vals["smtp_password"] = smtp_password
        had_account = self.account_id
        try:
            with self.env.cr.savepoint():
                account = self._save_account(vals)
                self._test(account)
        except (UserError, ValidationError, errors.EngineError) as exc:
            self.env.invalidate_all()
            self.write({"step": "forwarding", "account_id": had_account.id,
                        "error_message": str(exc.args[0] if exc.args else exc)})
            return self._reopen()
        self.write({"step": "forwarding_done", "error_message": False})
        self.sudo().write({"typed_password": False, "typed_smtp_password": False})
        return self._reopen()

    def action_send_forwarding_test(self):
        """"Send a test email" of the last step (see the account's action)."""
        self.ensure_one()
        self.account_id.action_send_forwarding_test()
        return self._reopen()

    def _connected(self, account):
        """After a successful test: clear typed secrets, show the folders (or, when
        re-connecting, resume the sync where it stopped)."""
        self.write({"step": "folders", "error_message": False})
        self.sudo().write({"typed_password": False, "typed_smtp_password": False})
        if self.reconnect:
            account._mark_reconnected()
            return self.action_finish()
        return self._reopen()

    # ------------------------------------------------------------------
    # OAuth sign-in (controllers/main.py drives the browser redirects)
    # ------------------------------------------------------------------
    def action_oauth_signin(self):
        """Send the browser to the provider's sign-in page (through our start route)."""
        self.ensure_one()
        self._check_account_type()
        self.env["crm.inbox.account"]._oauth_client_config(self.oauth_provider)
        return {
            "type": "ir.actions.act_url",
            "url": f"/crm_inbox/oauth/start/{self.id}",
            "target": "self",
        }

    def _state_signature(self, nonce, session_id):
        return tools.misc.hmac(self.env(su=True), STATE_SCOPE,
                               (self.id, self.env.uid, session_id or "", nonce))

    def _oauth_redirect_uri(self, provider):
        return f"{self.get_base_url()}/crm_inbox/oauth/{provider}/callback"

    def _oauth_start(self, session_id):
        """Begin the sign-in: store the flow server-side, return the provider's URL.

        The ``state`` carries this wizard's id, a nonce and an HMAC of both with the
        user and the browser session: the callback accepts it only in the same session.
        """
        self.ensure_one()
        provider = self.oauth_provider
        config = self.env["crm.inbox.account"]._oauth_client_config(provider)
        nonce = secrets.token_urlsafe(16)
        state = f"{self.id}.{nonce}.{self._state_signature(nonce, session_id)}"
        try:
            url, flow = oauth.start_authorization(
                config, self._oauth_redirect_uri(provider), state,
                login_hint=(self.email or "").strip())
        except errors.EngineError as exc:
            raise UserError(self.env["crm.inbox.account"].new(
                {"connection_type": provider})._explain_engine_error(exc, "oauth")) from exc
        self.sudo().oauth_flow = json.dumps(flow)
        return url

    @api.model
    def _from_oauth_state(self, state, session_id):
        """The wizard a callback's ``state`` belongs to, or ``None`` when the state was
        not issued to this user in this session (constant-time check)."""
        wizard_id, _sep, rest = (state or "").partition(".")
        nonce, _sep, signature = rest.partition(".")
        if not wizard_id.isdigit() or not nonce or not signature:
            return None
        wizard = self.search([("id", "=", int(wizard_id))])  # own wizards only (rule)
        if not wizard or wizard.create_uid.id != self.env.uid:
            return None
        if not consteq(signature, wizard._state_signature(nonce, session_id)):
            return None
        return wizard

    def _oauth_finish(self, provider, params):
        """Complete the sign-in with the callback parameters: save the tokens on the
        account (created or re-connected), test IMAP and SMTP with XOAUTH2.

        A refused sign-in or connection opens the Advanced settings step with the fix.
        """
        self.ensure_one()
        Account = self.env["crm.inbox.account"]
        flow_text = self.sudo().oauth_flow
        self.sudo().oauth_flow = False  # one use only
        if provider != self.oauth_provider or not flow_text:
            self.write({"step": "auth", "error_message": self.env._(
                "This sign-in link was already used or belongs to another request. Start "
                "the sign-in again.")})
            return
        config = Account._oauth_client_config(provider)
        try:
            tokens = oauth.finish_authorization(config, json.loads(flow_text), params)
        except errors.EngineError as exc:
            message = Account.new({"connection_type": provider})._explain_engine_error(
                exc, "oauth")
            _logger.info("crm_inbox: %s sign-in of setup %s failed: %s", provider, self.id, exc)
            self.write({"step": "advanced", "connection_type": "password",
                         "error_message": message})
            return
        email = (self.email or "").strip()
        warning = False
        if tokens.email and tokens.email.lower() != email.lower():
            warning = self.env._("You signed in as %(signed)s, not %(email)s: the account uses the "
                        "address you signed in with.", signed=tokens.email, email=email)
            email = tokens.email
            self.email = email
            self.imap_username = email
        vals = self._account_values(provider)
        vals.update({"imap_username": email, "smtp_username": False})
        had_account = self.account_id
        try:
            with self.env.cr.savepoint():
                account = self._save_account(vals)
                account._oauth_store_tokens(tokens, signed_in=True)
                self._test(account)
        except (UserError, errors.EngineError) as exc:
            _logger.info("crm_inbox: connection test after the %s sign-in of setup %s "
                         "failed: %s", provider, self.id, exc)
            self.env.invalidate_all()
            self.write({"step": "advanced", "connection_type": "password",
                        "account_id": had_account.id,
                        "error_message": str(exc.args[0] if exc.args else exc)})
            return
        self._connected(account)
        if warning:
            self.error_message = warning

    # ------------------------------------------------------------------
    # step 3: folders, first sync
    # ------------------------------------------------------------------
    def action_finish(self):
        """Save the folder choice, sync the newest mail, then open the conversations.

        The first sync runs newest first: this request stores a first slice
        (``crm_inbox.first_slice_messages`` per folder, default 100, within
        ``crm_inbox.first_slice_time_budget`` seconds, default 3), so the user sees
        their latest mail at once; the scheduled action, triggered now, fills in
        the history backwards.
        """
        self.ensure_one()
        account = self.account_id
        if not account:
            raise UserError(self.env._("Connect the account first."))
        account.check_access("write")
        params = self.env["ir.config_parameter"].sudo()
        account._sync(max_messages=int(params.get_param("crm_inbox.first_slice_messages", 100)),
                      time_budget=float(params.get_param("crm_inbox.first_slice_time_budget", 3)))
        if account.state == "auth_failed":
            raise UserError(account.last_error)
        if account.sudo()._sync_unfinished():
            account._crm_inbox_trigger_runners()
        action = account.action_open_conversations()
        action["target"] = "main"
        return action
