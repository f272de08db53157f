from odoo import api, fields, models
from odoo.exceptions import ValidationError


class ResUsers(models.Model):
    _inherit = "res.users"

    crm_inbox_primary_account_id = fields.Many2one(
        "crm.inbox.account", "Primary mail account", ondelete="set null",
        help="Selected first in the Inbox and in the composer.",
    )
    crm_inbox_account_count = fields.Integer(
        "Personal mail accounts", compute="_compute_crm_inbox_account_count")

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + ["crm_inbox_primary_account_id",
                                               "crm_inbox_account_count"]

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return super().SELF_WRITEABLE_FIELDS + ["crm_inbox_primary_account_id"]

    def _compute_crm_inbox_account_count(self):
        counts = dict(self.env["crm.inbox.account"].sudo()._read_group(
            [("user_id", "in", self.ids), ("account_type", "=", "personal")],
            ["user_id"], ["__count"]))
        for user in self:
            user.crm_inbox_account_count = counts.get(user, 0)

    @api.constrains("crm_inbox_primary_account_id")
    def _check_crm_inbox_primary_account(self):
        for user in self:
            account = user.crm_inbox_primary_account_id
            if account and not account._crm_inbox_access_level(user):
                raise ValidationError(self.env._(
                    "%(user)s cannot see the account %(email)s: choose one of their own "
                    "accounts or a shared inbox they are a member of.",
                    user=user.name, email=account.email))

    def _crm_inbox_default_account(self, sending=False):
        """The account to select first for this user: the primary one, if usable.

        :param sending: only accounts the user may send from that are connected.
        :returns: a ``crm.inbox.account`` (possibly empty), in the user's environment.
        """
        self.ensure_one()
        Account = self.env["crm.inbox.account"].with_user(self)
        domain = [("can_send", "=", True), ("state", "=", "connected")] if sending else []
        primary = self.sudo().crm_inbox_primary_account_id
        if primary:
            found = Account.search(domain + [("id", "=", primary.id)])
            if found:
                return found
        own = Account.search(domain + [("user_id", "=", self.id)], limit=1)
        return own or Account.search(domain, limit=1)
