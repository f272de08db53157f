"""Send-as identities in the composer (``crm.inbox.identity``).

The From is the identity's name and address; the SMTP envelope (``MAIL FROM``) stays the
account's address (models/mail_mail.py): the session is authenticated as the account,
and providers accept another From only where the mailbox was given the send-as right
(Gmail "Send mail as", Microsoft 365 "Send As"), while bounces come back to the mailbox
that is synced, so they are seen in the inbox.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..engine.mime import Address
from .crm_inbox_compose import _signature_text


class CrmInboxComposeIdentity(models.TransientModel):
    _inherit = "crm.inbox.compose"

    identity_id = fields.Many2one(
        "crm.inbox.identity", "Send as", domain="[('account_id', '=', account_id)]",
        help="Empty: the account's own address.")
    has_identities = fields.Boolean(compute="_compute_has_identities")

    @api.depends("account_id")
    def _compute_has_identities(self):
        for composer in self:
            composer.has_identities = bool(composer.account_id.sudo().identity_ids)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if "identity_id" in fields_list and not values.get("identity_id"):
            parent = self.env["crm.inbox.message"].browse(values.get("parent_id"))
            account = self.env["crm.inbox.account"].browse(values.get("account_id"))
            if parent and account and values.get("mode") in ("reply", "reply_all", "forward"):
                values["identity_id"] = account._crm_inbox_identity_for(parent).id or False
        return values

    @api.onchange("account_id")
    def _onchange_account_id_identity(self):
        if self.identity_id.account_id != self.account_id:
            self.identity_id = False

    def _crm_inbox_sender(self):
        """The identity's name and address when one is chosen.

        :raises UserError: the identity is not one of the account's.
        """
        identity = self.identity_id.sudo()
        if not identity:
            return super()._crm_inbox_sender()
        name, email = identity._crm_inbox_sender(self.account_id.sudo(), self.env.user)
        return Address(name=name, email=email)

    @api.model
    def _inbox_signature_html(self, signature, vals, chosen):
        """The identity's signature, unless the user picked another one in the box."""
        identity = self.env["crm.inbox.identity"].browse(vals.get("identity_id") or 0).sudo()
        if identity.exists() and identity.signature_id and not chosen:
            return identity.signature_id.body
        return super()._inbox_signature_html(signature, vals, chosen)

    @api.model
    def inbox_reply_defaults(self, message_id, mode="reply"):
        """As before, plus ``"identities"``: ``[{"id": id|False, "email", "name",
        "signature_text"}]`` (the account's own address first, ``id`` False; empty when
        the account has no Send-as address) and ``"identity_id"``: the one the answered
        message was sent to (False: the account's own address)."""
        values = super().inbox_reply_defaults(message_id, mode)
        parent = self._inbox_parent(message_id)
        account = parent.account_id
        identities = account.sudo().identity_ids
        values["identities"] = [{
            "id": False, "email": account.email,
            "name": account.sudo().sender_name or self.env.user.name, "signature_text": "",
        }] + [{
            "id": i.id, "email": i.email, "name": i.name or "",
            "signature_text": _signature_text(i.signature_id.body),
        } for i in identities] if identities else []
        values["identity_id"] = account._crm_inbox_identity_for(parent).id or False
        return values

    @api.model
    def inbox_send(self, message_id, mode, values):
        """As before; ``values`` may hold ``"identity_id"``: a ``crm.inbox.identity`` of
        the account (False: its own address).

        :raises UserError: the identity is not one of the account's.
        """
        if values.get("identity_id"):
            parent = self._inbox_parent(message_id)
            identity = self.env["crm.inbox.identity"].sudo().browse(
                int(values["identity_id"])).exists()
            if not identity or identity.account_id != parent.account_id:
                raise UserError(self.env._(
                    "Send as: choose one of the addresses of %(account)s.",
                    account=parent.account_id.email))
        return super().inbox_send(message_id, mode, values)
