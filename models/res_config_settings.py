from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    crm_inbox_timeout = fields.Integer(
        "Mail server timeout (seconds)", config_parameter="crm_inbox.timeout", default=30)
    crm_inbox_max_messages_per_run = fields.Integer(
        "Messages per account and sync run", config_parameter="crm_inbox.max_messages_per_run",
        default=2000,
        help="A long first sync proceeds in slices of this size, one per scheduled run.")
