"""Forwarding mode: a shared mailbox fed by a receiving address on the alias domain.

The shared mailbox (``support@company.com``) forwards its mail, by a rule at the provider,
to an address generated on the database's alias domain (a ``mail.alias``, e.g.
``support-7f3k@mail.company.com``). Odoo's mail gateway (``mail.thread.message_process``, fed
by an MTA pipe or a fetchmail catch-all) receives it; ``models/mail_thread.py`` hands it to
:meth:`CrmInboxAccount._crm_inbox_receive` before Odoo's own routing, which stores it like
synced mail (conversations, contacts, leads, visibility) in folders that exist in Odoo only.
Replies go out through the account's SMTP server, from the support address.
"""

import logging
import re
import secrets

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..engine import errors, gateway
from ..engine.imap import FetchedMessage
from ..engine.mime import Address, build_message, make_message_id, normalize_email, parse_message

_logger = logging.getLogger(__name__)

#: Header carrying the token of "Send a test email".
TEST_HEADER = "X-CRM-Inbox-Forwarding-Test"
#: Senders of the confirmation a provider mails to a new forwarding address (Gmail: "Add a
#: forwarding address", support.google.com/mail/answer/10957): always stored, so the admin
#: can read the code in the inbox, even when the mail is marked automatic.
CONFIRMATION_SENDERS = frozenset({"forwarding-noreply@google.com"})
#: Folders of a forwarding account, held in Odoo only: (role, name).
LOCAL_FOLDERS = (("\\Inbox", "Inbox"), ("\\Sent", "Sent"), ("\\Archive", "Archive"))


class CrmInboxFolder(models.Model):
    _inherit = "crm.inbox.folder"

    is_local = fields.Boolean(
        "In Odoo only", readonly=True, copy=False,
        help="Filled by the forwarding address (or by replies sent from Odoo), not by an "
             "IMAP server: nothing of it is synced.")


