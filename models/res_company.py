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
