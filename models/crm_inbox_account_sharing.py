"""Personal and shared accounts: members, access levels, visibility, copy, disconnect.

Who may do what (record rules in ``security/crm_inbox_security.xml`` enforce the
same table; :meth:`CrmInboxAccount._crm_inbox_access_level` computes it in Python):

================  ===========================  =====================================
account           level                        may
================  ===========================  =====================================
personal          owner: ``manage``            everything; nobody else sees the mail
personal          holder of "read personal     read its mail (the setting is off by
                  mail" (an admin setting)     default)
shared            member ``read``              read conversations and messages
shared            member ``reply``             + send, assign, notes, activities
shared            member ``manage``, owner,    + settings and members
                  inbox administrator
================  ===========================  =====================================
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.osv import expression

from .crm_inbox_account import MANAGER_GROUP
from .crm_inbox_account_member import LEVEL_RANK

_logger = logging.getLogger(__name__)

VISIBILITY = [
    ("full", "Full content"),
    ("metadata", "Subject and metadata only"),
    ("none", "None"),
]
PERSONAL_READER_GROUP = "crm_inbox.group_crm_inbox_read_personal"


class CrmInboxAccount(models.Model):
    _inherit = "crm.inbox.account"

    member_ids = fields.One2many(
        "crm.inbox.account.member", "account_id", string="Members", copy=True,
        help="Users and groups who work in this shared inbox, with their access level.",
    )
    state = fields.Selection(
        selection_add=[("disconnected", "Disconnected")],
        ondelete={"disconnected": "set default"},
    )
    contact_visibility = fields.Selection(
        VISIBILITY, "Visible on contacts and leads",
        compute="_compute_contact_visibility", store=True, readonly=False, precompute=True,
        required=True,
        help="What colleagues who can see a contact or lead see of this account's emails "
        "with them: the full email, only its subject and metadata (date, sender, "
        "recipients), or nothing.",
    )
    signature_template = fields.Html(
        sanitize=True,
        help="Starting point of the members' signatures for this account. Placeholders: "
        "{name}, {job_title}, {phone}, {email}.",
    )
    access_level = fields.Selection(
        [("read", "Read"), ("reply", "Read and reply"), ("manage", "Manage")],
        "My access", compute="_compute_access_level",
    )
    can_send = fields.Boolean(
        "I can send", compute="_compute_access_level", search="_search_can_send")

    @api.depends("account_type")
    def _compute_contact_visibility(self):
        for account in self:
            account.contact_visibility = "full" if account.account_type == "shared" else "metadata"

    # ------------------------------------------------------------------
    # access levels
    # ------------------------------------------------------------------
    def _crm_inbox_access_level(self, user=None):
        """The access level of *user* (default: the current user) on this account.

        :returns: ``"manage"``, ``"reply"``, ``"read"`` or ``False``.
        """
        self.ensure_one()
        user = (user or self.env.user).sudo()
        account = self.sudo()
        if account.company_id not in user.company_ids:
            return False
        if account.account_type == "personal":
            if account.user_id == user:
                return "manage"
            return "read" if user.has_group(PERSONAL_READER_GROUP) else False
        if account.user_id == user or user.has_group(MANAGER_GROUP):
            return "manage"
        level = False
        for member in account.member_ids:
            mine = member.user_id == user or (member.group_id and member.group_id in user.groups_id)
            if mine and LEVEL_RANK[member.access_level] > LEVEL_RANK[level]:
                level = member.access_level
        return level

    @api.depends_context("uid")
    @api.depends("account_type", "user_id", "member_ids.access_level", "member_ids.user_id",
                 "member_ids.group_id")
    def _compute_access_level(self):
        for account in self:
            level = account._crm_inbox_access_level() if account.id else "manage"
            account.access_level = level
            account.can_send = level in ("reply", "manage")

    @api.model
    def _sender_domain(self):
        """Domain of the accounts the current user may send from."""
        user = self.env.user
        if user.has_group(MANAGER_GROUP):
            shared = [("account_type", "=", "shared")]
        else:
            shared = ["&", ("account_type", "=", "shared"), "|", ("user_id", "=", user.id),
                      ("member_ids", "any", [
                          ("access_level", "in", ("reply", "manage")),
                          "|", ("user_id", "=", user.id), ("group_id", "in", user.groups_id.ids),
                      ])]
        return expression.OR([
            [("account_type", "=", "personal"), ("user_id", "=", user.id)],
            shared,
        ])

    def _search_can_send(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("“I can send” only supports = True and = False."))
        domain = self._sender_domain()
        if (operator == "=") == value:
            return domain
        return ["!", *expression.normalize_domain(domain)]

    def _check_can_send(self):
        """Raise unless the current user may send from this account (reply or manage)."""
        self.ensure_one()
        if self.env.su:
            return
        if self._crm_inbox_access_level() not in ("reply", "manage"):
            raise AccessError(self.env._(
                "You can read the shared inbox %(email)s but not send from it: ask one of "
                "its managers for the “Read and reply” access level.", email=self.email))

    # ------------------------------------------------------------------
    # create / write checks
    # ------------------------------------------------------------------
    @api.constrains("user_id", "active", "account_type", "company_id")
    def _check_max_accounts(self):
        Account = self.sudo().with_context(active_test=True)
        for owner in self.filtered(lambda a: a.account_type == "personal").user_id:
            for company in self.filtered(lambda a, owner=owner: a.user_id == owner).company_id:
                limit = company.crm_inbox_max_accounts
                count = Account.search_count([
                    ("user_id", "=", owner.id), ("account_type", "=", "personal"),
                    ("company_id", "=", company.id)])
                if limit and count > limit:
                    raise ValidationError(self.env._(
                        "%(user)s already has %(limit)s personal mail accounts, the maximum "
                        "in %(company)s: archive one, or ask an administrator to raise the "
                        "limit in Settings > Inbox.",
                        user=owner.name, limit=limit, company=company.name))

    @api.constrains("account_type")
    def _check_members_only_shared(self):
        for account in self:
            if account.account_type == "personal" and account.member_ids:
                raise ValidationError(self.env._(
                    "“%(account)s” has members: remove them before making it personal.",
                    account=account.display_name))

    # ------------------------------------------------------------------
    # copy, disconnect, sync guard
    # ------------------------------------------------------------------
    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        for account, vals in zip(self, vals_list, strict=True):
            if not (default or {}).get("name"):
                vals["name"] = self.env._("%(name)s (copy)", name=account.name)
            if account.account_type == "personal":
                vals["user_id"] = self.env.uid if not self.env.su else account.user_id.id
        return vals_list

    def action_create_copy(self):
        """Duplicate the settings (never the passwords, tokens or synced mail)."""
        self.ensure_one()
        copy = self.copy()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": copy.id,
            "view_mode": "form",
            "target": "current",
        }

    def action_disconnect(self):
        """Ask whether to keep or delete the synced mail, then disconnect."""
        self.ensure_one()
        self.check_access("write")
        return {
            "type": "ir.actions.act_window",
            "res_model": "crm.inbox.account.disconnect",
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Disconnect %(email)s", email=self.email),
            "context": {"default_account_id": self.id},
        }

    def _disconnect(self, delete_mail=False):
        """Stop syncing and forget the credentials; the remote mailbox is not touched.

        :param delete_mail: also delete the mail synced into Odoo (conversations,
            messages, their attachments); the folder cursors restart from zero so a
            later re-connection imports it again.
        """
        self.check_access("write")
        for account in self:
            system = account.sudo()
            self.env["crm.inbox.account.secret"].sudo().search(
                [("account_id", "=", account.id)]).unlink()
            if delete_mail:
                messages = self.env["crm.inbox.message"].sudo().search(
                    [("account_id", "=", account.id)])
                self.env["ir.attachment"].sudo().search([
                    ("res_model", "=", "crm.inbox.message"), ("res_id", "in", messages.ids),
                ]).unlink()
                messages.unlink()
                self.env["crm.inbox.conversation"].sudo().search(
                    [("account_id", "=", account.id)]).unlink()
                system.folder_ids.write({"uidvalidity": 0, "last_uid": 0, "low_uid": 0,
                                         "uidnext": 0, "highest_modseq": 0,
                                         "initial_done": False, "sync_complete": False})
            system.write({"state": "disconnected", "imap_cert_fingerprint": False,
                          "smtp_cert_fingerprint": False, "last_error": False})
            account.message_post(
                body=self.env._("Disconnected by %(user)s; synced mail %(what)s.",
                                user=self.env.user.name,
                                what=self.env._("deleted") if delete_mail else self.env._("kept")),
                subtype_xmlid="mail.mt_note")

    def action_my_signatures(self):
        """Open the current user's signatures for this account (new ones start from the template)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "crm.inbox.signature",
            "view_mode": "list,form",
            "name": self.env._("My signatures"),
            "domain": [("user_id", "=", self.env.uid), ("account_id", "in", [False, self.id])],
            "context": {"default_account_id": self.id},
        }


