"""Automatic mail at ingestion: bounces raise the bounced address's counter.

Recognising automatic mail is ``engine.gateway.automatic_kind`` (stored on the message by
``_prepare_vals``); a delivery-status report (:rfc:`3464`) also names the recipients that
failed (``engine.gateway.bounced_recipients``). Each of them gets Odoo's bounce handling,
as ``mail.thread._routing_handle_bounce`` does for mail through the gateway: every record
of a blacklist-enabled model (``mail.thread.blacklist``: contacts, leads...) with that
normalized address has ``_message_receive_bounce`` called (``message_bounce`` + 1).

A report threads into the conversation of the mail it is about: reports carry no
In-Reply-To (:rfc:`3464`), but their returned message or header block names the
original's Message-ID (``engine.gateway.report_original_message_id``); it is stored as
the report's In-Reply-To (its own, if any, moves to References), so the report joins that
conversation whichever is synced first (INBOX before Sent, or after).
"""

import dataclasses

from odoo import fields, models

from ..engine.gateway import automatic_kind, bounced_recipients, report_original_message_id


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
        items = [(fetched_msg, self._crm_inbox_thread_report(fetched_msg.raw, msg))
                 for fetched_msg, msg in items]
        rows = super()._store_batch(folder, items, partners)
        bounced = []
        for row, (fetched_msg, _msg) in zip(rows, items, strict=True):
            if row.automatic_kind == "bounce":
                bounced.extend(bounced_recipients(fetched_msg.raw))
        if bounced:
            self._crm_inbox_receive_bounces(bounced)
        return rows

    def _crm_inbox_thread_report(self, raw, msg):
        """*msg* (an ``engine.mime.ParsedMessage``), replying to the original it reports on
        when *raw* is a delivery or disposition report that names one; else unchanged."""
        if automatic_kind(raw) != "bounce":
            return msg
        original = report_original_message_id(raw)
        if not original or original in (msg.message_id, msg.in_reply_to):
            return msg
        references = tuple(dict.fromkeys(
            r for r in (msg.in_reply_to, *msg.references, original) if r))
        return dataclasses.replace(msg, in_reply_to=original, references=references)

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
