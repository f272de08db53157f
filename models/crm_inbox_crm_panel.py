"""The CRM beside the thread (issue 12): the sender's contact, the linked leads with the
reason each one is linked, leads offered when the link is ambiguous, and the links the
user makes or undoes from the mail client.

Automatic links (at sync, :meth:`crm.inbox.conversation._find_leads`) are made only when
they are unambiguous: a contact or an address with exactly one open lead (not won, not
archived), as Zoho SalesInbox does; otherwise the leads are offered in the panel. A link
the user removed is remembered (``crm.inbox.conversation.link``, kind ``unlinked``) and
the automatic linker does not make it again.
"""

from email.utils import getaddresses

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import html2plaintext, plaintext2html

from ..engine.mime import normalize_email, subject_topic
from ..engine.quote import split_text

#: Next activities shown for the sender's contact and its open leads.
PANEL_ACTIVITIES = 5
#: Open leads listed for the sender's contact.
PANEL_LEADS = 10
#: Characters of the email's new text copied into a new lead's description.
LEAD_DESCRIPTION_CHARS = 4000


class CrmInboxConversationLink(models.Model):
    """A link the user made or removed between a conversation and a lead or contact.

    ``linked``: made by hand (the panel says "Linked by <user>"); ``unlinked``: removed by
    hand, never made again by the automatic linker. Read and written through the
    conversation's RPCs only (sudo, after the conversation's access check).
    """

    _name = "crm.inbox.conversation.link"
    _description = "Inbox conversation link made or removed by a user"

    conversation_id = fields.Many2one("crm.inbox.conversation", required=True,
                                      ondelete="cascade", index=True)
    lead_id = fields.Many2one("crm.lead", ondelete="cascade", index=True)
    partner_id = fields.Many2one("res.partner", ondelete="cascade", index=True)
    kind = fields.Selection([("linked", "Linked by hand"), ("unlinked", "Unlinked by hand")],
                            required=True)
    user_id = fields.Many2one("res.users", required=True, ondelete="cascade",
                              default=lambda self: self.env.user)

    _sql_constraints = [
        ("target", "CHECK((lead_id IS NULL) <> (partner_id IS NULL))",
         "A link names a lead or a contact."),
    ]


class CrmLead(models.Model):
    _inherit = "crm.lead"

    @api.model_create_multi
    def create(self, vals_list):
        """A lead created from a conversation ("Create lead" in the mail client: context
        ``crm_inbox_link_conversation_id``) is linked to it."""
        leads = super().create(vals_list)
        conv_id = self.env.context.get("crm_inbox_link_conversation_id")
        if conv_id:
            conversation = self.env["crm.inbox.conversation"].browse(int(conv_id)).exists()
            if conversation:
                conversation.check_access("write")
                for lead in leads:
                    conversation._inbox_link_record("lead", lead.id)
        return leads


