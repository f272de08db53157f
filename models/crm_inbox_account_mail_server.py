"""Each account owns a hidden ``ir.mail_server``: Odoo's mail queue sends through it.

The server record only routes (``from_filter`` = the account's address); the connection
is the engine's :class:`~odoo.addons.crm_inbox.engine.smtp.SMTPSession` built from the
account's settings and secrets (``ir_mail_server.py`` overrides ``connect()`` for it), so
no password is ever copied into ``smtp_pass``. After each successful send the copy is
APPENDed to the account's Sent folder once (found by Message-ID when a send is retried
after a crash), unless the provider files sent mail itself (Gmail).
"""

import logging

from odoo import api, fields, models
from odoo.addons.base.models.ir_mail_server import MailDeliveryException
from odoo.exceptions import UserError
from odoo.tools import email_normalize

from ..engine import errors, sync
from ..engine.imap import FetchedMessage

_logger = logging.getLogger(__name__)

#: Account fields copied to (or deciding the state of) the account's mail server.
MAIL_SERVER_KEYS = ("email", "name", "active", "state", "smtp_host", "smtp_port",
                    "smtp_security", "connection_type", "company_id", "user_id")
#: Account states whose server is active: "auth_failed" keeps its mail queued (not
#: sent through another server) until the account is re-connected.
SENDING_STATES = ("connected", "error", "auth_failed")
#: Errors after which a mail stays queued and is retried by the next queue run.
TRANSIENT_ERRORS = (errors.ConnectFailed, errors.AuthenticationFailed)
#: Key of the per-transaction set of deferred sends (``cr.precommit.data``).
DEFERRED_KEY = "crm_inbox.deferred_sends"


class AccountSMTPConnection:
    """What ``ir.mail_server.connect()`` returns for an account server: an open engine
    session and the two attributes Odoo's ``_prepare_email_message`` reads.

    :ivar account: the ``crm.inbox.account`` (superuser environment).
    :ivar session: the open ``engine.smtp.SMTPSession``.
    :ivar from_filter: the account's address (Odoo keeps the From as it is).
    :ivar smtp_from: the envelope sender Odoo asked for.
    """

    def __init__(self, account, session, smtp_from):
        self.account = account
        self.session = session
        self.from_filter = account.email
        self.smtp_from = smtp_from

    def quit(self):
        """QUIT (never raises)."""
        self.session.close()