class CrmInboxAccount(models.Model):
    _inherit = "crm.inbox.account"

    forward_alias_id = fields.Many2one(
        "mail.alias", "Receiving alias", readonly=True, copy=False, ondelete="set null")
    forward_address = fields.Char(
        "Forward to", related="forward_alias_id.alias_full_name",
        help="Create a rule at your mail provider that forwards every message of the "
             "shared mailbox to this address.")
    forward_test_state = fields.Selection(
        [("none", "Not tested"), ("sent", "Test email sent, not back yet"),
         ("ok", "Forwarding works")],
        "Forwarding test", default="none", readonly=True, copy=False)
    forward_test_date = fields.Datetime("Forwarding tested on", readonly=True, copy=False)
    forward_test_token = fields.Char(readonly=True, copy=False)

    @api.constrains("connection_type", "account_type")
    def _check_forwarding_shared(self):
        for account in self:
            if account.connection_type == "forwarding" and account.account_type != "shared":
                raise ValidationError(self.env._(
                    "Forwarding is for shared mailboxes such as support@ or sales@: set the "
                    "account type of %(email)s to Shared, or connect it with IMAP.",
                    email=account.email))

    # ------------------------------------------------------------------
    # setup
    # ------------------------------------------------------------------
    def _crm_inbox_setup_forwarding(self):
        """Create, once, the receiving alias and the Odoo-only folders (Inbox, Sent).

        :raises UserError: the company has no alias domain.
        """
        self.ensure_one()
        account = self.sudo()
        if not account.forward_alias_id:
            domain = account.company_id.alias_domain_id
            if not domain:
                raise UserError(self.env._(
                    "Forwarding needs an alias domain, the domain whose mail reaches this "
                    "Odoo: set one in Settings > General Settings > Alias Domain, then test "
                    "the connection again."))
            local = re.sub(r"[^a-z0-9]+", "-", (account.email or "").split("@")[0].lower())
            alias = self.env["mail.alias"].sudo().create({
                "alias_name": f"{local.strip('-') or 'inbox'}-{secrets.token_hex(3)}",
                "alias_domain_id": domain.id,
                "alias_model_id": self.env["ir.model"]._get_id("crm.inbox.conversation"),
                "alias_contact": "everyone",
            })
            account.forward_alias_id = alias
        Folder = self.env["crm.inbox.folder"].sudo()
        for role, name in LOCAL_FOLDERS:
            if not account.with_context(active_test=False).folder_ids.filtered(
                    lambda f, role=role: f.special_use == role):
                Folder.create({"account_id": account.id, "name": name, "special_use": role,
                               "is_local": True, "sync_enabled": False})

    def _crm_inbox_test_forwarding(self):
        """Test connection of a forwarding account: log in to SMTP (nothing is sent),
        create the receiving address, and say what to do next."""
        self.ensure_one()
        try:
            with self._smtp_session() as smtp:
                fingerprint = smtp.server_fingerprint
        except errors.EngineError as exc:
            raise UserError(self._explain_engine_error(exc, "smtp")) from exc
        self._crm_inbox_setup_forwarding()
        vals = {"state": "connected", "last_error": False}
        if self.allow_self_signed and fingerprint and not self.smtp_cert_fingerprint:
            vals["smtp_cert_fingerprint"] = fingerprint
        self.write(vals)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": self.env._("SMTP accepted the login"),
                "message": self.env._(
                    "Now forward the mail of %(email)s to %(address)s at your provider, then "
                    "click “Send a test email”.",
                    email=self.email, address=self.sudo().forward_address),
                "sticky": True,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_send_forwarding_test(self):
        """Send a test email to the shared address through the account's SMTP server; it
        comes back through the forwarding rule and the receiving address, and the account
        then shows "Forwarding works".

        :raises UserError: the account is not connected yet, or SMTP refused the mail.
        """
        self.ensure_one()
        self.check_access("write")
        if self.connection_type != "forwarding" or not self.sudo().forward_alias_id:
            raise UserError(self.env._("Test the connection first: it creates the address to "
                                       "forward to."))
        token = secrets.token_hex(8)
        sender = Address(name=self.sender_name or self.name, email=self.email)
        message_id, raw = build_message(
            from_=sender, to=[sender],
            subject=self.env._("CRM Inbox forwarding test %(token)s", token=token),
            body_text=self.env._(
                "This message checks that mail sent to %(email)s is forwarded to %(address)s. "
                "It is not stored as a conversation.",
                email=self.email, address=self.sudo().forward_address),
            message_id=make_message_id(self.email.split("@")[-1]),
            # RFC 3834 section 5: mail sent by a program, not in answer to mail
            extra_headers={TEST_HEADER: token, "Auto-Submitted": "auto-generated"},
        )
        # written first: the mail can come back before the SMTP server has answered
        self.sudo().write({"forward_test_state": "sent", "forward_test_token": token,
                           "forward_test_date": False})
        self.env.flush_all()
        try:
            with self._smtp_session() as smtp:
                smtp.send(raw, self.email, [self.email])
        except errors.EngineError as exc:
            raise UserError(self.env._("The test email was not sent: %(reason)s",
                                       reason=self._explain_engine_error(exc, "smtp"))) from exc
        self.invalidate_recordset(["forward_test_state", "forward_test_token",
                                   "forward_test_date"])
        _logger.info("crm_inbox: forwarding test %s sent for account %s", message_id, self.id)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "message": self.env._(
                    "Test email sent to %(email)s. When it arrives at %(address)s, this "
                    "account shows “Forwarding works” (reload the page in a minute).",
                    email=self.email, address=self.sudo().forward_address),
            },
        }

    # ------------------------------------------------------------------
    # receiving
    # ------------------------------------------------------------------
    @api.model
    def _crm_inbox_route_delivered(self, raw):
        """The forwarding account whose receiving address *raw* was delivered to, if any.

        The envelope trace fields (Delivered-To, X-Original-To, Envelope-To) are read first:
        a forwarded mail's To and Cc name only the support address.

        :param raw: the RFC 5322 bytes given to the mail gateway.
        :returns: a ``crm.inbox.account`` (sudo), possibly empty.
        """
        addresses = gateway.delivery_addresses(raw)
        if not addresses:
            return self.browse()
        aliases = self.env["mail.alias"].sudo().search([("alias_full_name", "in", addresses)])
        if not aliases:
            return self.browse()
        return self.sudo().search([("connection_type", "=", "forwarding"),
                                   ("forward_alias_id", "in", aliases.ids)], limit=1)

    def _crm_inbox_receive(self, raw):
        """Store one message that reached this account's receiving address.

        The forwarding test is recognised by its token and not stored. Mail from the
        account's own address, automatic replies and bounces (:func:`engine.gateway.automatic_kind`),
        replies to Odoo's bounce notices, and senders over Odoo's gateway loop threshold
        (``mail.gateway.loop.minutes`` / ``.threshold``) join an existing conversation when
        they answer one and are dropped otherwise: they never start a conversation.

        :param raw: the RFC 5322 bytes.
        :returns: the id of the conversation it joined, or ``False`` when dropped.
        """
        self.ensure_one()
        account = self.sudo()
        if account.state == "disconnected" or not account.company_id.crm_inbox_enabled:
            _logger.info("crm_inbox: mail for the paused forwarding account %s dropped", self.id)
            return False
        parsed = parse_message(raw)
        test_token = gateway.header_value(raw, TEST_HEADER)
        if test_token:
            # never a conversation; it proves the forwarding when it is the last one sent
            if test_token == account.forward_test_token:
                account.write({"forward_test_state": "ok", "forward_test_date": fields.Datetime.now(),
                               "forward_test_token": False})
                _logger.info("crm_inbox: forwarding test of account %s came back", self.id)
            return False
        sender = gateway.sender_address(raw)
        kind = "" if sender in CONFIRMATION_SENDERS else gateway.automatic_kind(raw)
        if sender and sender == normalize_email(account.email):
            kind = "own address"
        elif not kind and self.env["mail.thread"]._detect_loop_headers(
                {"references": " ".join(parsed.references), "in_reply_to": parsed.in_reply_to}):
            kind = "reply to a bounce notice"
        elif not kind and account._crm_inbox_sender_looping(sender):
            kind = "loop threshold"
        conversation = self.env["crm.inbox.conversation"]
        if kind:
            refs = [r for r in (parsed.in_reply_to, *parsed.references) if r]
            answered = self.env["crm.inbox.message"].sudo().search(
                [("account_id", "=", account.id), ("message_id", "in", refs)], limit=1) \
                if refs else self.env["crm.inbox.message"]
            if not answered.conversation_id:
                _logger.info("crm_inbox: %s mail from %s to forwarding account %s dropped (%s)",
                             "machine" if kind in ("bounce", "auto_reply") else "looping",
                             sender, self.id, kind)
                return False
            conversation = answered.conversation_id
        message, created = account._crm_inbox_store_delivered(
            raw, "\\Inbox", conversation=conversation, parsed=parsed)
        if created and message.conversation_id:
            # open mail clients of the account's readers show it without a reload
            self.env["crm.inbox.conversation"]._client_notify_new_mail(
                account, message.conversation_id.ids)
        return message.conversation_id.id or False

    def _crm_inbox_sender_looping(self, sender):
        """Whether *sender* started more conversations of this account than Odoo's gateway
        allows one sender (``mail.gateway.loop.threshold``, default 20, within
        ``mail.gateway.loop.minutes``, default 120); ``mail.gateway.allowed`` senders never are."""
        if not sender or self.env["mail.gateway.allowed"].sudo().search_count(
                [("email_normalized", "=", sender)]):
            return False
        params = self.env["ir.config_parameter"].sudo()
        minutes = int(params.get_param("mail.gateway.loop.minutes", 120))
        threshold = int(params.get_param("mail.gateway.loop.threshold", 20))
        since = fields.Datetime.subtract(fields.Datetime.now(), minutes=minutes)
        count = self.env["crm.inbox.message"].sudo().search_count([
            ("account_id", "=", self.id), ("create_date", ">=", since),
            ("folder_id.is_local", "=", True), ("direction", "=", "in"),
            ("email_from", "ilike", sender),
        ])
        return count >= threshold

    def _crm_inbox_store_delivered(self, raw, role, parent=None, flags=(), conversation=None,
                                   parsed=None):
        """Store *raw* in this account's Odoo-only folder of *role*, once.

        Keyed by :func:`engine.gateway.delivery_key` (the same bytes twice add nothing),
        and by Message-ID within the folder (a second delivery of the same message with
        other trace fields adds nothing either). A message that cannot be parsed is stored
        raw with a warning, as synced mail is.

        :param role: ``"\\\\Inbox"`` (received) or ``"\\\\Sent"`` (a copy of a reply).
        :param parent: ``crm.inbox.message`` replied to: the copy joins its conversation.
        :param flags: IMAP-style flags of the stored row (``("\\\\Seen",)`` for sent copies).
        :param conversation: ``crm.inbox.conversation`` to join (an answer to it).
        :param parsed: ``engine.mime.ParsedMessage`` of *raw* when already parsed.
        :returns: ``(crm.inbox.message, created)``: the stored row, and whether this call
            stored it (``False``: it was already there).
        """
        self.ensure_one()
        account = self.sudo()
        account._crm_inbox_setup_forwarding()
        folder = account.folder_ids.filtered(lambda f: f.is_local and f.special_use == role)[:1]
        key = gateway.delivery_key(raw)
        self.env.cr.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
        Message = self.env["crm.inbox.message"].sudo()
        existing = Message.search([("folder_id", "=", folder.id), ("delivery_key", "=", key)],
                                  limit=1)
        if parsed is None:
            parsed = parse_message(raw)
        message_id = parsed.message_id
        if not existing and message_id:
            existing = Message.search([("folder_id", "=", folder.id),
                                       ("message_id", "=", message_id)], limit=1)
        if existing:
            return existing, False
        fetched = FetchedMessage(uid=None, flags=tuple(flags), raw=raw,
                                 internal_date=fields.Datetime.now(), size=len(raw),
                                 modseq=None)
        Message = Message.with_context(crm_inbox_delivery_key=key)
        target = (parent.conversation_id if parent else None) or conversation
        if target and message_id:
            Message = Message.with_context(crm_inbox_thread_into={message_id: target.id})
        Message._ingest(folder, [fetched], [parsed])
        return Message.search([("folder_id", "=", folder.id), ("delivery_key", "=", key)],
                              limit=1), True
