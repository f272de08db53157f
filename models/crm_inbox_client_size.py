"""The mail client's thread: a message over the parsing limits is a placeholder.

``engine.mime.parse_message`` stops at its limits (``ParseLimits``: header block, number
of parts, nesting, time) and the ingestion keeps the original bytes as an ``.eml``
attachment. The thread then shows "too large to display" with the size and a download
of the original, never a half-decoded excerpt.
"""

from odoo import api, models

from ..engine.gateway import over_parse_limits


class CrmInboxConversationClientSize(models.Model):
    _inherit = "crm.inbox.conversation"

    @api.model
    def inbox_thread(self, conversation_id):
        """As before; each message also has ``"too_large"``: ``False``, or
        ``{"size": bytes, "reason": str, "download_url": str|False}``."""
        result = super().inbox_thread(conversation_id)
        ids = [m["id"] for m in result.get("messages", [])]
        rows = self.env["crm.inbox.message"].sudo().browse(ids)
        rows.fetch(["is_malformed", "parse_warning", "size"])
        big = {row.id: row for row in rows if row.is_malformed
               and over_parse_limits(row.parse_warning)}
        originals = {}
        if big:
            for att in self.env["ir.attachment"].sudo().search_fetch(
                    [("res_model", "=", "crm.inbox.message"), ("res_id", "in", list(big)),
                     ("mimetype", "=", "message/rfc822")], ["res_id"], order="id"):
                originals.setdefault(att.res_id, att.id)
        for message in result.get("messages", []):
            row = big.get(message["id"])
            if not row:
                message["too_large"] = False
                continue
            att_id = originals.get(row.id)
            message["too_large"] = {
                "size": row.size or 0,
                "reason": (row.parse_warning or "").splitlines()[0],
                "download_url": f"/web/content/{att_id}?download=true" if att_id else False,
            }
            message["snippet"] = self.env._("Too large to display")
            message["body_main"] = message["body_quoted"] = ""
            message["is_text"] = True
        return result
