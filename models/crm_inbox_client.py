"""The read RPCs of the mail client (the ``crm_inbox.client`` action).

All of them run as the current user: conversations, folders and messages come
from ORM searches, so the record rules decide what a user sees (own mailbox,
shared inbox member, administrators on shared inboxes, multi-company). The one
exception is the contact and lead scope, which also lists the conversations of
other accounts the user cannot open, at their account's "Visible on contacts and
leads" level (``full`` or ``metadata``; ``none`` leaves them out), exactly like
``crm.inbox.message._crm_inbox_visible_emails``: at ``metadata`` level only the
subject, date and addresses, never a snippet, a body or an attachment.

Each RPC issues a fixed number of SQL queries, whatever the page or the length
of the thread (``tests/test_inbox_client_api.py`` asserts it), and the search
runs on ``crm.inbox.conversation.search_text`` through a trigram index
(``benchmarks/bench_inbox.py`` measures the three).

Dates are returned as ISO 8601 UTC strings (``"2024-12-02T10:00:00Z"``).
"""

import json
import logging
import re
from email.utils import getaddresses

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import SQL

from ..engine.mime import normalize_email
from ..engine.quote import snippet as quote_snippet
from ..engine.quote import split_html, split_text
from ..engine.search import escape_like, fold
from .crm_inbox_account import MANAGER_GROUP
from .crm_inbox_account_sharing import PERSONAL_READER_GROUP
from .mail_render import INLINE_IMAGE_TYPES, render_mail_html

_logger = logging.getLogger(__name__)

#: IMAP special-use flag -> the client's folder role.
ROLES = {"\\Inbox": "inbox", "\\Sent": "sent", "\\Archive": "archive", "\\Trash": "trash",
         "\\Junk": "junk", "\\Drafts": "drafts"}
_ROLE_ORDER = {"inbox": 0, "drafts": 1, "sent": 2, "archive": 3, "junk": 4, "trash": 5}
#: The most rows one inbox_list call returns.
MAX_LIMIT = 200
#: The most messages one inbox_thread call returns (the newest ones).
MAX_THREAD = 500
#: A search first looks at this many newest conversations of the list: a common word
#: fills the page there, without checking every match of the whole mailbox.
SEARCH_WINDOW = 2000
#: A search counts its results up to this number (``total_exact`` False beyond).
SEARCH_COUNT_CAP = 1000
_SEARCH_TERMS = re.compile(r'"([^"]+)"|(\S+)')


def _iso(value):
    """A naive UTC datetime as ``"YYYY-MM-DDTHH:MM:SSZ"``, ``False`` for none."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else False


def _parse_addresses(value):
    """``[(name, email)]`` of a stored address header (``"Name <a@b>, c@d"``)."""
    return [(name.strip(), addr.strip()) for name, addr in getaddresses([value or ""])
            if addr.strip()]


def search_terms(search):
    """The words of a search box (``"quoted phrases"`` kept whole), at most 8.

    :param search: ``str``; ``""`` gives ``[]``.
    """
    terms = []
    for quoted, word in _SEARCH_TERMS.findall(search or ""):
        term = (quoted or word).strip()
        if term and term not in terms:
            terms.append(term)
    return terms[:8]


class CrmInboxAccount(models.Model):
    _inherit = "crm.inbox.account"

    def _client_readers(self):
        """The internal users who can read this account's mail (``res.users``, sudo)."""
        self.ensure_one()
        account = self.sudo()
        Users = self.env["res.users"].sudo()
        candidates = Users | account.user_id
        if account.account_type == "personal":
            readers = self.env.ref(PERSONAL_READER_GROUP, raise_if_not_found=False)
            if readers:
                candidates |= readers.sudo().users
        else:
            candidates |= account.member_ids.user_id | account.member_ids.group_id.users
            candidates |= self.env.ref(MANAGER_GROUP).sudo().users
        candidates = candidates.filtered(
            lambda u: u.active and not u.share and account.company_id in u.company_ids)
        return candidates.filtered(lambda u: account._crm_inbox_access_level(u))


