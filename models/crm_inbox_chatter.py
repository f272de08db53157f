"""Synced emails in the chatter of contacts and leads (issue 13).

The emails are not copied into ``mail.message``: the chatter fetches them beside
Odoo's messages (``static/src/chatter``) through ``/crm_inbox/chatter/emails``
(``controllers/chatter.py``), which calls :meth:`CrmInboxChatterMixin._crm_inbox_chatter_fetch`;
that goes through the one level-checked read path,
``crm.inbox.message._crm_inbox_visible_emails``: each email at the level its account
allows (full; subject, participants and date; none), whatever the record rules.

Paging is by date with a keyset cursor ``(date, id)``: the chatter asks for the
emails older than the oldest one it holds and not older than the oldest Odoo message
of the page it just loaded (``min_date``), so the two kinds interleave without a gap
or a duplicate; once Odoo has no older message, the remaining emails page by date.
"""

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression

#: Largest page the chatter may ask for.
MAX_CHATTER_PAGE = 100


class CrmInboxRecordUnlink(models.Model):
    """An email unlinked from a contact or lead from its chatter: never shown there again.

    Kept by Message-ID so that every copy (other folders, other mailboxes, a later
    re-sync) stays unlinked; by row when the email has no Message-ID.
    """

    _name = "crm.inbox.record.unlink"
    _description = "Email unlinked from a contact or lead"
    _log_access = False

    res_model = fields.Selection(
        [("res.partner", "Contact"), ("crm.lead", "Lead")], required=True, index=True)
    res_id = fields.Many2oneReference("Record", model_field="res_model", required=True,
                                      index=True)
    message_id = fields.Char("Message-ID", index=True)
    inbox_message_id = fields.Many2one("crm.inbox.message", ondelete="cascade", index=True)
    user_id = fields.Many2one("res.users", "Unlinked by", required=True,
                              default=lambda self: self.env.user, ondelete="cascade")
    date = fields.Datetime("Unlinked on", default=fields.Datetime.now, required=True)


