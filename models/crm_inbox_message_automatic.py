"""Automatic mail at ingestion: bounces raise the bounced address's counter.

Recognising automatic mail is ``engine.gateway.automatic_kind`` (stored on the message by
``_prepare_vals``); a delivery-status report (:rfc:`3464`) also names the recipients that
failed (``engine.gateway.bounced_recipients``). Each of them gets Odoo's bounce handling,
as ``mail.thread._routing_handle_bounce`` does for mail through the gateway: every record
of a blacklist-enabled model (``mail.thread.blacklist``: contacts, leads...) with that
normalized address has ``_message_receive_bounce`` called (``message_bounce`` + 1).
"""

from odoo import fields, models

from ..engine.gateway import bounced_recipients


class CrmInboxMessageAutomatic(models.Model):
    _inherit = "crm.inbox.message"

    email_reply_to = fields.Char(
        "Reply-To", readonly=True,
        help="Where the sender asked replies to go (RFC 5322 section 3.6.3); empty: From.")

    def _prepare_vals(self, folder, fetched_msg, msg, partners):
        vals = super()._prepare_vals(folder, fetched_msg, msg, partners)
        vals["email_reply_to"] = ", ".join(str(a) for a in msg.reply_to if a.email) or False
        return vals

    def _store_batch(self, folder, items, partners):
        rows = super()._store_batch(folder, items, partners)
        bounced = []
        for row, (fetched_msg, _msg) in zip(rows, items, strict=True):
            if row.automatic_kind == "bounce":
                bounced.extend(bounced_recipients(fetched_msg.raw))
        if bounced:
            self._crm_inbox_receive_bounces(bounced)
        return rows

    def _crm_inbox_receive_bounces(self, emails):
        """Odoo's bounce counter for each normalized address of *emails* (one per failed
        recipient of a report; an address twice counts twice)."""
        models_bl = self.env["ir.model"].sudo().search(
            [("is_mail_blacklist", "=", True), ("model", "!=", "mail.thread.blacklist")])
        for email in emails:
            partner = self.env["res.partner"].sudo().search(
                [("email_normalized", "=", email)], limit=1)
            for model in models_bl:
                if model.model not in self.env:
                    continue
                records = self.env[model.model].sudo().search([("email_normalized", "=", email)])
                records._message_receive_bounce(email, partner)
