from odoo import fields, models


class CrmLead(models.Model):
    _name = "crm.lead"
    _inherit = ["crm.lead", "crm.inbox.chatter.mixin"]

    crm_inbox_conversation_ids = fields.Many2many(
        "crm.inbox.conversation", "crm_inbox_conversation_crm_lead_rel", "crm_lead_id",
        "crm_inbox_conversation_id", string="Inbox conversations",
    )
    crm_inbox_conversation_count = fields.Integer(
        "Email threads", compute="_compute_crm_inbox_conversation_count")

    def _compute_crm_inbox_conversation_count(self):
        for lead in self:
            lead.crm_inbox_conversation_count = len(lead.crm_inbox_conversation_ids)

    def action_crm_inbox_conversations(self):
        """The smart button: the Inbox filtered on this lead."""
        return self.action_crm_inbox_open_inbox()

    # synced emails in the chatter (models/crm_inbox_chatter.py)
    def _crm_inbox_email_domain(self):
        """The emails of this lead's conversations."""
        return [("conversation_id.lead_ids", "in", self.ids)]