def is_transient(exc):
    """Whether a send failing with *exc* (an ``engine.errors.EngineError``) is retried:
    a connection failure, a login refused (the account waits for re-connection), or a
    4xx answer (:rfc:`5321#section-4.2.1`)."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    code = getattr(exc, "smtp_code", None)
    return isinstance(exc, errors.SendFailed) and code is not None and 400 <= code < 500


class CrmInboxAccount(models.Model):
    _inherit = "crm.inbox.account"

    mail_server_id = fields.Many2one(
        "ir.mail_server", compute="_compute_mail_server_id", compute_sudo=True,
        string="Outgoing mail server", groups="base.group_system",
        help="The hidden outgoing server of this account: mail sent from Odoo with this "
             "address as From (chatter, templates, quotations) leaves through this mailbox.")

    def _compute_mail_server_id(self):
        servers = self.env["ir.mail_server"].sudo().with_context(active_test=False).search(
            [("crm_inbox_account_id", "in", self.ids)])
        by_account = {s.crm_inbox_account_id.id: s for s in servers}
        for account in self:
            account.mail_server_id = by_account.get(account.id, False)

    # ------------------------------------------------------------------
    # the server record follows the account
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        accounts = super().create(vals_list)
        accounts._crm_inbox_sync_mail_server()
        return accounts

    def write(self, vals):
        was_failed = self.filtered(lambda a: a.state == "auth_failed") \
            if vals.get("state") == "connected" else self.browse()
        result = super().write(vals)
        if any(key in vals for key in MAIL_SERVER_KEYS):
            self._crm_inbox_sync_mail_server()
        if was_failed:
            # mail held while the login was refused goes out now
            self.env.ref("mail.ir_cron_mail_scheduler_action").sudo()._trigger()
        return result

    def _crm_inbox_server_values(self):
        """The ``ir.mail_server`` values of this account (no password: see module doc)."""
        self.ensure_one()
        sending = (self.active and self.state in SENDING_STATES and bool(self.smtp_host)
                   and bool(email_normalize(self.email or "")))
        return {
            "name": self.env._("Inbox: %(email)s", email=self.email),
            "from_filter": email_normalize(self.email or "") or self.email,
            "smtp_host": self.smtp_host or "",
            "smtp_port": self.smtp_port or 0,
            "smtp_encryption": self.smtp_security or "none",
            "smtp_authentication": "login",
            "sequence": 1000,
            "active": sending,
            "crm_inbox_account_id": self.id,
        }

    def _crm_inbox_sync_mail_server(self):
        """Create, update or archive the hidden server of each account: active while the
        account may send (connected, or paused by a refused login: its mail waits)."""
        Server = self.env["ir.mail_server"].sudo().with_context(active_test=False)
        for account in self.sudo().with_context(active_test=False):
            vals = account._crm_inbox_server_values()
            server = Server.search([("crm_inbox_account_id", "=", account.id)], limit=1)
            if not server:
                if vals["active"]:
                    Server.create(vals)
                continue
            changed = {k: v for k, v in vals.items()
                       if (server[k].id if k == "crm_inbox_account_id" else server[k]) != v}
            if changed:
                server.write(changed)

    # ------------------------------------------------------------------
    # sending (called by ir.mail_server for account servers)
    # ------------------------------------------------------------------
    def _crm_inbox_smtp_connect(self, server, smtp_from):
        """Open an authenticated engine session for *server* (this account's).

        A refused login pauses the account (owner told, mail kept queued); a connection
        failure keeps the mail queued for the next queue run.

        :returns: an :class:`AccountSMTPConnection`.
        :raises MailDeliveryException: with the reason and its fix.
        """
        self.ensure_one()
        account = self.sudo()
        if account.state == "auth_failed":
            account._crm_inbox_defer(server=server)
            raise MailDeliveryException(
                self.env._("Mail delivery waits"), account.last_error or self.env._(
                    "The mailbox %(email)s refused the login: re-connect it.",
                    email=account.email))
        try:
            session = account._smtp_session()
            session.open()
        except errors.EngineError as exc:
            reason = account._explain_engine_error(exc, "smtp")
            if isinstance(exc, errors.AuthenticationFailed):
                account._set_auth_failed(reason)
            if is_transient(exc):
                account._crm_inbox_defer(server=server)
            _logger.info("crm_inbox: SMTP connection of account %s failed: %s", account.id, exc)
            raise MailDeliveryException(self.env._("Mail Delivery Failed"), reason) from exc
        except UserError as exc:
            raise MailDeliveryException(self.env._("Mail Delivery Failed"), str(exc)) from exc
        return AccountSMTPConnection(account, session, smtp_from)

    def _crm_inbox_deliver(self, connection, message, smtp_from, smtp_to_list):
        """Submit one ``email.message.Message`` through *connection*, then file the copy.

        :param smtp_from: envelope sender (bare address); :param smtp_to_list: envelope
            recipients (bare addresses).
        :returns: the Message-ID.
        :raises MailDeliveryException: the server refused it; a 4xx or a lost
            connection also marks the mail to stay queued (see ``mail_mail.py``).
        """
        self.ensure_one()
        message_id = message["Message-Id"]
        raw = message.as_bytes()
        try:
            refused = connection.session.send(raw, smtp_from, smtp_to_list)
        except errors.EngineError as exc:
            if is_transient(exc):
                self._crm_inbox_defer(message_id=message_id)
            raise MailDeliveryException(
                self.env._("Mail Delivery Failed"),
                self.env._("The mail server of %(email)s refused the mail: %(reason)s",
                           email=self.email, reason=exc)) from exc
        if refused:
            _logger.info("crm_inbox: account %s: recipients refused: %s", self.id, refused)
        self._crm_inbox_after_send(raw, message_id, refused)
        return message_id

    def _crm_inbox_after_send(self, raw, message_id, refused, mail=None):
        """File the copy of a mail sent through this account, once, into the
        conversation of the email replied to (composer's *mail*) or linked to the lead
        whose chatter sent it. Never raises: the mail already left.

        :param refused: ``{address: (code, text)}`` refused while others were accepted.
        :param mail: the composer's ``mail.mail``, if it is one.
        """
        lead = parent = None
        if mail is None:
            origin = self.env["mail.message"].sudo().search(
                [("message_id", "=", message_id)], limit=1)
            if origin.model == "crm.lead" and origin.res_id:
                lead = self.env["crm.lead"].sudo().browse(origin.res_id).exists()
        else:
            parent = mail.crm_inbox_parent_id
        try:
            with self.env.cr.savepoint():
                copy = self._crm_inbox_file_sent_once(raw, message_id, parent=parent)
                if copy and lead and lead not in copy.conversation_id.lead_ids:
                    copy.conversation_id.sudo().write({"lead_ids": [(4, lead.id)]})
                if mail is not None:
                    mail.crm_inbox_copy_id = copy
                    if copy and not mail.crm_inbox_conversation_id:
                        mail.crm_inbox_conversation_id = copy.conversation_id
                    if refused:
                        mail._crm_inbox_note_refused(refused)
        except Exception:
            _logger.exception("crm_inbox: filing the Sent copy of %s failed", message_id)

    def _crm_inbox_provider_files_sent(self):
        """Whether the provider puts sent mail in Sent itself (Gmail does, for mail sent
        through smtp.gmail.com): then no APPEND, the next sync brings the copy."""
        self.ensure_one()
        return self.connection_type == "google" or (self.smtp_host or "").strip().lower() in (
            "smtp.gmail.com", "smtp.googlemail.com")

    def _crm_inbox_file_sent_once(self, raw, message_id, parent=None):
        """APPEND a sent message to Sent (\\Seen) unless a copy with this Message-ID is
        already there (the send was retried after a crash), and store it once.

        :param raw: the RFC 5322 bytes that were sent; :param message_id: their
            Message-ID (with angle brackets).
        :param parent: the ``crm.inbox.message`` replied to, whose conversation gets it.
        :returns: the stored ``crm.inbox.message`` (may be empty: Gmail files it itself,
            the next sync stores it).
        """
        self.ensure_one()
        self = self.sudo()  # noqa: PLW0642 - the system files the copy
        Message = self.env["crm.inbox.message"]
        if parent and parent.conversation_id:
            Message = Message.with_context(
                crm_inbox_thread_into={message_id: parent.conversation_id.id})
        existing = Message.search([("account_id", "=", self.id),
                                   ("message_id", "=", message_id)], limit=1)
        if self.connection_type == "forwarding":
            if existing:
                return existing
            return self._crm_inbox_store_delivered(raw, "\\Sent", parent=parent,
                                                   flags=("\\Seen",))[0]
        if self._crm_inbox_provider_files_sent():
            return existing
        folder = self._get_folder("\\Sent")
        uid, warning = 0, ""
        try:
            with self._imap_session() as session:
                path, uid, uidvalidity, _appended = sync.file_message_once(
                    session, folder.name if folder else None, raw, message_id)
                if not folder:
                    folder = self.env["crm.inbox.folder"].create({
                        "account_id": self.id, "name": path, "special_use": "\\Sent",
                    })
                if not folder.uidvalidity:
                    folder.uidvalidity = uidvalidity
        except errors.EngineError as exc:
            warning = self.env._("Sent, but not filed in the Sent folder: %(reason)s",
                                 reason=self._explain_engine_error(exc, "imap"))
            _logger.warning("crm_inbox: APPEND to Sent failed for account %s: %s", self.id, exc)
            if not folder:
                return existing
        if existing:
            return existing
        fetched = FetchedMessage(uid=uid, flags=("\\Seen",), raw=raw,
                                 internal_date=fields.Datetime.now(), size=len(raw),
                                 modseq=None)
        Message._ingest(folder, [fetched])
        copy = Message.search([("folder_id", "=", folder.id),
                               ("message_id", "=", message_id)], limit=1)
        if warning and copy:
            copy.parse_warning = warning
        return copy

    # ------------------------------------------------------------------
    # failures that keep the mail queued
    # ------------------------------------------------------------------
    def _crm_inbox_defer(self, server=None, message_id=None):
        """Remember, for this transaction, that mail through *server* (connection
        failed) or the mail *message_id* (4xx, connection lost) stays queued: read by
        ``mail.mail._postprocess_sent_message``."""
        deferred = self.env.cr.precommit.data.setdefault(DEFERRED_KEY, set())
        if server:
            deferred.add(("server", server.id))
        if message_id:
            deferred.add(("message_id", message_id))


class CrmInboxMessage(models.Model):
    _inherit = "crm.inbox.message"

    @api.model_create_multi
    def create(self, vals_list):
        """New mail from the other party cancels the scheduled mails of its conversation
        that asked for it ("Cancel if they reply first"); auto-replies and bounces do not."""
        messages = super().create(vals_list)
        replied = messages.filtered(lambda m: m.direction == "in" and m.conversation_id
                                    and not m.automatic_kind)
        if replied:
            mails = self.env["mail.mail"].sudo().search([
                ("crm_inbox_conversation_id", "in", replied.conversation_id.ids),
                ("crm_inbox_cancel_on_reply", "=", True), ("state", "=", "outgoing"),
            ])
            for mail in mails:
                if any(m.conversation_id == mail.crm_inbox_conversation_id
                       and m.date and m.date > mail.create_date for m in replied):
                    mail.cancel()
                    mail.create_uid._bus_send("crm_inbox/outbox", {
                        "conversation_id": mail.crm_inbox_conversation_id.id})
        return messages