class CrmInboxConversationCrm(models.Model):
    _inherit = "crm.inbox.conversation"

    # ------------------------------------------------------------------
    # automatic links: only when unambiguous, never against an unlink
    # ------------------------------------------------------------------
    @api.model
    def _find_leads(self, account, emails, partner_ids):
        """As in models/crm_inbox_conversation.py, keeping only unambiguous links: a
        contact or address with exactly one open (not won) lead."""
        by_email, by_partner = super()._find_leads(account, emails, partner_ids)
        lead_ids = set().union(*by_email.values(), *by_partner.values())
        if not lead_ids:
            return by_email, by_partner
        won = set(self.env["crm.lead"].sudo().search(
            [("id", "in", list(lead_ids)), ("stage_id.is_won", "=", True)]).ids)

        def unambiguous(mapping):
            result = {}
            for key, ids in mapping.items():
                open_ids = ids - won
                if len(open_ids) == 1:
                    result[key] = open_ids
            return result

        return unambiguous(by_email), unambiguous(by_partner)

    def _add_participants(self, people, leads):
        """As in models/crm_inbox_conversation.py, without the leads and contacts the
        user unlinked from these conversations."""
        blocked = self._unlinked()
        if not blocked:
            return super()._add_participants(people, leads)
        free = self.filtered(lambda c: c.id not in blocked)
        if free:
            super(CrmInboxConversationCrm, free)._add_participants(people, leads)
        by_email, by_partner = leads
        for conversation in self - free:
            lead_ids, partner_ids = blocked[conversation.id]
            emails, partners = people[conversation.id]
            mine = ({e: s - lead_ids for e, s in by_email.items()},
                    {p: s - lead_ids for p, s in by_partner.items()})
            super(CrmInboxConversationCrm, conversation)._add_participants(
                {conversation.id: [emails, partners - partner_ids]}, mine)
        return None

    def _unlinked(self):
        """``{conversation id: (lead ids, partner ids)}`` the user unlinked (one query)."""
        if not self.ids:
            return {}
        result = {}
        for link in self.env["crm.inbox.conversation.link"].sudo().search_fetch(
                [("conversation_id", "in", self.ids), ("kind", "=", "unlinked")],
                ["conversation_id", "lead_id", "partner_id"]):
            entry = result.setdefault(link.conversation_id.id, (set(), set()))
            if link.lead_id:
                entry[0].add(link.lead_id.id)
            if link.partner_id:
                entry[1].add(link.partner_id.id)
        return result

    # ------------------------------------------------------------------
    # links made and removed by the user
    # ------------------------------------------------------------------
    def _inbox_link_record(self, kind, record_id):
        """Link lead or contact *record_id* (``kind``: ``"lead"`` or ``"partner"``)."""
        self.ensure_one()
        field = "lead_id" if kind == "lead" else "partner_id"
        Link = self.env["crm.inbox.conversation.link"].sudo()
        Link.search([("conversation_id", "=", self.id), (field, "=", record_id)]).unlink()
        Link.create({"conversation_id": self.id, field: record_id, "kind": "linked"})
        many = "lead_ids" if kind == "lead" else "partner_ids"
        self.sudo().write({many: [(4, record_id)]})

    @api.model
    def _inbox_check_target(self, kind, record_id):
        if kind not in ("lead", "partner"):
            raise UserError(self.env._("Link a lead or a contact (kind “lead” or “partner”)."))
        model = "crm.lead" if kind == "lead" else "res.partner"
        record = self.env[model].browse(int(record_id or 0)).exists()
        if not record:
            raise UserError(self.env._("Choose the lead or contact to link."))
        record.check_access("read")
        return record

    @api.model
    def inbox_link(self, conversation_id, kind, record_id):
        """Link a lead or contact to a conversation ("Link to lead", "Link to contact").

        :param conversation_id: ``int``; :param kind: ``"lead"`` or ``"partner"``;
        :param record_id: the ``crm.lead`` / ``res.partner`` id (readable by the user).
        :returns: ``{"ok": True}``
        :raises UserError: a bad kind or a record that does not exist. AccessError when
            the user may not change the conversation or read the record.
        """
        conversation = self.browse(int(conversation_id)).exists()
        conversation.check_access("write")
        record = self._inbox_check_target(kind, record_id)
        conversation._inbox_link_record(kind, record.id)
        return {"ok": True}

    @api.model
    def inbox_unlink(self, conversation_id, kind, record_id):
        """Unlink a lead or contact from a conversation, for good: the automatic linker
        does not link it again (later emails included). Arguments as :meth:`inbox_link`.

        :returns: ``{"ok": True}``
        """
        conversation = self.browse(int(conversation_id)).exists()
        conversation.check_access("write")
        if kind not in ("lead", "partner"):
            raise UserError(self.env._("Unlink a lead or a contact (kind “lead” or “partner”)."))
        record_id = int(record_id)
        field = "lead_id" if kind == "lead" else "partner_id"
        Link = self.env["crm.inbox.conversation.link"].sudo()
        Link.search([("conversation_id", "=", conversation.id), (field, "=", record_id)]).unlink()
        Link.create({"conversation_id": conversation.id, field: record_id, "kind": "unlinked"})
        many = "lead_ids" if kind == "lead" else "partner_ids"
        conversation.sudo().write({many: [(3, record_id)]})
        return {"ok": True}

    # ------------------------------------------------------------------
    # the panel
    # ------------------------------------------------------------------
    def _panel_sender(self):
        """``(res.partner, name, email)`` of the other party: the sender of the last
        email received, else of the first email sent (its first recipient)."""
        self.ensure_one()
        own = normalize_email(self.account_id.sudo().email)
        messages = self.sudo().inbox_message_ids.sorted(lambda m: (m.date, m.id), reverse=True)
        received = messages.filtered(lambda m: m.direction == "in" and not m.automatic_kind)
        partner = self.env["res.partner"]
        name = email = ""
        if received:
            name, email = (getaddresses([received[0].email_from or ""]) or [("", "")])[0]
        elif messages:
            for rname, raddr in getaddresses([messages[0].email_to or ""]):
                if normalize_email(raddr) != own:
                    name, email = rname, raddr
                    break
        key = normalize_email(email)
        if key:
            partner = self.sudo().partner_ids.filtered(lambda p: p.email_normalized == key)[:1]
            if not partner:
                partner = self.env["res.partner"].sudo().search(
                    [("email_normalized", "=", key)], limit=1)
        return partner, name or email, email

    @api.model
    def _panel_lead(self, lead):
        return {
            "id": lead.id,
            "name": lead.name,
            "stage": lead.stage_id.name or "",
            "expected_revenue": lead.expected_revenue or 0.0,
            "currency": {"symbol": lead.company_currency.symbol or "",
                         "position": lead.company_currency.position or "after"}
            if lead.company_currency else False,
            "type": lead.type,
            "user": lead.user_id.name or "",
        }

    @api.model
    def _panel_open_leads(self, partner, email):
        """Open (active, not won) leads of a contact or address the user can read."""
        domain = [("stage_id.is_won", "=", False)]
        if partner:
            commercial = partner.commercial_partner_id
            domain += ["|", ("partner_id", "child_of", commercial.id),
                       ("email_normalized", "=", partner.email_normalized or email)]
        else:
            domain += [("email_normalized", "=", normalize_email(email))]
        return self.env["crm.lead"].search(domain, limit=PANEL_LEADS,
                                           order="expected_revenue desc, id desc")

    @api.model
    def inbox_crm_panel(self, conversation_id):
        """The CRM beside the thread in the mail client.

        :param conversation_id: ``int`` (a conversation the user can read).
        :returns: ``{"sender": {"name", "email", "contact": False | {"id", "name",
            "company", "phone", "email", "function"}, "open_leads": [lead], "activities":
            [{"id", "summary", "type", "date_deadline", "res_model", "res_id", "res_name",
            "user"}]}, "linked": [lead + {"reason", "reason_kind"}], "offered": [lead],
            "partners": [{"id", "name", "email", "reason_kind"}], "can_write": bool}``,
            a lead being ``{"id", "name", "stage", "expected_revenue", "currency",
            "type", "user"}``; ``reason_kind`` is ``contact``, ``email`` or ``manual``;
            only records the user can read.
        :raises AccessError: the user may not read the conversation.
        """
        self._client_check_user()
        conversation = self.browse(int(conversation_id)).exists()
        conversation.check_access("read")
        system = conversation.sudo()
        partner, name, email = conversation._panel_sender()
        readable_partner = partner and self.env["res.partner"].search_count(
            [("id", "=", partner.id)]) and partner.with_env(self.env)
        open_leads = self._panel_open_leads(readable_partner or False, email)
        activities = self.env["mail.activity"]
        if readable_partner or open_leads:
            domain = ["|", "&", ("res_model", "=", "crm.lead"), ("res_id", "in", open_leads.ids),
                      "&", ("res_model", "=", "res.partner"),
                      ("res_id", "in", readable_partner.ids if readable_partner else [])]
            activities = self.env["mail.activity"].search(
                domain, order="date_deadline, id", limit=PANEL_ACTIVITIES)
        contact = False
        if readable_partner:
            company = readable_partner.parent_id or (
                readable_partner.commercial_partner_id
                if readable_partner.commercial_partner_id != readable_partner else False)
            contact = {
                "id": readable_partner.id,
                "name": readable_partner.name or "",
                "company": {"id": company.id, "name": company.name} if company else (
                    {"id": False, "name": readable_partner.company_name}
                    if readable_partner.company_name else False),
                "phone": readable_partner.phone or readable_partner.mobile or "",
                "email": readable_partner.email or "",
                "function": readable_partner.function or "",
            }
        # linked leads and why
        manual = {link.lead_id.id: link.user_id for link in self.env[
            "crm.inbox.conversation.link"].sudo().search(
            [("conversation_id", "=", conversation.id), ("kind", "=", "linked"),
             ("lead_id", "!=", False)])}
        unlinked = conversation._unlinked().get(conversation.id, (set(), set()))
        participants = set((system.partner_ids).ids)
        emails = set((system.participant_emails or "").split())
        linked = []
        for lead in self.env["crm.lead"].search([("id", "in", system.lead_ids.ids)]):
            row = self._panel_lead(lead)
            if lead.id in manual:
                who = manual[lead.id]
                row["reason"] = (self.env._("Linked by you") if who == self.env.user
                                 else self.env._("Linked by %(user)s", user=who.name))
                row["reason_kind"] = "manual"
            elif lead.partner_id.id in participants:
                row["reason"] = self.env._("%(name)s is the lead's contact",
                                           name=lead.partner_id.name)
                row["reason_kind"] = "contact"
            elif lead.email_normalized in emails:
                row["reason"] = self.env._("%(email)s is the lead's email",
                                           email=lead.email_from or lead.email_normalized)
                row["reason_kind"] = "email"
            else:
                row["reason"] = self.env._("Linked")
                row["reason_kind"] = "manual"
            linked.append(row)
        linked_ids = {r["id"] for r in linked}
        offered = [self._panel_lead(lead) for lead in open_leads
                   if lead.id not in linked_ids and lead.id not in unlinked[0]]
        partners = [{"id": p.id, "name": p.name, "email": p.email or ""}
                    for p in self.env["res.partner"].search(
                        [("id", "in", system.partner_ids.ids)], order="name")
                    if p.email_normalized != normalize_email(system.account_id.email)]
        return {
            "sender": {
                "name": name,
                "email": email,
                "contact": contact,
                "open_leads": [self._panel_lead(lead) for lead in open_leads],
                "activities": [{
                    "id": a.id,
                    "summary": a.summary or a.activity_type_id.name or "",
                    "type": a.activity_type_id.name or "",
                    "icon": a.activity_type_id.icon or "fa-tasks",
                    "date_deadline": fields.Date.to_string(a.date_deadline),
                    "state": a.state,
                    "res_model": a.res_model,
                    "res_id": a.res_id,
                    "res_name": a.res_name or "",
                    "user": a.user_id.name or "",
                } for a in activities],
            },
            "linked": linked,
            "offered": offered,
            "partners": partners,
            "can_write": conversation.has_access("write"),
        }

    @api.model
    def inbox_lead_defaults(self, conversation_id):
        """The "Create lead" form of a conversation: a ``crm.lead`` form (dialog)
        prefilled from it (name from the subject without Re:/Fwd:, the sender's contact and address,
        description from the new text of the first email received), saved linked to
        the conversation.

        :returns: an ``ir.actions.act_window`` dict.
        """
        conversation = self.browse(int(conversation_id)).exists()
        conversation.check_access("write")
        partner, name, email = conversation._panel_sender()
        messages = conversation.sudo().inbox_message_ids.sorted(lambda m: (m.date, m.id))
        first = messages.filtered(lambda m: m.direction == "in" and not m.automatic_kind)[:1] \
            or messages[:1]
        text = first.body_text or (html2plaintext(first.body_html) if first.body_html else "")
        text = split_text(text or "")[0].strip()[:LEAD_DESCRIPTION_CHARS]
        context = {
            "default_name": subject_topic(conversation.name),
            "default_email_from": email or False,
            "default_contact_name": name if not partner else False,
            "default_description": plaintext2html(text) if text else False,
            "crm_inbox_link_conversation_id": conversation.id,
        }
        if partner and self.env["res.partner"].search_count([("id", "=", partner.id)]):
            context["default_partner_id"] = partner.id
        elif email and "@" in email:
            context["default_partner_name"] = email.split("@")[1].split(".")[0].replace(
                "-", " ").title()
        return {
            "type": "ir.actions.act_window",
            "res_model": "crm.lead",
            "views": [[False, "form"]],
            "target": "new",
            "name": self.env._("New lead from the conversation"),
            "context": context,
        }