class CrmInboxMessage(models.Model):
    _inherit = "crm.inbox.message"

    search_text = fields.Text(
        readonly=True, copy=False,
        help="Subject, addresses (names and emails), attachment names and the new text "
        "of the body, folded (lower case, no accents), for the mail client's search; "
        "maintained by crm.inbox.conversation._refresh_summary().")

    def init(self):  # pylint: disable=missing-return
        super().init()
        cr = self.env.cr
        try:
            with cr.savepoint():
                cr.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception:  # noqa: BLE001 - no extension: the search still works, unindexed
            _logger.warning("crm_inbox: pg_trgm is not available: the mail search is not "
                            "indexed (CREATE EXTENSION pg_trgm as a superuser)")
        # the search runs on crm_inbox_conversation.search_text (one row per result)
        cr.execute("""
            DROP INDEX IF EXISTS crm_inbox_message_search_text_trgm;
            DROP INDEX IF EXISTS crm_inbox_message_unread_idx;
            CREATE INDEX IF NOT EXISTS crm_inbox_message_unread_folder_idx
                ON crm_inbox_message (folder_id, conversation_id) WHERE is_read IS NOT TRUE;
        """)


class CrmInboxConversation(models.Model):
    _inherit = "crm.inbox.conversation"

    @api.model
    def _client_notify_new_mail(self, account, conversation_ids):
        """Tell every user who can read *account* that a sync stored new mail in it.

        Called by the sync right before it commits a batch that stored messages: one
        bus notification ``crm_inbox/new_mail`` ``{"account_id": id,
        "conversation_ids": [ids]}`` per reader, on the reader's own channel (their
        partner), delivered when the transaction commits. Readers: the owner,
        members (users and groups' users), inbox administrators for shared accounts,
        holders of "read personal mail" for personal ones; only users of the
        account's company (:meth:`crm.inbox.account._client_readers`).

        :param account: ``crm.inbox.account`` record; :param conversation_ids: ids.
        """
        conv_ids = self.sudo().browse(sorted(set(conversation_ids))).exists().ids
        if not conv_ids:
            return
        payload = {"account_id": account.id, "conversation_ids": conv_ids}
        for user in account._client_readers():
            user._bus_send("crm_inbox/new_mail", payload)

    def init(self):  # pylint: disable=missing-return
        super().init()
        cr = self.env.cr
        cr.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cr.fetchone():
            cr.execute("""
                CREATE INDEX IF NOT EXISTS crm_inbox_conversation_search_text_trgm
                    ON crm_inbox_conversation USING gin (search_text gin_trgm_ops)
            """)
        # list order of the client (newest first, as the ORM's "desc": nulls first)
        cr.execute("""
            DROP INDEX IF EXISTS crm_inbox_conversation_client_order_idx;
            CREATE INDEX IF NOT EXISTS crm_inbox_conversation_list_order_idx
                ON crm_inbox_conversation (last_message_date DESC, id DESC);
            CREATE INDEX IF NOT EXISTS crm_inbox_conversation_folder_rel_folder_idx
                ON crm_inbox_conversation_folder_rel (folder_id, conversation_id);
            CREATE INDEX IF NOT EXISTS crm_inbox_conversation_unread_idx
                ON crm_inbox_conversation (account_id, user_id) WHERE is_unread;
            CREATE INDEX IF NOT EXISTS crm_inbox_conversation_flagged_idx
                ON crm_inbox_conversation (account_id) WHERE is_flagged;
        """)
        # conversations stored before the summary columns existed
        cr.execute("SELECT id FROM crm_inbox_conversation "
                   "WHERE counterpart_names IS NULL AND includes_me IS NULL AND email_count > 0")
        todo = [r[0] for r in cr.fetchall()]
        for start in range(0, len(todo), 1000):
            self.browse(todo[start:start + 1000])._refresh_summary()

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    @api.model
    def _client_check_user(self):
        if not self.env.user.has_group("crm_inbox.group_crm_inbox_user"):
            raise AccessError(self.env._("Only Inbox users can read the mail client."))

    @api.model
    def _client_scope_domain(self, scope):
        """The domain of a list scope (see :meth:`inbox_list`), and whether it is the
        contact/lead scope (other accounts' conversations at their visibility level).

        :raises UserError: an unknown scope.
        :raises AccessError: the contact or lead is not readable.
        """
        scope = scope or {"smart": "all"}
        if scope.get("folder_id"):
            return [("folder_ids", "in", [int(scope["folder_id"])])], False
        if scope.get("account_id"):
            return [("account_id", "=", int(scope["account_id"]))], False
        if scope.get("partner_id"):
            partner = self.env["res.partner"].browse(int(scope["partner_id"]))
            partner.check_access("read")
            return [("partner_ids", "in", partner.ids)], True
        if scope.get("lead_id"):
            lead = self.env["crm.lead"].browse(int(scope["lead_id"]))
            lead.check_access("read")
            return [("lead_ids", "in", lead.ids)], True
        smart = scope.get("smart", "all")
        domains = {
            "all": [],
            "assigned": [("user_id", "=", self.env.uid)],
            "unassigned": [("user_id", "=", False)],
            "flagged": [("is_flagged", "=", True)],
            "unread": [("is_unread", "=", True)],
        }
        if smart not in domains:
            raise UserError(self.env._(
                "Unknown list “%(scope)s”: use a folder, an account, a contact, a lead or one "
                "of all, assigned, unassigned, flagged, unread.", scope=smart))
        return domains[smart], False

    @api.model
    def _client_search_domain(self, search, metadata=False):
        """Every word of *search* in one of the conversation's messages (subject,
        names and addresses, attachment names, new body text), case and accents
        ignored (``engine.search.fold`` on both sides, a trigram index on
        ``crm.inbox.conversation.search_text``).

        The words are looked up in ``crm.inbox.conversation.search_text`` (the
        messages' search columns together, so two words may come from two emails of
        the thread). With *metadata*, only the subject and the participants' addresses
        are searched (conversations seen at metadata level: their bodies must not
        answer a search).
        """
        terms = [fold(t) for t in search_terms(search)]
        terms = [t for t in terms if t]
        if metadata:
            return expression.AND([
                ["|", ("name", "ilike", term), ("participant_emails", "ilike", term)]
                for term in terms] or [[]])
        return expression.AND([
            [("search_text", "=like", f"%{escape_like(term)}%")] for term in terms
        ] or [[]])

    @api.model
    def _client_visible(self, domain, search):
        """``(system model, domain)`` for the contact/lead scope: the user's own
        conversations, plus those of their companies' accounts whose visibility on
        contacts and leads is not ``none`` (a search looks into the bodies of those
        at ``full`` level only)."""
        system = self.sudo()
        own = self._search(self._client_search_domain(search))
        full = self._client_search_domain(search)
        meta = self._client_search_domain(search, metadata=True)
        return system, expression.AND([domain, [
            ("company_id", "in", self.env.companies.ids),
            "|", "|", ("id", "in", own),
            "&", ("account_id.contact_visibility", "=", "full"), *expression.normalize_domain(
                full),
            "&", ("account_id.contact_visibility", "=", "metadata"),
            *expression.normalize_domain(meta),
        ]])

    @api.model
    def _client_levels(self, conversations, contact_scope):
        """``{conversation id: "full"|"metadata"}`` for the current user."""
        if not contact_scope:
            return dict.fromkeys(conversations.ids, "full")
        own = set(self.search([("id", "in", conversations.ids)]).ids)
        return {c.id: "full" if c.id in own else c.account_id.contact_visibility
                for c in conversations}

    def _client_leads(self):
        """``{conversation id: [{"id", "name"}]}`` of the linked leads the current
        (real) user may read; *self* may be sudo (already checked conversations)."""
        system = self.sudo()
        lead_ids = set(system.lead_ids.ids)
        readable = self.env(su=False)["crm.lead"].search_fetch(
            [("id", "in", list(lead_ids))], ["name"])
        names = {lead.id: lead.name for lead in readable}
        return {c.id: [{"id": lid, "name": names[lid]} for lid in c.lead_ids.ids
                       if lid in names] for c in system}

    # ------------------------------------------------------------------
    # RPCs
    # ------------------------------------------------------------------
    @api.model
    def inbox_sidebar(self):
        """The left pane: accounts with their folders and unread counts, smart folders.

        Unread counts are numbers of conversations with unread mail (in that folder,
        that account); ``smart.assigned`` / ``smart.unassigned`` count unread
        conversations assigned to the user / to nobody, ``smart.flagged`` every
        flagged conversation.

        :returns: ``{"accounts": [{"id", "name", "email", "shared", "state",
            "state_label", "paused", "unread", "folders": [{"id", "name", "role",
            "unread"}], "move_targets": [{"id", "name", "role"}]}], "smart":
            {"assigned", "unassigned", "flagged"}, "last_sync": iso|False}``;
            ``folders`` are the synced folders, ``move_targets`` every folder of the
            mailbox (a conversation can be moved to a folder that is not synced).
        """
        self._client_check_user()
        every_folder = self.env["crm.inbox.folder"].search_fetch(
            [("present_on_server", "=", True)],
            ["name", "special_use", "account_id", "sequence", "sync_enabled", "is_local"])
        # synced folders, and those a forwarding account holds in Odoo only
        folders = every_folder.filtered(lambda f: f.sync_enabled or f.is_local)
        accounts = self.env["crm.inbox.account"].search_fetch(
            ["|", ("id", "in", folders.account_id.ids), ("user_id", "=", self.env.uid)],
            ["name", "email", "account_type", "state", "last_sync_date", "sequence"],
            order="sequence, id")
        # accounts administrators see the settings of, without their mail, are left out
        accounts = accounts.filtered(
            lambda a: a.id in folders.account_id.ids or a.user_id.id == self.env.uid)
        folder_unread, account_unread = {}, {}
        if folders:
            cr = self.env.cr
            cr.execute("""
                SELECT folder_id, count(DISTINCT conversation_id)
                  FROM crm_inbox_message
                 WHERE folder_id = ANY(%s) AND is_read IS NOT TRUE
                   AND conversation_id IS NOT NULL
                 GROUP BY folder_id
            """, [folders.ids])
            folder_unread = dict(cr.fetchall())
        unread = self._read_group([("is_unread", "=", True)], ["account_id"], ["__count"])
        account_unread = {account.id: count for account, count in unread}
        state_labels = dict(self.env["crm.inbox.account"]._fields["state"]._description_selection(
            self.env))
        result = []
        for account in accounts:
            mine = folders.filtered(lambda f, a=account: f.account_id == a)
            rows = [{
                "id": f.id,
                "name": f.display_label or f.name,
                "role": ROLES.get(f.special_use, False),
                "unread": folder_unread.get(f.id, 0),
            } for f in mine]
            rows.sort(key=lambda r: (_ROLE_ORDER.get(r["role"], 9), r["name"].casefold()))
            targets = [{"id": f.id, "name": f.display_label or f.name,
                        "role": ROLES.get(f.special_use, False)}
                       for f in every_folder if f.account_id == account]
            targets.sort(key=lambda r: (_ROLE_ORDER.get(r["role"], 9), r["name"].casefold()))
            result.append({
                "id": account.id,
                "name": account.name,
                "email": account.email,
                "shared": account.account_type == "shared",
                "state": account.state,
                "state_label": state_labels.get(account.state, account.state),
                "paused": account.state == "auth_failed",
                "unread": account_unread.get(account.id, 0),
                "folders": rows,
                "move_targets": targets,
            })
        smart = {
            "assigned": self.search_count([("is_unread", "=", True),
                                           ("user_id", "=", self.env.uid)]),
            "unassigned": self.search_count([("is_unread", "=", True),
                                             ("user_id", "=", False)]),
            "flagged": self.search_count([("is_flagged", "=", True)]),
        }
        dates = [a.last_sync_date for a in accounts if a.last_sync_date]
        return {"accounts": result, "smart": smart, "last_sync": _iso(max(dates)) if dates
                else False}

    @api.model
    def inbox_list(self, scope=None, search="", offset=0, limit=50):
        """One page of the conversation list, newest first.

        :param scope: ``{"folder_id": id}``, ``{"account_id": id}``, ``{"partner_id":
            id}``, ``{"lead_id": id}`` or ``{"smart": "all"|"assigned"|"unassigned"|
            "flagged"|"unread"}`` (default: all).
        :param search: words that must all appear in the conversation (subject, body
            text, participants' names and addresses, attachment names).
        :param offset: rows to skip; :param limit: rows to return (at most 200).
        :returns: ``{"rows": [{"id", "subject", "snippet", "counterparts", "count",
            "date", "unread", "flagged", "has_attachment", "account_id", "leads",
            "assignee", "level"}], "total", "total_exact", "offset", "limit",
            "scope_label"}``; ``scope_label`` names the contact or lead of such a scope
            (else ``False``);
            rows at level ``metadata`` have an empty snippet; with a search, ``total``
            stops at SEARCH_COUNT_CAP (then ``total_exact`` is False: "1000+").
        :raises AccessError: not an Inbox user, or the contact/lead is not readable.
        """
        self._client_check_user()
        offset = max(int(offset or 0), 0)
        limit = min(max(int(limit or 50), 1), MAX_LIMIT)
        domain, contact_scope = self._client_scope_domain(scope)
        fnames = ["name", "snippet", "counterpart_names", "includes_me", "email_count",
                  "last_message_date", "is_unread", "is_flagged", "has_attachment",
                  "account_id", "user_id"]
        order = "last_message_date desc, id desc"
        has_search = bool(search_terms(search))
        model = self
        if contact_scope:
            model, full_domain = self._client_visible(domain, search)
        else:
            full_domain = expression.AND([domain, self._client_search_domain(search)])
        page = None
        if has_search and not contact_scope:
            page = self._client_search_window(domain, search, offset, limit)
        if page is None:
            page = model.search_fetch(full_domain, fnames, offset=offset, limit=limit,
                                      order=order)
        else:
            page.fetch(fnames)
        if has_search:
            total = model.search_count(full_domain, limit=SEARCH_COUNT_CAP)
            total_exact = total < SEARCH_COUNT_CAP
        else:
            total, total_exact = model.search_count(full_domain), True
        levels = self._client_levels(page, contact_scope)
        leads = page._client_leads()
        # assignee names: res.users (all internal users may read them)
        users = self.env["res.users"].sudo().browse(page.user_id.ids)
        users.fetch(["name"])
        me = self.env._("me")
        rows = []
        for conv in page:
            level = levels.get(conv.id, "metadata")
            who = conv.counterpart_names or ""
            if conv.includes_me:
                who = f"{who}, {me}" if who else me
            rows.append({
                "id": conv.id,
                "subject": conv.name,
                "snippet": (conv.snippet or "") if level == "full" else "",
                "counterparts": who,
                "count": conv.email_count,
                "date": _iso(conv.last_message_date),
                "unread": conv.is_unread,
                "flagged": conv.is_flagged,
                "has_attachment": conv.has_attachment if level == "full" else False,
                "account_id": conv.account_id.id,
                "leads": leads.get(conv.id, []),
                "assignee": {"id": conv.user_id.id, "name": users.browse(conv.user_id.id).name}
                if conv.user_id else False,
                "level": level,
            })
        scope_label = False
        if contact_scope:
            # "with <contact or lead>": the list is the record's mail (access checked above)
            scope = scope or {}
            record = (self.env["res.partner"].browse(int(scope["partner_id"]))
                      if scope.get("partner_id")
                      else self.env["crm.lead"].browse(int(scope["lead_id"])))
            scope_label = record.display_name
        return {"rows": rows, "total": total, "total_exact": total_exact, "offset": offset,
                "limit": limit, "scope_label": scope_label}

    @api.model
    def _client_search_window(self, domain, search, offset, limit):
        """The page of a search when it lies within the SEARCH_WINDOW newest
        conversations of *domain* (one query; the words are checked on those rows
        only), else ``None`` (the caller runs the search on the whole list).

        :returns: conversations in list order, or ``None``.
        """
        if offset + limit > SEARCH_WINDOW:
            return None
        terms = [fold(t) for t in search_terms(search)]
        terms = [t for t in terms if t]
        if not terms:
            return None
        window = self._search(domain, order="last_message_date desc, id desc",
                              limit=SEARCH_WINDOW)
        table = self._table
        inner = window.select(SQL.identifier(table, "id"),
                              SQL.identifier(table, "last_message_date"),
                              SQL.identifier(table, "search_text"))
        # the window is a LIMIT subquery: PostgreSQL filters its rows, it cannot push
        # the LIKE into a scan of the whole table
        self.env.cr.execute(SQL(
            "SELECT w.id FROM (%s) w WHERE %s "
            "ORDER BY w.last_message_date DESC, w.id DESC LIMIT %s OFFSET %s",
            inner,
            SQL(" AND ").join(SQL("w.search_text LIKE %s", f"%{escape_like(t)}%")
                              for t in terms),
            limit, offset))
        ids = [r[0] for r in self.env.cr.fetchall()]
        if len(ids) < limit:
            return None
        return self.browse(ids)

    @api.model
    def inbox_thread(self, conversation_id):
        """A conversation with its messages, oldest first, for the reading pane.

        Bodies are split into what is new (``body_main``) and what a toggle folds
        (``body_quoted``: quoted history, signature); HTML ones went through the mail
        renderer (``models/mail_render.py``: sanitized last, remote content blocked
        unless allowed for that message) and are shown only in the sandboxed frame;
        text ones are plain text. Copies of one email in several folders are shown
        once. At level ``metadata`` bodies are ``""`` and attachments ``[]``.

        :param conversation_id: ``int``.
        :returns: ``{"conversation": {"id", "subject", "account_id", "account_name",
            "assignee", "leads", "partners", "level", "can_send", "folder_ids"},
            "messages": [{"id", "date", "from", "to", "cc", "subject", "snippet",
            "unread", "flagged", "direction", "is_text", "body_main", "body_quoted",
            "has_remote_content", "remote_allowed", "attachments", "auth_warning",
            "folder"}], "outbox": [...]}`` with addresses as ``{"name", "email",
            "partner_id"}``; outbox: the composer's mails not sent yet or failed
            (``mail.mail._crm_inbox_outbox``).
        :raises AccessError: the user may not see this conversation.
        """
        self._client_check_user()
        conv_id = int(conversation_id)
        conv = self.search([("id", "=", conv_id)])
        level = "full"
        if not conv:
            conv, level = self._client_thread_by_contact(conv_id)
        system = conv.sudo()
        system.fetch(["name", "account_id", "user_id", "lead_ids", "partner_ids", "folder_ids"])
        account = system.account_id
        account.fetch(["name", "email", "account_type", "user_id"])
        own = level == "full" and conv.id == conv_id and not conv.env.su
        Message = self.env["crm.inbox.message"] if own else self.env["crm.inbox.message"].sudo()
        msg_fields = ["date", "subject", "email_from", "email_to", "email_cc", "is_read",
                      "is_flagged", "direction", "body_text", "body_html", "message_id",
                      "remote_content_allowed", "cid_map", "auth_warning", "folder_id",
                      "attachment_count"]
        rows = Message.search_fetch(
            [("conversation_id", "=", conv_id)], msg_fields, order="date desc, id desc",
            limit=MAX_THREAD)
        rows = rows[::-1]
        # one copy per Message-ID: unread/flagged when any copy is
        copies = {}
        for row in rows:
            copies.setdefault(row.message_id or f"id:{row.id}", []).append(row)
        shown = [group[0] for group in copies.values()]
        # attachments of every shown message, one query
        attachments = {}
        if own and shown:
            for att in self.env["ir.attachment"].sudo().search_fetch(
                    [("res_model", "=", "crm.inbox.message"),
                     ("res_id", "in", [m.id for m in shown])],
                    ["name", "mimetype", "file_size", "res_id"], order="id"):
                attachments.setdefault(att.res_id, []).append(att)
        # contacts of every address, one query
        emails = set()
        parsed = {}
        for row in shown:
            parsed[row.id] = {key: _parse_addresses(row[field]) for key, field in
                              (("from", "email_from"), ("to", "email_to"), ("cc", "email_cc"))}
            for addrs in parsed[row.id].values():
                emails.update(normalize_email(e) for _n, e in addrs)
        emails.discard("")
        partner_by_email = {}
        if emails:
            for partner in self.env["res.partner"].search_fetch(
                    [("email_normalized", "in", list(emails))], ["email_normalized"],
                    order="id"):
                partner_by_email.setdefault(partner.email_normalized, partner.id)

        def addr(name, email):
            return {"name": name, "email": email,
                    "partner_id": partner_by_email.get(normalize_email(email), False)}

        folders = self.env["crm.inbox.folder"].sudo().browse({m.folder_id.id for m in shown})
        folders.fetch(["name", "special_use"])
        out = []
        for row in shown:
            group = copies[row.message_id or f"id:{row.id}"]
            data = {
                "id": row.id,
                "date": _iso(row.date),
                "from": (addr(*parsed[row.id]["from"][0]) if parsed[row.id]["from"]
                         else {"name": "", "email": "", "partner_id": False}),
                "to": [addr(n, e) for n, e in parsed[row.id]["to"]],
                "cc": [addr(n, e) for n, e in parsed[row.id]["cc"]],
                "subject": row.subject or "",
                "snippet": "",
                "unread": any(not m.is_read for m in group),
                "flagged": any(m.is_flagged for m in group),
                "direction": row.direction or "in",
                "is_text": not row.body_html,
                "body_main": "",
                "body_quoted": "",
                "has_remote_content": False,
                "remote_allowed": bool(row.remote_content_allowed) and own,
                "attachments": [],
                "auth_warning": row.auth_warning or False,
                "folder": {"id": row.folder_id.id,
                           "name": row.folder_id.display_label or row.folder_id.name},
            }
            if level == "full":
                # cid: images only where the user may open the message (as on contacts)
                data.update(self._client_body(row, attachments.get(row.id, []),
                                              with_cids=own))
            out.append(data)
        leads = system._client_leads()
        own_email = normalize_email(account.email)
        partners = self.env["res.partner"].search_fetch(
            [("id", "in", system.partner_ids.ids)], ["name", "email", "email_normalized"],
            order="name").filtered(lambda p: p.email_normalized != own_email)
        can_send = level == "full" and account._crm_inbox_access_level() in ("reply", "manage")
        assignee = system.user_id
        return {
            "conversation": {
                "id": conv_id,
                "subject": system.name,
                "account_id": account.id,
                "account_name": account.name,
                "assignee": {"id": assignee.id, "name": assignee.name} if assignee else False,
                "leads": leads.get(conv_id, []),
                "partners": [{"id": p.id, "name": p.name, "email": p.email or ""}
                             for p in partners],
                "level": level,
                "can_send": can_send,
                "folder_ids": system.folder_ids.ids if level == "full" else [],
            },
            "messages": out,
            # the composer's mails not sent yet or failed (Edit / Cancel / Edit and resend)
            "outbox": self.env["mail.mail"]._crm_inbox_outbox(system) if level == "full" else [],
        }

    @api.model
    def _client_thread_by_contact(self, conv_id):
        """The conversation *conv_id* seen through a contact or lead (another account's
        mail at its visibility level). :returns: ``(sudo record, level)``.

        :raises AccessError: no readable contact/lead links it, or its level is none.
        """
        conv = self.sudo().browse(conv_id).exists()
        denied = AccessError(self.env._(
            "You cannot see this conversation: ask the owner of its mailbox to share it."))
        if not conv or conv.company_id not in self.env.companies:
            raise denied
        level = conv.account_id.contact_visibility
        if level not in ("full", "metadata"):
            raise denied
        readable = self.env["res.partner"].search_count(
            [("id", "in", conv.partner_ids.ids)], limit=1) or \
            self.env["crm.lead"].search_count([("id", "in", conv.lead_ids.ids)], limit=1)
        if not readable:
            raise denied
        return conv, level

    @api.model
    def _client_body(self, row, attachments, with_cids=True):
        """``body_main``, ``body_quoted``, ``snippet``, ``has_remote_content`` and
        ``attachments`` of message *row* (fields already fetched), no query.

        :param with_cids: the user may open the message itself (own mailbox, shared
            inbox member): its inline images and its consent to remote images apply;
            otherwise (another account's mail seen through a contact at level
            ``full``) nothing remote and no inline image, as on contacts.
        """
        cid_map = json.loads(row.cid_map or "{}") if with_cids else {}
        allow_remote = bool(row.remote_content_allowed) and with_cids
        by_id = {a.id: a for a in attachments}
        inline_ids = {att_id for att_id in cid_map.values()
                      if att_id in by_id and by_id[att_id].mimetype in INLINE_IMAGE_TYPES}
        cid_urls = {cid: f"/web/image/{att_id}" for cid, att_id in cid_map.items()
                    if att_id in inline_ids}
        has_remote = False
        if row.body_html:
            main, quoted = split_html(str(row.body_html))
            main, remote_main = render_mail_html(main, cid_urls,
                                                 allow_remote=allow_remote)
            quoted, remote_quoted = render_mail_html(quoted, cid_urls,
                                                     allow_remote=allow_remote)
            main, quoted = str(main), str(quoted)
            # "Show images" is offered only where the user may give that consent
            has_remote = (remote_main or remote_quoted) and with_cids
            # an inline image shown in the body is not a chip too
            chips = [a for a in attachments if a.id not in inline_ids
                     or f"/web/image/{a.id}" not in main + quoted]
        else:
            main, quoted = split_text(row.body_text or "")
            chips = attachments
        return {
            "body_main": main,
            "body_quoted": quoted,
            "snippet": quote_snippet(row.body_text or ""),
            "has_remote_content": has_remote,
            "attachments": [{"id": a.id, "name": a.name, "mimetype": a.mimetype or "",
                             "size": a.file_size or 0} for a in chips],
        }
