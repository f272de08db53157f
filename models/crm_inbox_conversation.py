from datetime import timedelta

from odoo import api, fields, models

from ..engine.mime import normalize_email, normalize_subject

#: Replies whose headers were rewritten join a conversation with the same
#: normalized subject and a common participant within this many days.
SUBJECT_FALLBACK_DAYS = 30


class CrmInboxConversation(models.Model):
    """A thread of emails of one account, with an assignee and internal notes."""

    _name = "crm.inbox.conversation"
    _description = "Inbox Conversation"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "is_unread desc, last_message_date desc, id desc"
    _check_company_auto = True

    name = fields.Char("Subject", required=True)
    subject_normalized = fields.Char(index=True, readonly=True)
    account_id = fields.Many2one("crm.inbox.account", required=True, ondelete="cascade",
                                 index=True)
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    user_id = fields.Many2one("res.users", "Assigned to", tracking=True, index=True)
    inbox_message_ids = fields.One2many("crm.inbox.message", "conversation_id", "Email messages")
    folder_ids = fields.Many2many("crm.inbox.folder", string="Folders",
                                  compute="_compute_from_messages", store=True)
    partner_ids = fields.Many2many("res.partner", string="Contacts")
    participant_emails = fields.Text(
        readonly=True, help="Normalized addresses seen in the conversation, space-separated.")
    lead_ids = fields.Many2many("crm.lead", string="Leads")
    last_message_date = fields.Datetime("Last message", index=True)
    email_count = fields.Integer(compute="_compute_from_messages", store=True, string="Emails")
    is_unread = fields.Boolean("Unread", compute="_compute_from_messages", store=True)
    is_flagged = fields.Boolean("Flagged", compute="_compute_from_messages", store=True)
    last_email_from = fields.Char("From", compute="_compute_from_messages", store=True)
    preview = fields.Char(compute="_compute_from_messages", store=True)

    @api.depends("inbox_message_ids.is_read", "inbox_message_ids.is_flagged",
                 "inbox_message_ids.folder_id")
    def _compute_from_messages(self):
        for conversation in self:
            messages = conversation.inbox_message_ids
            conversation.folder_ids = messages.folder_id
            conversation.email_count = len(messages)
            conversation.is_unread = any(not m.is_read for m in messages)
            conversation.is_flagged = any(m.is_flagged for m in messages)
            last = messages.sorted("date")[-1:] if messages else messages
            conversation.last_email_from = last.email_from
            conversation.preview = (last.body_text or "")[:140].replace("\n", " ") or False

    @api.model
    def _find_or_create(self, account, msg, vals, participants):
        """Return the conversation a new message belongs to (created if needed).

        Threading (RFC 5322 §3.6.4): a message joins the conversation of any
        message it names in In-Reply-To/References, or of a message that
        already names it; failing that, a reply ("Re: ...") whose headers were
        rewritten joins a recent conversation with the same normalized subject
        and a common contact.
        """
        Message = self.env["crm.inbox.message"]
        refs = [r for r in [msg.in_reply_to, *msg.references] if r]
        conversation = self.browse()
        if refs:
            conversation = Message.search(
                [("account_id", "=", account.id), ("message_id", "in", refs),
                 ("conversation_id", "!=", False)], limit=1).conversation_id
        if not conversation and msg.message_id:
            conversation = Message.search(
                [("account_id", "=", account.id), ("in_reply_to", "=", msg.message_id),
                 ("conversation_id", "!=", False)], limit=1).conversation_id
        subject = msg.subject or ""
        normalized = normalize_subject(subject)
        own = normalize_email(account.email)
        emails = {normalize_email(a.email) for a in (*msg.from_, *msg.to, *msg.cc)} - {"", own}
        if not conversation and normalized and normalized != subject.strip().casefold():
            since = (vals["date"] or fields.Datetime.now()) - timedelta(days=SUBJECT_FALLBACK_DAYS)
            candidates = self.search(
                [("account_id", "=", account.id), ("subject_normalized", "=", normalized),
                 ("last_message_date", ">=", since)], order="last_message_date desc", limit=20)
            conversation = candidates.filtered(
                lambda c: emails & set((c.participant_emails or "").split()))[:1]
        if not conversation:
            conversation = self.with_context(
                mail_create_nolog=True, mail_create_nosubscribe=True, tracking_disable=True,
            ).create({
                "name": subject or self.env._("(no subject)"),
                "subject_normalized": normalized,
                "account_id": account.id,
                "user_id": account.user_id.id if account.account_type == "personal" else False,
                "last_message_date": vals["date"],
            })
        updates = {}
        known = set((conversation.participant_emails or "").split())
        if emails - known:
            updates["participant_emails"] = " ".join(sorted(known | emails))
        new_partners = participants - conversation.partner_ids
        if new_partners:
            updates["partner_ids"] = [(4, p.id) for p in new_partners]
        if vals["date"] and (not conversation.last_message_date
                             or vals["date"] > conversation.last_message_date):
            updates["last_message_date"] = vals["date"]
        if updates:
            conversation.write(updates)
        if new_partners or emails - known:
            conversation._link_leads(participants, sorted(emails))
        return conversation

    def _link_leads(self, partners, emails):
        """Link open leads whose contact or email address takes part in the conversation."""
        self.ensure_one()
        own = normalize_email(self.account_id.email)
        emails = [e for e in emails if e and e != own]
        domain = [("company_id", "in", [False, self.company_id.id])]
        if partners and emails:
            domain += ["|", ("partner_id", "in", partners.ids), ("email_normalized", "in", emails)]
        elif partners:
            domain += [("partner_id", "in", partners.ids)]
        elif emails:
            domain += [("email_normalized", "in", emails)]
        else:
            return
        leads = self.env["crm.lead"].sudo().search(domain) - self.sudo().lead_ids
        if leads:
            self.sudo().lead_ids = [(4, lead.id) for lead in leads]

    def action_reply(self):
        self.ensure_one()
        last = self.inbox_message_ids.sorted("date")[-1:]
        if not last:
            return self.account_id.action_compose()
        return last._open_composer("reply")

    def action_assign_to_me(self):
        self.write({"user_id": self.env.user.id})
