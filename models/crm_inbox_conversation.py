from datetime import timedelta
from email.utils import getaddresses

from odoo import api, fields, models

from ..engine.mime import normalize_email, normalize_subject
from ..engine.quote import snippet as quote_snippet
from ..engine.quote import split_text
from ..engine.search import fold

#: Counterpart names kept in the list's summary column.
MAX_COUNTERPARTS = 4


def counterpart_summary(own_email, messages):
    """Who the conversation is with, as a mail client's list shows it.

    :param own_email: the account's address (any case).
    :param messages: ``(direction, email_from, email_to)`` tuples, oldest first;
        the address fields are stored header values (``"Name <a@b>, ..."``).
    :returns: ``(names, includes_me)``: the other party's display names (or
        addresses), distinct and oldest first, joined with ``", "`` (at most
        :data:`MAX_COUNTERPARTS`): the senders of received mail, or the recipients
        of our mail when nobody else wrote; *includes_me* when we wrote one of them.
    """
    own = normalize_email(own_email or "")
    senders, recipients, includes_me = {}, {}, False
    for direction, email_from, email_to in messages:
        for name, addr in getaddresses([email_from or ""]):
            key = normalize_email(addr) or addr.strip().lower()
            if not key:
                continue
            if key == own or direction == "out":
                includes_me = True
                for rname, raddr in getaddresses([email_to or ""]):
                    rkey = normalize_email(raddr) or raddr.strip().lower()
                    if rkey and rkey != own:
                        recipients.setdefault(rkey, rname.strip() or raddr.strip())
            else:
                senders.setdefault(key, name.strip() or addr.strip())
    names = list((senders or recipients).values())[:MAX_COUNTERPARTS]
    return ", ".join(names), includes_me

