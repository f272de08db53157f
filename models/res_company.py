from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    crm_inbox_enabled = fields.Boolean(
        "Use integrated email", default=True,
        help="Users of this company connect mailboxes and work in the Inbox. Off: no "
        "account can be created and existing ones stop syncing.")
    crm_inbox_max_accounts = fields.Integer(
        "Mail accounts per user", default=5,
        help="Maximum number of personal mail accounts a user may connect in this company "
        "(0: no limit).")
    crm_inbox_deleted_user_mail = fields.Selection(
        [("archive", "Keep it, archived"), ("delete", "Delete it")],
        "Mail of deleted users", default="archive", required=True,
        help="When a user is deleted: keep their personal accounts and synced mail, "
        "disconnected and archived (owned by the system), or delete them with their mail. "
        "Either way the accounts stop syncing and their passwords and tokens are dropped.")
