"""Team emails (contact and lead tabs) through the one mail renderer.

``crm_inbox_account_sharing`` decides which emails a user may see on a contact or
lead and at which level; this override only changes how a full-level body is
rendered: through ``mail_render.render_mail_html`` (sanitized last, nothing
remote), never the raw ``body_html``.
"""

from markupsafe import Markup
from odoo import api, fields, models


class CrmInboxMessage(models.Model):
    _inherit = "crm.inbox.message"

    @api.model
    def _crm_inbox_visible_emails(self, domain, limit=100):
        """As the parent method; ``body_html`` of full-level rows is the renderer's output
        (remote content always blocked; ``cid:`` images only where the user may open
        the message)."""
        rows = super()._crm_inbox_visible_emails(domain, limit=limit)
        full = [row for row in rows if row["level"] == "full"]
        messages = self.sudo().browse([row["id"] for row in full])
        for row, message in zip(full, messages, strict=False):
            row["body_html"] = str(message._crm_inbox_render(
                allow_remote=False, with_cids=row["can_open"])[0])
        return rows

    @api.model
    def _crm_inbox_render_digest(self, rows):
        """HTML list of :meth:`_crm_inbox_visible_emails` rows: values escaped, bodies
        already rendered (shown by the ``crm_inbox_mail_frame`` widget's sandbox)."""
        if not rows:
            return Markup("<p class='text-muted'>%s</p>") % self.env._("No emails.")
        parts = []
        for row in rows:
            head = Markup(
                "<div class='o_crm_inbox_digest_row border-bottom py-2'>"
                "<div><strong>%s</strong> <span class='text-muted'>%s</span></div>"
                "<div class='small text-muted'>%s → %s</div>"
            ) % (row["subject"] or self.env._("(no subject)"),
                 fields.Datetime.to_string(row["date"]) if row["date"] else "",
                 row["email_from"], row["email_to"])
            body = Markup("")
            if row["level"] == "full":
                body = Markup("<details><summary>%s</summary>%s</details>") % (
                    self.env._("Show email"), Markup(row["body_html"] or ""))
                if row["attachments"]:
                    body += Markup("<div class='small'>📎 %s</div>") % ", ".join(
                        row["attachments"])
            parts.append(head + body + Markup("</div>"))
        return Markup("").join(parts)