class CrmInboxChatterMixin(models.AbstractModel):
    """The synced emails of a record (contact or lead), shown in its chatter."""

    _name = "crm.inbox.chatter.mixin"
    _description = "Synced emails in the chatter"

    crm_inbox_email_count = fields.Integer(
        "Emails", compute="_compute_crm_inbox_email_count",
        help="Emails of this record you can see, at the level each account allows.")

    def _crm_inbox_email_domain(self):
        """Domain of the ``crm.inbox.message`` rows linked to these records (no level
        applied). Implemented by each model."""
        raise NotImplementedError

    def _crm_inbox_record_domain(self):
        """:meth:`_crm_inbox_email_domain` without the emails unlinked from this record."""
        self.ensure_one()
        unlinked = self.env["crm.inbox.record.unlink"].sudo().search_fetch(
            [("res_model", "=", self._name), ("res_id", "=", self.id)],
            ["message_id", "inbox_message_id"])
        domain = self._crm_inbox_email_domain()
        message_ids = [u.message_id for u in unlinked if u.message_id]
        rows = unlinked.inbox_message_id.ids
        if message_ids:
            domain = expression.AND([domain, [("message_id", "not in", message_ids)]])
        if rows:
            domain = expression.AND([domain, [("id", "not in", rows)]])
        return domain

    def _crm_inbox_check_reader(self):
        self.ensure_one()
        self.check_access("read")
        if not self.env.user.has_group("crm_inbox.group_crm_inbox_user"):
            raise AccessError(self.env._("Only Inbox users can see the emails of a contact."))

    @api.depends_context("uid", "allowed_company_ids")
    def _compute_crm_inbox_email_count(self):
        Message = self.env["crm.inbox.message"].sudo().with_context(active_test=False)
        inbox_user = self.env.user.has_group("crm_inbox.group_crm_inbox_user")
        level = self.env["crm.inbox.message"]._crm_inbox_level_domain() if inbox_user else None
        for record in self:
            if not record.id or not inbox_user:
                record.crm_inbox_email_count = 0
                continue
            record.crm_inbox_email_count = Message.search_count(
                expression.AND([record._crm_inbox_record_domain(), level]))

    def crm_inbox_get_emails(self):
        """This record's emails in all mailboxes, each at the level its account allows.

        See ``crm.inbox.message._crm_inbox_visible_emails``; the caller must be able
        to read the record.
        """
        self._crm_inbox_check_reader()
        return self.env["crm.inbox.message"]._crm_inbox_visible_emails(
            self._crm_inbox_record_domain())

    def _crm_inbox_chatter_fetch(self, before=None, after=None, min_date=None,
                                 search_term=None, limit=30):
        """A page of this record's emails for its chatter, newest first.

        :param before: ``[date, id]`` (date as ``"YYYY-MM-DD HH:MM:SS"``, UTC): only
            emails strictly older than this cursor (ordered by date, then id).
        :param after: ``[date, id]``: only emails strictly newer; the page is then the
            oldest of those (so it joins what the chatter holds without a gap).
        :param min_date: ``"YYYY-MM-DD HH:MM:SS"``: only emails of this date or newer
            (the oldest Odoo message of the page the chatter just loaded).
        :param search_term: words looked up in subject, sender and recipients, and in
            the body only of the emails the user sees in full.
        :param limit: page size, at most :data:`MAX_CHATTER_PAGE`.
        :returns: ``{"emails": [row], "has_more": bool}`` with the rows of
            ``_crm_inbox_visible_emails`` (dates as strings), newest first; with
            *search_term*, also ``"count"``.
        :raises AccessError: the user cannot read the record, or is no Inbox user.
        :raises UserError: a malformed cursor or date.
        """
        self._crm_inbox_check_reader()
        Message = self.env["crm.inbox.message"]
        try:
            limit = max(1, min(int(limit or 30), MAX_CHATTER_PAGE))
        except (TypeError, ValueError) as exc:
            raise UserError(self.env._("The page size must be a number.")) from exc
        domain = self._crm_inbox_record_domain()
        cursor_domain = []
        if before:
            date, row_id = self._crm_inbox_cursor(before)
            cursor_domain.append(["|", ("date", "<", date), "&", ("date", "=", date),
                                  ("id", "<", row_id)])
        if after:
            date, row_id = self._crm_inbox_cursor(after)
            cursor_domain.append(["|", ("date", ">", date), "&", ("date", "=", date),
                                  ("id", ">", row_id)])
        if min_date:
            cursor_domain.append([("date", ">=", self._crm_inbox_date(min_date))])
        if search_term:
            domain = expression.AND([domain, self._crm_inbox_search_domain(search_term)])
        page_domain = expression.AND([domain, *cursor_domain])
        order = "date asc, id asc" if after else "date desc, id desc"
        rows = Message._crm_inbox_visible_emails(page_domain, limit=limit + 1, order=order)
        has_more = len(rows) > limit
        rows = rows[:limit]
        if after:
            rows.reverse()
        for row in rows:
            row["date"] = fields.Datetime.to_string(row["date"]) if row["date"] else False
        result = {"emails": rows, "has_more": has_more}
        if search_term:
            result["count"] = Message.sudo().with_context(active_test=False).search_count(
                expression.AND([domain, Message._crm_inbox_level_domain()]))
        return result

    def _crm_inbox_cursor(self, cursor):
        try:
            date, row_id = cursor
            return self._crm_inbox_date(date), int(row_id)
        except (TypeError, ValueError) as exc:
            raise UserError(self.env._(
                "The email cursor must be [date, id], e.g. [\"2026-11-18 08:00:00\", 42].")) from exc

    def _crm_inbox_date(self, value):
        try:
            date = fields.Datetime.to_datetime(value)
        except (TypeError, ValueError) as exc:
            raise UserError(self.env._(
                "“%(value)s” is not a date: write it as YYYY-MM-DD HH:MM:SS (UTC).",
                value=value)) from exc
        if not date:
            raise UserError(self.env._("A date is missing in the email cursor."))
        return date

    @api.model
    def _crm_inbox_search_domain(self, search_term):
        """Emails matching every word of *search_term*: subject, sender and recipients
        at any level, the body only where the user sees the email in full (a subject
        and metadata level never reveals what the body says)."""
        Message = self.env["crm.inbox.message"]
        full = Message._crm_inbox_level_domain(levels=("full",))
        words = [w for w in (search_term or "").split() if w][:10]
        domain = []
        for word in words:
            domain = expression.AND([domain, expression.OR([
                [("subject", "ilike", word)], [("email_from", "ilike", word)],
                [("email_to", "ilike", word)], [("email_cc", "ilike", word)],
                expression.AND([full, expression.OR([
                    [("body_text", "ilike", word)], [("body_html", "ilike", word)]])]),
            ])])
        return domain

    def crm_inbox_unlink_email(self, inbox_message_id):
        """Unlink an email shown in this record's chatter, for good.

        Every copy with the same Message-ID (other folders and mailboxes, a later
        re-sync) stays out of this record's chatter, its search and its count.

        :param inbox_message_id: id of the ``crm.inbox.message`` shown.
        :raises AccessError: the user cannot edit the record, or does not see the email
            on it.
        """
        self._crm_inbox_check_reader()
        self.check_access("write")
        Message = self.env["crm.inbox.message"]
        message = Message.sudo().with_context(active_test=False).search(expression.AND([
            self._crm_inbox_record_domain(), [("id", "=", int(inbox_message_id))],
            Message._crm_inbox_level_domain()]), limit=1)
        if not message:
            raise AccessError(self.env._("This email is not shown on %(record)s.",
                                         record=self.display_name))
        self.env["crm.inbox.record.unlink"].sudo().create({
            "res_model": self._name, "res_id": self.id,
            "message_id": message.message_id or False,
            "inbox_message_id": False if message.message_id else message.id,
        })
        return True

    def action_crm_inbox_open_inbox(self):
        """The Inbox (client action ``crm_inbox.client``) filtered on this record."""
        self.ensure_one()
        key = "crm_inbox_lead_id" if self._name == "crm.lead" else "crm_inbox_partner_id"
        return {
            "type": "ir.actions.client",
            "tag": "crm_inbox.client",
            "name": self.env._("Emails of %(record)s", record=self.display_name),
            "context": {key: self.id},
        }
