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

    crm_inbox_email_digest = fields.Html(
        "Team emails", compute="_compute_crm_inbox_email_digest", sanitize=False,
        groups="crm_inbox.group_crm_inbox_user",
        help="The emails of this lead's conversations in every mailbox, at the level each "
        "account allows.")

    def _compute_crm_inbox_email_digest(self):
        Message = self.env["crm.inbox.message"]
        for lead in self:
            lead.crm_inbox_email_digest = Message._crm_inbox_render_digest(
                lead.crm_inbox_get_emails()) if lead.id else False

    def crm_inbox_get_emails(self):
        """The emails of this lead's conversations, each at the level its account allows.

        See ``crm.inbox.message._crm_inbox_visible_emails``; the caller must be able
        to read the lead.
        """
        self.ensure_one()
        self.check_access("read")
        return self.env["crm.inbox.message"]._crm_inbox_visible_emails(
            [("conversation_id.lead_ids", "in", self.ids)])
