import re

from markupsafe import Markup, escape
from odoo import api, fields, models
from odoo.tools import html_sanitize, is_html_empty

#: Placeholders of an account's signature template, filled from the member's user.
PLACEHOLDER_RE = re.compile(r"\{(name|job_title|phone|email)\}")


class CrmInboxSignature(models.Model):
    """An HTML signature of a user, for all their accounts or for one; one main per scope."""

    _name = "crm.inbox.signature"
    _description = "Inbox Signature"
    _order = "is_main desc, sequence, id"

    name = fields.Char(required=True, default=lambda self: self.env._("Signature"))
    sequence = fields.Integer(default=10)
    user_id = fields.Many2one("res.users", required=True, default=lambda self: self.env.user,
                              ondelete="cascade", index=True)
    account_id = fields.Many2one(
        "crm.inbox.account", ondelete="cascade", index=True,
        help="Empty: offered for all your accounts.")
    body = fields.Html(sanitize=True, sanitize_overridable=False)
    is_main = fields.Boolean(
        "Main", help="Inserted by the composer; the others can be chosen there.")

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if "body" in fields_list and not values.get("body") and values.get("account_id"):
            account = self.env["crm.inbox.account"].browse(values["account_id"])
            template = account.sudo().signature_template
            if template and not is_html_empty(template):
                values["body"] = self._render_template(template, self.env.user)
        return values

    @api.onchange("account_id")
    def _onchange_account_id(self):
        template = self.account_id.sudo().signature_template
        if template and not is_html_empty(template) and is_html_empty(self.body):
            self.body = self._render_template(template, self.user_id or self.env.user)

    @api.model
    def _render_template(self, template, user):
        """Fill {name}, {job_title}, {phone} and {email} of *template* with *user*'s values.

        Values are HTML-escaped; the result is sanitized.
        """
        partner = user.sudo().partner_id
        values = {
            "name": user.sudo().name or "",
            "job_title": partner.function or "",
            "phone": partner.phone or partner.mobile or "",
            "email": user.sudo().email or "",
        }
        filled = PLACEHOLDER_RE.sub(lambda m: str(escape(values[m.group(1)])), str(template))
        return Markup(html_sanitize(filled))

    @api.model_create_multi
    def create(self, vals_list):
        signatures = super().create(vals_list)
        signatures.filtered("is_main")._unset_other_mains()
        return signatures

    def write(self, vals):
        res = super().write(vals)
        if vals.get("is_main") or ("account_id" in vals or "user_id" in vals):
            self.filtered("is_main")._unset_other_mains()
        return res

    def _unset_other_mains(self):
        for signature in self:
            others = self.search([
                ("id", "!=", signature.id), ("user_id", "=", signature.user_id.id),
                ("account_id", "=", signature.account_id.id), ("is_main", "=", True)])
            if others:
                others.write({"is_main": False})

    @api.model
    def _find_main(self, account):
        """The current user's main signature for *account*, else their main general one."""
        Signature = self.search([("user_id", "=", self.env.uid),
                                 ("account_id", "in", [False, account.id])])
        for scope in (account, self.env["crm.inbox.account"]):
            for signature in Signature:
                if signature.account_id == scope and signature.is_main:
                    return signature
        return self.browse()