class CrmInboxConversation(models.Model):
    _inherit = "crm.inbox.conversation"

    @api.constrains("user_id", "account_id")
    def _check_assignee_has_access(self):
        for conversation in self:
            user = conversation.user_id
            if user and not conversation.account_id._crm_inbox_access_level(user):
                raise ValidationError(self.env._(
                    "%(user)s cannot see the account %(email)s: assign the conversation to "
                    "one of its members.", user=user.name, email=conversation.account_id.email))


class CrmInboxMessage(models.Model):
    _inherit = "crm.inbox.message"

    @api.model
    def _crm_inbox_level_domain(self, levels=("full", "metadata")):
        """Domain of the emails the current user sees at one of *levels* on contacts and leads.

        An email the user can open anyway (own mailbox, shared inbox member: the record
        rules, as a subquery) is at level ``full``; any other one at its account's
        ``contact_visibility``. Only the user's allowed companies. Meant for a sudo
        search (the record rules are inside the subquery).

        :param levels: a subset of ``("full", "metadata")``.
        :returns: a domain on ``crm.inbox.message``.
        """
        own = self.with_context(active_test=False)._search([])
        visibilities = [level for level in levels if level in ("full", "metadata")]
        return expression.AND([
            [("company_id", "in", self.env.companies.ids)],
            expression.OR([
                [("id", "in", own)],
                [("account_id", "any", [("contact_visibility", "in", visibilities),
                                        ("active", "in", [True, False])])],
            ]),
        ])

    @api.model
    def _crm_inbox_visible_emails(self, domain, limit=100, order="date desc, id desc"):
        """Emails matching *domain* as the current user may see them on a contact or lead.

        The separate read path for the "Visible on contacts and leads" level: it runs
        with sudo but returns, per message, only what the level of its account allows:
        a message the user can open anyway (own mailbox, shared inbox member) in full;
        any other one at its account's level (``full``: content, ``metadata``: date,
        sender, recipients and subject, ``none``: left out, in SQL, so *limit* counts
        visible emails only). Messages of companies the user is not in are always left
        out. Callers check that the user can read the contact or lead first. A fixed
        number of queries, whatever the number of emails returned.

        :param limit: at most this many rows (``None``: no limit).
        :param order: SQL order of the rows (``date desc, id desc`` by default).
        :returns: list of dicts with ``id``, ``level``, ``can_open``, ``can_reply``,
            ``date``, ``subject``, ``email_from``, ``email_to``, ``email_cc``,
            ``account``, ``author_id``, ``author_name``, ``direction`` and, at level
            ``full`` only, ``body_html``, ``attachments`` (file names) and
            ``attachment_list`` (``[{"id", "name", "mimetype"}]``), and when the user
            can open it, ``conversation_id``.
        """
        if not self.env.user.has_group("crm_inbox.group_crm_inbox_user"):
            raise AccessError(self.env._("Only Inbox users can see the emails of a contact."))
        system = self.sudo().with_context(active_test=False)
        messages = system.search(
            expression.AND([domain, self._crm_inbox_level_domain()]), limit=limit, order=order)
        if not messages:
            return []
        own = set(self.search([("id", "in", messages.ids)]).ids)
        full = messages.filtered(
            lambda m: m.id in own or m.account_id.contact_visibility == "full")
        # one query for every attachment of the full rows (cid: images included)
        attachments = {}
        for att in self.env["ir.attachment"].sudo().search_fetch(
                [("res_model", "=", self._name), ("res_id", "in", full.ids)],
                ["name", "mimetype", "res_id"], order="id"):
            attachments.setdefault(att.res_id, []).append(att)
        can_reply = {account: account._crm_inbox_access_level() in ("reply", "manage")
                     for account in messages.account_id}
        result = []
        for message in messages:
            can_open = message.id in own
            level = "full" if message in full else "metadata"
            row = {
                "id": message.id,
                "level": level,
                "can_open": can_open,
                "can_reply": can_open and can_reply[message.account_id],
                "date": message.date,
                "subject": message.subject or "",
                "email_from": message.email_from or "",
                "email_to": message.email_to or "",
                "email_cc": message.email_cc or "",
                "account": message.account_id.email,
                "author_id": message.author_id.id,
                "author_name": message.author_id.name or "",
                "direction": message.direction or "in",
            }
            if can_open:
                row["conversation_id"] = message.conversation_id.id
            if level == "full":
                files = attachments.get(message.id, [])
                cid_urls = {}
                if can_open and message.cid_map:
                    # cid: images only where the user may open the message
                    cid_urls = message._crm_inbox_cid_urls(files)
                # through the one mail renderer: sanitized last, remote content always
                # blocked here
                main, quoted, _remote = message._crm_inbox_render_split(
                    allow_remote=False, with_cids=can_open, cid_urls=cid_urls)
                # the quoted history and signature are folded behind "…" in the chatter
                row["body_html"], row["body_quoted_html"] = str(main), str(quoted)
                row["attachments"] = [att.name for att in files]
                row["attachment_list"] = [
                    {"id": att.id, "name": att.name, "mimetype": att.mimetype} for att in files]
            result.append(row)
        return result
