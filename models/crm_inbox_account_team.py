"""Shared mailboxes a team runs: who gets a new conversation.

A shared account's ``assignment_rule`` decides who a new conversation started by the
other party goes to: nobody (manual), the next member in turn (round-robin), or the
member with the fewest open conversations (least loaded). Only user members at the
"reply" or "manage" level take part, and not while marked away (``is_away``: Odoo's own
out-of-office lives in the HR modules, which this addon does not depend on). A
conversation already assigned keeps its assignee whatever arrives in it.
"""

from odoo import api, fields, models

from ..engine.mime import normalize_email

ASSIGNMENT_RULES = [
    ("manual", "Manual"),
    ("round_robin", "Round-robin"),
    ("least_loaded", "Least loaded"),
]
#: Access levels that can take conversations (they can reply).
ASSIGNABLE_LEVELS = ("reply", "manage")


class CrmInboxAccountMemberTeam(models.Model):
    _inherit = "crm.inbox.account.member"

    is_away = fields.Boolean(
        "Away", help="Skipped by the automatic assignment while set (holidays, sick leave).")
    open_conversation_count = fields.Integer(
        "Open conversations", compute="_compute_open_conversation_count",
        help="Conversations of this account assigned to the member and not done.")

    def _compute_open_conversation_count(self):
        loads = {}
        for account in self.account_id:
            loads[account.id] = account._crm_inbox_open_counts(self.filtered(
                lambda m, a=account: m.account_id == a).user_id)
        for member in self:
            member.open_conversation_count = loads.get(member.account_id.id, {}).get(
                member.user_id.id, 0) if member.user_id else 0

    def action_toggle_away(self):
        """Mark the member away or back; a member may do it for themselves."""
        for member in self:
            if member.user_id != self.env.user:
                member.check_access("write")
            member.sudo().is_away = not member.is_away
        return True


class CrmInboxAccountTeam(models.Model):
    _inherit = "crm.inbox.account"

    assignment_rule = fields.Selection(
        ASSIGNMENT_RULES, "Assign new conversations", default="manual", required=True,
        help="Manual: nobody until someone assigns it. Round-robin: each member at the "
        "reply level in turn. Least loaded: the member with the fewest open "
        "conversations. Members marked away are skipped.")
    alias_emails = fields.Char(
        "Other addresses",
        help="Comma-separated aliases that deliver into this mailbox (e.g. info@ on "
        "sales@): never added as recipients of a reply, like the account's own address.")
    assignment_last_member_id = fields.Many2one(
        "crm.inbox.account.member", "Last assigned member", readonly=True, copy=False,
        ondelete="set null", help="Where the round-robin resumes.")

    def _crm_inbox_own_addresses(self):
        """Normalized addresses of these accounts: each one's address and aliases.

        :returns: a set of str.
        """
        own = set()
        for account in self.sudo():
            own.add(normalize_email(account.email or ""))
            for alias in (account.alias_emails or "").replace(";", ",").split(","):
                own.add(normalize_email(alias))
        own.discard("")
        return own

    def _crm_inbox_assignable_members(self):
        """Members who take new conversations, in list order (user members at the reply
        or manage level, not away, active internal users)."""
        self.ensure_one()
        return self.sudo().member_ids.filtered(
            lambda m: m.user_id and m.user_id.active and not m.user_id.share
            and m.access_level in ASSIGNABLE_LEVELS and not m.is_away).sorted("id")

    def _crm_inbox_open_counts(self, users):
        """``{user id: number of open conversations of this account assigned to them}``.

        Open: not done, when the conversation has a state (``state != "done"``); every
        assigned conversation otherwise.
        """
        self.ensure_one()
        Conversation = self.env["crm.inbox.conversation"].sudo()
        domain = [("account_id", "=", self.id), ("user_id", "in", users.ids)]
        if "state" in Conversation._fields:
            domain.append(("state", "!=", "done"))
        return {user.id: count for user, count in Conversation._read_group(
            domain, ["user_id"], ["__count"])}

    def _crm_inbox_pick_assignees(self, count):
        """Users for *count* new conversations of this account, by its rule.

        Round-robin resumes after :attr:`assignment_last_member_id` and stores where it
        stopped; least loaded counts the conversations given in this call too (ties: list
        order).

        :param count: number of conversations (int >= 0).
        :returns: list of *count* ``res.users`` records (empty records: nobody).
        """
        self.ensure_one()
        nobody = self.env["res.users"]
        if self.account_type != "shared" or self.assignment_rule == "manual" or count <= 0:
            return [nobody] * max(count, 0)
        members = self._crm_inbox_assignable_members()
        if not members:
            return [nobody] * count
        picked = []
        if self.assignment_rule == "round_robin":
            all_ids = self.sudo().member_ids.sorted("id").ids
            last = self.assignment_last_member_id
            start = 0
            if last and last.id in all_ids:
                # the first eligible member after the last one, in list order
                later = [i for i, m in enumerate(members) if m.id > last.id]
                start = later[0] if later else 0
            for n in range(count):
                picked.append(members[(start + n) % len(members)])
            self.sudo().assignment_last_member_id = picked[-1]
        else:
            loads = self._crm_inbox_open_counts(members.user_id)
            for _n in range(count):
                member = min(members, key=lambda m: (loads.get(m.user_id.id, 0), m.id))
                loads[member.user_id.id] = loads.get(member.user_id.id, 0) + 1
                picked.append(member)
        return [member.user_id for member in picked]


class CrmInboxConversationTeam(models.Model):
    _inherit = "crm.inbox.conversation"

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        created = self.env.context.get("crm_inbox_created")
        if isinstance(created, list):
            created.extend(records.ids)
        return records

    @api.model
    def _assign_batch(self, account, items):
        """Threading as before; then the conversations this batch started with mail
        from the other party (not automatic mail) get an assignee by the account's
        :attr:`~CrmInboxAccountTeam.assignment_rule`."""
        created = []
        touched = super(CrmInboxConversationTeam, self.with_context(
            crm_inbox_created=created))._assign_batch(account, items)
        if not created or account.account_type != "shared" \
                or account.assignment_rule == "manual":
            return touched
        first_in = []
        seen = set()
        for _msg, vals in items:
            conv_id = vals.get("conversation_id")
            if conv_id in seen or conv_id not in created:
                continue
            seen.add(conv_id)
            if vals.get("direction") == "in" and not vals.get("automatic_kind"):
                first_in.append(conv_id)
        if first_in:
            users = account._crm_inbox_pick_assignees(len(first_in))
            for conv_id, user in zip(first_in, users, strict=True):
                if user:
                    self.browse(conv_id).sudo().write({"user_id": user.id})
        return touched
