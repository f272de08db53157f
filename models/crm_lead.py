from odoo import fields, models


class CrmLead(models.Model):
    _inherit = "crm.lead"

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
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm_inbox.crm_inbox_conversation_action")
        action["domain"] = [("lead_ids", "in", self.ids)]
        return action
