"""The chatter's fetch route for synced emails (``static/src/chatter``).

``/crm_inbox/chatter/emails`` returns a page of the emails of one contact or lead,
each at the level its account allows, through
``crm.inbox.chatter.mixin._crm_inbox_chatter_fetch`` (the one level-checked read
path); nothing else is readable through it.
"""

from odoo import http
from odoo.http import request

#: Models whose chatter shows synced emails.
CHATTER_MODELS = ("res.partner", "crm.lead")


class CrmInboxChatterController(http.Controller):

    @http.route("/crm_inbox/chatter/emails", methods=["POST"], type="json", auth="user",
                readonly=True)
    def crm_inbox_chatter_emails(self, thread_model, thread_id, before=None, after=None,
                                 min_date=None, search_term=None, limit=30):
        """A page of the synced emails of a contact or lead, newest first.

        :param thread_model: ``"res.partner"`` or ``"crm.lead"``.
        :param thread_id: id of the record (the caller must be able to read it).
        :param before: ``[date, id]`` cursor: only older emails.
        :param after: ``[date, id]`` cursor: only newer emails (the oldest of them).
        :param min_date: ``"YYYY-MM-DD HH:MM:SS"`` (UTC): only emails of that date or later.
        :param search_term: words to look for (body only at the "full" level).
        :param limit: page size (at most 100).
        :returns: ``{"emails": [...], "has_more": bool, "enabled": bool}``; ``enabled``
            is False (and the list empty) for another model or a user without the Inbox.
        :raises AccessError: the record is not readable by the user.
        """
        empty = {"emails": [], "has_more": False, "enabled": False}
        if thread_model not in CHATTER_MODELS:
            return empty
        if not request.env.user.has_group("crm_inbox.group_crm_inbox_user"):
            return empty
        record = request.env[thread_model].browse(int(thread_id)).exists()
        if not record:
            return empty
        result = record._crm_inbox_chatter_fetch(
            before=before, after=after, min_date=min_date, search_term=search_term,
            limit=limit)
        result["enabled"] = True
        return result
