from odoo import api, fields, models

from .crm_inbox_account import LEASE_SECONDS


class ResConfigSettings(models.TransientModel):
    """Sync runners, lease, connection cap and the sync backlog (Settings > Inbox)."""

    _inherit = "res.config.settings"

    crm_inbox_sync_runners = fields.Integer(
        "Sync runners", config_parameter="crm_inbox.sync_runners", default=2,
        help="Scheduled actions that sync mailboxes in parallel (in any Odoo process or "
             "host on this database). Odoo's max_cron_threads must be at least this + 1.")
    crm_inbox_sync_lease_seconds = fields.Integer(
        "Sync lease (seconds)", config_parameter="crm_inbox.sync_lease_seconds",
        default=LEASE_SECONDS,
        help="A runner that dies holds its mailbox at most this long; keep it above the "
             "run's time budget (60 s).")
    crm_inbox_max_connections_per_host = fields.Integer(
        "Connections per mail host", config_parameter="crm_inbox.max_connections_per_host",
        default=10, help="Simultaneous sync connections to one IMAP host (0: no cap).")
    crm_inbox_max_connections_per_mailbox = fields.Integer(
        "Connections per mailbox", config_parameter="crm_inbox.max_connections_per_mailbox",
        default=10, help="Simultaneous IMAP connections to one mailbox: syncs, the Inbox's "
                         "actions and Sent copies together (0: no cap, at most 32). Gmail "
                         "allows 15 per mailbox, Microsoft 365 20.")
    crm_inbox_backlog_due = fields.Integer("Due", compute="_compute_crm_inbox_backlog")
    crm_inbox_backlog_overdue = fields.Integer("Overdue", compute="_compute_crm_inbox_backlog")
    crm_inbox_backlog_failing = fields.Integer("Failing", compute="_compute_crm_inbox_backlog")
    crm_inbox_backlog_backing_off = fields.Integer(
        "Backing off", compute="_compute_crm_inbox_backlog")
    crm_inbox_backlog_syncing = fields.Integer("Syncing", compute="_compute_crm_inbox_backlog")

    @api.depends("company_id")
    def _compute_crm_inbox_backlog(self):
        backlog = self.env["crm.inbox.account"]._crm_inbox_backlog()
        for settings in self:
            for key, value in backlog.items():
                settings[f"crm_inbox_backlog_{key}"] = value

    def set_values(self):
        result = super().set_values()
        self.env["crm.inbox.account"]._crm_inbox_apply_runners(self.crm_inbox_sync_runners)
        return result

    def action_crm_inbox_open_backlog(self):
        """The accounts behind the backlog counts: failing first."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_inbox.crm_inbox_account_action")
        action["context"] = {"search_default_filter_sync_failing": 1}
        return action
