from odoo import api, fields, models
from odoo.exceptions import ValidationError


class ResUsers(models.Model):
    _inherit = "res.users"

    crm_inbox_primary_account_id = fields.Many2one(
        "crm.inbox.account", "Primary mail account", ondelete="set null",
        help="Selected first in the Inbox and in the composer.",
    )
    crm_inbox_undo_delay = fields.Integer(
        "Undo send delay (seconds)", default=10,
        help="After Send in the Inbox, the email waits this long, during which Undo "
             "cancels it; 0 sends at once.")
    crm_inbox_account_count = fields.Integer(
        "Personal mail accounts", compute="_compute_crm_inbox_account_count")

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + ["crm_inbox_primary_account_id",
                                               "crm_inbox_account_count",
                                               "crm_inbox_undo_delay"]

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return super().SELF_WRITEABLE_FIELDS + ["crm_inbox_primary_account_id",
                                                "crm_inbox_undo_delay"]

    def write(self, vals):
        """Archiving users pauses their personal accounts (see :meth:`_crm_inbox_user_left`)."""
        leaving = self.filtered("active") if "active" in vals and not vals["active"] else None
        result = super().write(vals)
        if leaving:
            leaving._crm_inbox_user_left()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_crm_inbox_accounts(self):
        """Deleted users: their personal accounts stop syncing; their mail is kept (archived,
        owned by the system) or deleted, as the company's "Mail of deleted users" says."""
        self._crm_inbox_user_left()
        accounts = self.env["crm.inbox.account"].sudo().with_context(active_test=False).search(
            [("user_id", "in", self.ids)])
        for account in accounts:
            if account.account_type == "personal" and \
                    account.company_id.crm_inbox_deleted_user_mail == "delete":
                account._disconnect(delete_mail=True)
                account.unlink()
            else:
                account.write({"active": False, "user_id": self.env.ref("base.user_root").id})

    def _crm_inbox_user_left(self):
        """These users were archived or are being deleted: their personal accounts are
        disconnected (sync stops; passwords and OAuth tokens are dropped, the synced mail
        is kept) and their memberships of shared accounts end. Re-activated, they connect
        their mailboxes again."""
        Account = self.env["crm.inbox.account"].sudo().with_context(active_test=False)
        personal = Account.search([("user_id", "in", self.ids), ("account_type", "=", "personal"),
                                   ("state", "!=", "disconnected")])
        personal._disconnect()
        self.env["crm.inbox.account.member"].sudo().search(
            [("user_id", "in", self.ids)]).unlink()

    def _compute_crm_inbox_account_count(self):
        counts = dict(self.env["crm.inbox.account"].sudo()._read_group(
            [("user_id", "in", self.ids), ("account_type", "=", "personal")],
            ["user_id"], ["__count"]))
        for user in self:
            user.crm_inbox_account_count = counts.get(user, 0)

    _sql_constraints = [
        ("crm_inbox_undo_delay_range",
         "CHECK(crm_inbox_undo_delay >= 0 AND crm_inbox_undo_delay <= 120)",
         "The undo send delay is between 0 and 120 seconds."),
    ]

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