#: Replies whose headers were rewritten join a conversation with the same
#: normalized subject and a common participant within this many days.
SUBJECT_FALLBACK_DAYS = 30
#: Characters of the new text of each body kept in crm.inbox.message.search_text.
SEARCH_BODY_CHARS = 2000
#: Characters of crm.inbox.conversation.search_text (the emails' columns together).
SEARCH_CONVERSATION_CHARS = 30000


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
    folder_ids = fields.Many2many(
        "crm.inbox.folder", "crm_inbox_conversation_folder_rel", "conversation_id", "folder_id",
        string="Folders", readonly=True)
    partner_ids = fields.Many2many("res.partner", string="Contacts")
    participant_emails = fields.Text(
        readonly=True, help="Normalized addresses seen in the conversation, space-separated.")
    lead_ids = fields.Many2many("crm.lead", string="Leads")
    # summary of the emails, maintained in bulk by _refresh_summary() (not ORM computes:
    # those would cost several queries per synced message)
    last_message_date = fields.Datetime("Last message", index=True, readonly=True)
    email_count = fields.Integer("Emails", readonly=True)
    is_unread = fields.Boolean("Unread", readonly=True)
    is_flagged = fields.Boolean("Flagged", readonly=True)
    last_email_from = fields.Char("From", readonly=True)
    preview = fields.Char(readonly=True)
    counterpart_names = fields.Char(
        "With", readonly=True,
        help="The other party of the conversation (senders, or our recipients), "
        "maintained by _refresh_summary().")
    includes_me = fields.Boolean(readonly=True, help="One of the emails was sent by us.")
    has_attachment = fields.Boolean("Attachments", readonly=True)
    snippet = fields.Char(readonly=True,
                          help="The new text of the last email (quoted history folded).")
    search_text = fields.Text(
        readonly=True, copy=False,
        help="The search columns of the emails, oldest first (folded: lower case, no "
        "accents), for the mail client's search box; trigram index.")

    def _refresh_summary(self):
        """Recompute the email summary of these conversations in a few SQL statements."""
        ids = [i for i in self.ids if i]
        if not ids:
            return
        cr = self.env.cr
        self.env["crm.inbox.message"].flush_model()
        cr.execute("""
            UPDATE crm_inbox_conversation c
               SET email_count = s.cnt, is_unread = s.unread, is_flagged = s.flagged,
                   last_message_date = s.last_date, last_email_from = s.email_from,
                   preview = s.preview, has_attachment = s.has_attachment
              FROM (
                SELECT conversation_id,
                       count(*) AS cnt,
                       bool_or(NOT coalesce(is_read, false)) AS unread,
                       bool_or(coalesce(is_flagged, false)) AS flagged,
                       bool_or(coalesce(attachment_count, 0) > 0) AS has_attachment,
                       max(date) AS last_date,
                       (array_agg(email_from ORDER BY date DESC, id DESC))[1] AS email_from,
                       left(regexp_replace(
                           (array_agg(coalesce(body_text, '') ORDER BY date DESC, id DESC))[1],
                           '\\s+', ' ', 'g'), 140) AS preview
                  FROM crm_inbox_message
                 WHERE conversation_id = ANY(%(ids)s)
                 GROUP BY conversation_id
              ) s
             WHERE c.id = s.conversation_id;
            DELETE FROM crm_inbox_conversation_folder_rel WHERE conversation_id = ANY(%(ids)s);
            INSERT INTO crm_inbox_conversation_folder_rel (conversation_id, folder_id)
                 SELECT DISTINCT conversation_id, folder_id FROM crm_inbox_message
                  WHERE conversation_id = ANY(%(ids)s);
        """, {"ids": ids})
        self._refresh_search_text(ids)
        cr.execute("""
            UPDATE crm_inbox_conversation c SET search_text = left(s.text, %(cap)s)
              FROM (SELECT conversation_id,
                           string_agg(search_text, ' ' ORDER BY date, id) AS text
                      FROM crm_inbox_message
                     WHERE conversation_id = ANY(%(ids)s)
                     GROUP BY conversation_id) s
             WHERE c.id = s.conversation_id AND c.search_text IS DISTINCT FROM left(s.text, %(cap)s)
        """, {"ids": ids, "cap": SEARCH_CONVERSATION_CHARS})
        self._refresh_counterparts(ids)
        self.invalidate_recordset([
            "email_count", "is_unread", "is_flagged", "last_message_date", "last_email_from",
            "preview", "folder_ids", "has_attachment", "counterpart_names", "includes_me",
            "snippet", "search_text",
        ])
        self.env["crm.inbox.message"].invalidate_model(["search_text"])

    def _refresh_search_text(self, ids):
        """Fill ``crm.inbox.message.search_text`` of the new messages of conversations
        *ids* (once per message: one read, one write): subject, addresses, attachment
        names and the new text of the body (quoted history left out, at most
        SEARCH_BODY_CHARS characters), folded by ``engine.search.fold``."""
        cr = self.env.cr
        cr.execute("""
            SELECT m.id, m.subject, m.email_from, m.email_to, m.email_cc,
                   left(m.body_text, 20000),
                   (SELECT string_agg(a.name, ' ') FROM ir_attachment a
                     WHERE a.res_model = 'crm.inbox.message' AND a.res_id = m.id)
              FROM crm_inbox_message m
             WHERE m.conversation_id = ANY(%s) AND m.search_text IS NULL
        """, [ids])
        rows = cr.fetchall()
        if not rows:
            return
        texts = []
        for _id, subject, email_from, email_to, email_cc, body, attachments in rows:
            main = split_text(body or "")[0][:SEARCH_BODY_CHARS]
            texts.append(fold(" ".join(
                v for v in (subject, email_from, email_to, email_cc, attachments, main) if v)))
        cr.execute("""
            UPDATE crm_inbox_message m SET search_text = v.text
              FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::text[]) AS text) v
             WHERE m.id = v.id
        """, [[r[0] for r in rows], texts])

    def _refresh_counterparts(self, ids):
        """Counterpart names and snippet of conversations *ids*: one read, one write."""
        cr = self.env.cr
        cr.execute("""
            SELECT m.conversation_id, a.email, m.direction, m.email_from, m.email_to,
                   CASE WHEN row_number() OVER w = 1 THEN left(m.body_text, 4000) END
              FROM crm_inbox_message m
              JOIN crm_inbox_account a ON a.id = m.account_id
             WHERE m.conversation_id = ANY(%s)
            WINDOW w AS (PARTITION BY m.conversation_id ORDER BY m.date DESC, m.id DESC)
             ORDER BY m.conversation_id, m.date, m.id
        """, [ids])
        per_conv = {}
        for conv_id, own, direction, email_from, email_to, body in cr.fetchall():
            entry = per_conv.setdefault(conv_id, [own, [], ""])
            entry[1].append((direction, email_from, email_to))
            if body is not None:
                entry[2] = body
        if not per_conv:
            return
        conv_ids, names, mine, snippets = [], [], [], []
        for conv_id, (own, messages, body) in per_conv.items():
            who, includes_me = counterpart_summary(own, messages)
            conv_ids.append(conv_id)
            names.append(who or None)
            mine.append(includes_me)
            snippets.append(quote_snippet(body) or None)
        cr.execute("""
            UPDATE crm_inbox_conversation c
               SET counterpart_names = v.names, includes_me = v.mine, snippet = v.snippet
              FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::varchar[]) AS names,
                           unnest(%s::bool[]) AS mine, unnest(%s::varchar[]) AS snippet) v
             WHERE c.id = v.id
        """, [conv_ids, names, mine, snippets])

    @api.model
    def _thread_index(self, account, parsed_messages):
        """Map the Message-IDs a batch refers to onto their stored conversations.

        Two queries per batch, whatever its size.

        :returns: ``(by_message_id, by_parent)``: ``{Message-ID: conversation id}`` for
            every stored message named in In-Reply-To/References of the batch, and
            ``{Message-ID: conversation id}`` for stored messages that reply to a
            message of the batch (a reply synced before its parent).
        """
        refs = {r for m in parsed_messages for r in (m.in_reply_to, *m.references) if r}
        ids = [m.message_id for m in parsed_messages if m.message_id]
        by_message_id, by_parent = {}, {}
        cr = self.env.cr
        if refs:
            cr.execute(
                "SELECT message_id, conversation_id FROM crm_inbox_message "
                "WHERE account_id = %s AND message_id = ANY(%s) AND conversation_id IS NOT NULL",
                (account.id, list(refs)))
            by_message_id.update(cr.fetchall())
        if ids:
            cr.execute(
                "SELECT in_reply_to, conversation_id FROM crm_inbox_message "
                "WHERE account_id = %s AND in_reply_to = ANY(%s) AND conversation_id IS NOT NULL",
                (account.id, ids))
            by_parent.update(cr.fetchall())
        return by_message_id, by_parent

    @api.model
    def _subject_match(self, account, msg, date, emails):
        """A recent conversation a reply with rewritten headers belongs to, if any.

        Only for subjects with a reply prefix ("Re:", "AW:", ...): same normalized
        subject, a common participant, last message within SUBJECT_FALLBACK_DAYS.
        """
        subject = msg.subject or ""
        normalized = normalize_subject(subject)
        if not normalized or normalized == subject.strip().casefold():
            return self.browse()
        since = (date or fields.Datetime.now()) - timedelta(days=SUBJECT_FALLBACK_DAYS)
        candidates = self.search(
            [("account_id", "=", account.id), ("subject_normalized", "=", normalized),
             ("last_message_date", ">=", since)], order="last_message_date desc", limit=20)
        return candidates.filtered(
            lambda c: emails & set((c.participant_emails or "").split()))[:1]

    @api.model
    def _assign_batch(self, account, items):
        """Give each new message of a batch its conversation, creating the new ones.

        Threading (RFC 5322 §3.6.4): a message joins the conversation of any
        message it names in In-Reply-To/References, or of a message that
        already names it (also within the batch); failing that, a reply whose
        headers were rewritten joins a recent conversation with the same
        normalized subject and a common participant; else it starts one.

        :param items: list of ``(ParsedMessage, vals)``; ``vals`` (the message
            values) get their ``conversation_id``. The context key
            ``crm_inbox_thread_into`` (``{Message-ID: conversation id}``) places a
            message without threading it (a reply sent from a conversation).
        :returns: the conversations touched (existing and new).
        """
        own = normalize_email(account.email)
        by_message_id, by_parent = self._thread_index(account, [m for m, _v in items])
        # a message sent from Odoo goes straight into the conversation replied to
        thread_into = self.env.context.get("crm_inbox_thread_into") or {}
        new_vals, slots = [], []  # slots: per item, an existing id or ("new", index)
        for msg, vals in items:
            emails = {normalize_email(a.email)
                      for a in (*msg.from_, *msg.to, *msg.cc)} - {"", own}
            target = thread_into.get(msg.message_id) if msg.message_id else None
            for ref in (msg.in_reply_to, *msg.references):
                if ref and ref in by_message_id:
                    target = by_message_id[ref]
                    break
            if target is None and msg.message_id in by_parent:
                target = by_parent[msg.message_id]
            if target is None:
                found = self._subject_match(account, msg, vals["date"], emails)
                if found:
                    target = found.id
            if target is None:
                target = ("new", len(new_vals))
                new_vals.append({
                    "name": msg.subject or self.env._("(no subject)"),
                    "subject_normalized": normalize_subject(msg.subject or ""),
                    "account_id": account.id,
                    "user_id": account.user_id.id if account.account_type == "personal"
                    else False,
                    "last_message_date": vals["date"],
                })
            if msg.message_id:
                by_message_id[msg.message_id] = target
            slots.append((target, emails, set(vals["partner_ids"][0][2])))
        # participants and leads: one lead query per batch; new conversations get them
        # in their create() values, existing ones through _add_participants()
        all_emails = set().union(*(e for _t, e, _p in slots))
        all_partners = set().union(*(p for _t, _e, p in slots))
        leads = self._find_leads(account, all_emails, all_partners)
        new_people = [[set(), set()] for _v in new_vals]
        existing = {}
        for target, emails, partner_ids in slots:
            entry = new_people[target[1]] if isinstance(target, tuple) else \
                existing.setdefault(target, [set(), set()])
            entry[0] |= emails
            entry[1] |= partner_ids
        for vals, (emails, partner_ids) in zip(new_vals, new_people):
            vals["participant_emails"] = " ".join(sorted(emails)) or False
            vals["partner_ids"] = [(6, 0, sorted(partner_ids))]
            lead_ids = self._leads_for(leads, emails, partner_ids)
            if lead_ids:
                vals["lead_ids"] = [(6, 0, sorted(lead_ids))]
        created = self.browse()
        if new_vals:
            created = self.with_context(
                mail_create_nolog=True, mail_create_nosubscribe=True, tracking_disable=True,
                mail_notrack=True,
            ).create(new_vals)
        touched = set(existing)
        for (target, _emails, _partners), (_msg, vals) in zip(slots, items):
            conv_id = created[target[1]].id if isinstance(target, tuple) else target
            vals["conversation_id"] = conv_id
            touched.add(conv_id)
        self.browse(list(existing))._add_participants(existing, leads)
        return self.browse(list(touched))

    def _add_participants(self, people, leads):
        """Record new participants (addresses and contacts) and link their leads.

        :param people: ``{conversation id: [set of emails, set of partner ids]}``
        :param leads: the maps returned by :meth:`_find_leads`.
        """
        for conversation in self:
            emails, partner_ids = people[conversation.id]
            known = set((conversation.participant_emails or "").split())
            updates = {}
            if emails - known:
                updates["participant_emails"] = " ".join(sorted(known | emails))
            new_partners = partner_ids - set(conversation.partner_ids.ids)
            if new_partners:
                updates["partner_ids"] = [(4, pid) for pid in sorted(new_partners)]
            lead_ids = self._leads_for(leads, emails - known, new_partners)
            lead_ids -= set(conversation.lead_ids.ids)
            if lead_ids:
                updates["lead_ids"] = [(4, lid) for lid in sorted(lead_ids)]
            if updates:
                conversation.write(updates)

    @staticmethod
    def _leads_for(leads, emails, partner_ids):
        by_email, by_partner = leads
        found = set()
        for email in emails:
            found |= by_email.get(email, set())
        for pid in partner_ids:
            found |= by_partner.get(pid, set())
        return found

    @api.model
    def _find_leads(self, account, emails, partner_ids):
        """Leads (the account's company or none) by contact and by normalized address.

        One query. :returns: ``({email: {lead ids}}, {partner id: {lead ids}})``
        """
        if not emails and not partner_ids:
            return {}, {}
        company_ids = [False, account.company_id.id]
        domain = [("company_id", "in", company_ids)]
        if emails and partner_ids:
            domain += ["|", ("partner_id", "in", list(partner_ids)),
                       ("email_normalized", "in", list(emails))]
        elif partner_ids:
            domain += [("partner_id", "in", list(partner_ids))]
        else:
            domain += [("email_normalized", "in", list(emails))]
        by_email, by_partner = {}, {}
        for lead in self.env["crm.lead"].sudo().search_fetch(
                domain, ["partner_id", "email_normalized"]):
            if lead.email_normalized:
                by_email.setdefault(lead.email_normalized, set()).add(lead.id)
            if lead.partner_id:
                by_partner.setdefault(lead.partner_id.id, set()).add(lead.id)
        return by_email, by_partner

    def action_reply(self):
        self.ensure_one()
        last = self.inbox_message_ids.sorted("date")[-1:]
        if not last:
            return self.account_id.action_compose()
        return last._open_composer("reply")

    def action_assign_to_me(self):
        self.write({"user_id": self.env.user.id})
