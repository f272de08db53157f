from odoo import fields, models


class CrmInboxAccountDisconnect(models.TransientModel):
    """Confirm disconnecting an account: keep or delete the mail synced into Odoo."""

    _name = "crm.inbox.account.disconnect"
    _description = "Disconnect a mail account"

    account_id = fields.Many2one("crm.inbox.account", required=True, ondelete="cascade")
    synced_mail = fields.Selection(
        [("keep", "Keep the synced emails in Odoo"),
         ("delete", "Delete the synced emails from Odoo")],
        default="keep", required=True,
        help="The mailbox on the server is never changed either way.")

    def action_confirm(self):
        """Stop the sync, forget the credentials and keep or delete the synced mail."""
        self.ensure_one()
        self.account_id._disconnect(delete_mail=self.synced_mail == "delete")
        return {"type": "ir.actions.act_window_close"}
