import re
from email.utils import getaddresses

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..engine import errors
from ..engine.mime import normalize_email, parse_address_field


class CrmInboxIdentity(models.Model):
    """Another address an account sends as ("Send as": sales@ on a mailbox that receives
    it). The account's own address is the default identity (not a row).

    The mail still leaves through the account's SMTP server, authenticated as the
    account; the provider must allow sending as this address (Gmail "Send mail as",
    Microsoft 365 "Send As" permission), else it refuses or rewrites the From.
    """

    _name = "crm.inbox.identity"
    _description = "Inbox Send-as Identity"
    _order = "sequence, id"

    account_id = fields.Many2one("crm.inbox.account", required=True, ondelete="cascade",
                                 index=True)
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    email = fields.Char(required=True, help="The From address, e.g. sales@example.com.")
    email_normalized = fields.Char(compute="_compute_email_normalized", store=True)
    name = fields.Char("Display name", help="The From name, e.g. Example Sales; empty: "
                       "the account's sender name.")
    signature_id = fields.Many2one(
        "crm.inbox.signature", ondelete="set null",
        help="Inserted instead of the sender's main signature when sending as this address.")

    _sql_constraints = [
        ("email_account_uniq", "unique(account_id, email_normalized)",
         "This address is already a Send-as address of the account."),
    ]

    @api.depends("email")
    def _compute_email_normalized(self):
        for identity in self:
            identity.email_normalized = normalize_email(identity.email or "") or False

    @api.constrains("email", "name")
    def _check_header_values(self):
        """The From header values pass the engine's header checks (no CR/LF, NUL, nor
        encoded words; one valid address: :func:`engine.mime.parse_address_field`)."""
        for identity in self:
            for label, value in ((self.env._("Display name"), identity.name or ""),
                                 (self.env._("Email"), identity.email or "")):
                if any(c in value for c in "\r\n\0"):
                    raise ValidationError(self.env._(
                        "Send as: the %(field)s cannot contain a line break: write it on "
                        "one line.", field=label))
            try:
                parsed = parse_address_field(identity.email or "")
            except errors.HeaderInjection as exc:
                raise ValidationError(self.env._(
                    "Send as: “%(email)s” is not an address that can be sent (%(reason)s).",
                    email=identity.email, reason=exc)) from exc
            if len(parsed) != 1 or not normalize_email(parsed[0].email) \
                    or parsed[0].email != (identity.email or "").strip():
                raise ValidationError(self.env._(
                    "Send as: write one address, like sales@example.com (not “%(email)s”).",
                    email=identity.email))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("email"):
                vals["email"] = vals["email"].strip()
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("email"):
            vals["email"] = vals["email"].strip()
        return super().write(vals)

    def _crm_inbox_sender(self, account, user):
        """``(display name, email)`` of the From when *account* sends as this identity
        (empty recordset: the account's own address)."""
        if not self:
            return account.sender_name or user.name, account.email
        self.ensure_one()
        if self.account_id != account:
            raise UserError(self.env._("Send as: %(email)s is not an address of %(account)s.",
                                       email=self.email, account=account.email))
        return self.name or account.sender_name or user.name, self.email


class CrmInboxAccountIdentity(models.Model):
    _inherit = "crm.inbox.account"

    identity_ids = fields.One2many("crm.inbox.identity", "account_id", "Send as")

    def _crm_inbox_own_addresses(self):
        """As before, plus the Send-as addresses (never a recipient of a reply)."""
        own = super()._crm_inbox_own_addresses()
        for account in self.sudo():
            own.update(i.email_normalized for i in account.identity_ids if i.email_normalized)
        return own

    def _crm_inbox_identity_for(self, message):
        """The identity *message* (a ``crm.inbox.message``) was sent to (its To / Cc), or
        for one of ours, sent from; empty: the account's own address."""
        self.ensure_one()
        identities = self.sudo().identity_ids
        if not identities or not message:
            return self.env["crm.inbox.identity"]
        fields_ = ("email_from",) if message.direction == "out" else ("email_to", "email_cc")
        wanted = set()
        for name in fields_:
            flat = re.sub(r"[\r\n\0]", " ", message[name] or "")
            wanted.update(normalize_email(email) for _name, email in getaddresses([flat]))
        wanted.discard("")
        if normalize_email(self.email or "") in wanted:
            return self.env["crm.inbox.identity"]
        for identity in identities:
            if identity.email_normalized in wanted:
                return identity.with_env(self.env)
        return self.env["crm.inbox.identity"]
