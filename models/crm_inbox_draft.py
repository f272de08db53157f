from odoo import api, fields, models
from odoo.exceptions import UserError

#: What a draft keeps of the inline reply box (and gives back).
DRAFT_TEXT_FIELDS = ("to", "cc", "bcc", "subject", "text")


class CrmInboxDraft(models.Model):
    """The inline reply box of one conversation, saved as the user types (private to its
    author; not the transient composer, whose rows Odoo vacuums after an hour)."""

    _name = "crm.inbox.draft"
    _description = "Inbox Draft"
    _order = "write_date desc, id desc"

    user_id = fields.Many2one("res.users", required=True, default=lambda self: self.env.user,
                              ondelete="cascade", index=True)
    conversation_id = fields.Many2one("crm.inbox.conversation", required=True,
                                      ondelete="cascade", index=True)
    parent_id = fields.Many2one("crm.inbox.message", "Replying to", ondelete="set null")
    mode = fields.Selection([("reply", "Reply"), ("reply_all", "Reply all"),
                             ("forward", "Forward")], default="reply", required=True)
    to = fields.Char()
    cc = fields.Char()
    bcc = fields.Char()
    subject = fields.Char()
    text = fields.Text()
    signature_id = fields.Many2one("crm.inbox.signature", ondelete="set null")
    identity_id = fields.Many2one(
        "crm.inbox.identity", "Send as", ondelete="set null",
        help="The From chosen in the reply box (empty: the account's own address).")
    attachment_ids = fields.Many2many("ir.attachment", string="Attachments")

    _sql_constraints = [
        ("one_per_user_conversation", "UNIQUE(user_id, conversation_id)",
         "One draft per user and conversation."),
    ]

    @api.model
    def _find(self, conversation_id):
        return self.search([("user_id", "=", self.env.uid),
                            ("conversation_id", "=", int(conversation_id))], limit=1)

    @api.model
    def inbox_save_draft(self, conversation_id, values):
        """Save the reply box of *conversation_id* for the current user (autosave).

        :param values: ``{"message_id" (crm.inbox.message replied to), "mode", "to",
            "cc", "bcc", "subject", "text": str, "signature_id": id|False,
            "identity_id": crm.inbox.identity id|False (the Send-as address; one of the
            conversation's account, else the account's own address is kept),
            "attachment_ids": [ir.attachment ids]}``.
        :returns: the draft id.
        :raises UserError: the conversation or the email replied to cannot be read.
        """
        conversation = self.env["crm.inbox.conversation"].browse(int(conversation_id)).exists()
        if not conversation:
            raise UserError(self.env._("This conversation no longer exists."))
        conversation.check_access("read")
        vals = {key: values.get(key) or False for key in DRAFT_TEXT_FIELDS if key in values}
        if values.get("mode") in ("reply", "reply_all", "forward"):
            vals["mode"] = values["mode"]
        if "message_id" in values:
            parent = self.env["crm.inbox.message"].browse(int(values["message_id"] or 0)).exists()
            if parent:
                parent.check_access("read")
            vals["parent_id"] = parent.id or False
        if "signature_id" in values:
            signature = self.env["crm.inbox.signature"].browse(
                int(values["signature_id"] or 0)).exists()
            vals["signature_id"] = signature.id if signature.user_id == self.env.user else False
        if "identity_id" in values:
            identity = self.env["crm.inbox.identity"].sudo().browse(
                int(values["identity_id"] or 0)).exists()
            vals["identity_id"] = identity.id \
                if identity.account_id == conversation.account_id else False
        if "attachment_ids" in values:
            attachments = self.env["ir.attachment"].browse(values["attachment_ids"] or []).exists()
            attachments.check_access("read")
            vals["attachment_ids"] = [(6, 0, attachments.ids)]
        draft = self._find(conversation.id)
        if draft:
            draft.write(vals)
        else:
            draft = self.create(dict(vals, conversation_id=conversation.id))
        return draft.id

    @api.model
    def inbox_load_draft(self, conversation_id):
        """The current user's saved draft of *conversation_id*, or ``False``.

        :returns: ``{"message_id", "mode", "to", "cc", "bcc", "subject", "text",
            "signature_id", "identity_id" (False: the account's own address),
            "attachments": [{"id", "name", "mimetype"}]}``.
        """
        draft = self._find(conversation_id)
        if not draft:
            return False
        return {
            "message_id": draft.parent_id.id or False, "mode": draft.mode,
            **{key: draft[key] or "" for key in DRAFT_TEXT_FIELDS},
            "signature_id": draft.signature_id.id or False,
            "identity_id": draft.sudo().identity_id.id or False,
            "attachments": [{"id": a.id, "name": a.name, "mimetype": a.mimetype}
                            for a in draft.attachment_ids],
        }

    @api.model
    def inbox_discard_draft(self, conversation_id):
        """Forget the current user's draft of *conversation_id* (sent or discarded)."""
        self._find(conversation_id).unlink()
        return True
