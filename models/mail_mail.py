"""Odoo's mail queue sends through the salesperson's mailbox (see DESIGN.md, "Sending").

* Which mail: mail whose From is an account's address, written by its author himself (the
  mail's creator), a user who may send from that account (owner, or a member with reply
  rights), to at least one recipient who is not an internal user; mass mailing never. Everything else follows Odoo (and can
  never fall back onto an account server: ``ir_mail_server.py``).
* Reply-To of such mail: the account's address, so the answer arrives in the mailbox.
* The crm_inbox composer queues ``mail.mail`` rows carrying the exact message it built
  (Message-ID fixed at Send): ``crm_inbox_raw``, sent as is through the account.
* A connection failure, a 4xx or a refused login keeps the mail queued (retried by the
  next queue run) instead of Odoo's permanent "exception".
"""

import base64
import logging
from datetime import timedelta

from odoo import api, fields, models, tools
from odoo.tools import email_normalize

from ..engine import errors
from .crm_inbox_account_mail_server import DEFERRED_KEY, AccountSMTPConnection, is_transient

_logger = logging.getLogger(__name__)

#: Minutes before the queue runs again after a send that stayed queued.
RETRY_MINUTES = 2


class MailMail(models.Model):
    _inherit = "mail.mail"

    crm_inbox_account_id = fields.Many2one(
        "crm.inbox.account", "Inbox account", readonly=True, index="btree_not_null",
        ondelete="cascade", help="Written in the crm_inbox composer, sent from this account.")
    crm_inbox_conversation_id = fields.Many2one(
        "crm.inbox.conversation", readonly=True, index="btree_not_null", ondelete="set null")
    crm_inbox_parent_id = fields.Many2one("crm.inbox.message", readonly=True,
                                          ondelete="set null")
    crm_inbox_copy_id = fields.Many2one("crm.inbox.message", "Sent copy", readonly=True,
                                        ondelete="set null")
    crm_inbox_raw = fields.Binary("Message as sent", attachment=True, readonly=True)
    crm_inbox_envelope = fields.Text("Envelope recipients", readonly=True,
                                     help="Bare addresses, one per line (Bcc included).")
    crm_inbox_draft = fields.Json(
        "Draft", readonly=True,
        help="What the composer had ({to, cc, bcc, subject, text, body, signature_id, "
             "attachment_ids, mode, parent_id}): restored by Undo and Edit and resend.")
    crm_inbox_cancel_on_reply = fields.Boolean(
        "Cancel if they reply first", readonly=True,
        help="A scheduled mail is cancelled when a new email from the other party arrives "
             "in the conversation before it goes out.")

    # ------------------------------------------------------------------
    # routing
    # ------------------------------------------------------------------
    def _crm_inbox_route(self):
        """Split these mails by where they may leave.

        :returns: ``(through, held)``: mails to send through an account server (Odoo's
            ``_find_mail_server`` picks it on the exact From), and mails of accounts
            whose login was refused (left queued until re-connected).
        """
        servers = self.env["ir.mail_server"].sudo().search(
            [("crm_inbox_account_id", "!=", False)])
        by_email = {email_normalize(s.from_filter or ""): s for s in servers}
        through = held = self.browse()
        for mail in self.sudo():
            if mail.crm_inbox_account_id:
                account = mail.crm_inbox_account_id
                if account.state == "auth_failed":
                    held |= mail
                continue  # its server is named on the mail
            server = by_email.get(email_normalize(mail.email_from or ""))
            if not server or not mail._crm_inbox_customer_facing():
                continue
            account = server.crm_inbox_account_id
            # the author AND the user who wrote it (not a job, not someone posting with
            # another user's address as From) may send from the account
            authors = mail.author_id.with_context(active_test=False).user_ids
            if not (account._crm_inbox_access_level(mail.create_uid) in ("reply", "manage")
                    and mail.create_uid in authors):
                continue
            if account.state == "auth_failed":
                held |= mail
            else:
                through |= mail
        return through.with_env(self.env), held.with_env(self.env)

    def _crm_inbox_customer_facing(self):
        """Not mass mailing, and to someone who is not an internal user (internal
        followers are notified as Odoo does, not through the customer-facing mailbox)."""
        self.ensure_one()
        if "mailing_id" in self._fields and self.mailing_id:
            return False
        if self.email_to or self.email_cc:
            return True
        return any(not partner.user_ids.filtered(lambda u: not u.share)
                   for partner in self.recipient_ids)

    def _split_by_mail_configuration(self):
        """Odoo's grouping, with account servers only for the mails of
        :meth:`_crm_inbox_route`; held mails are left out (they stay queued)."""
        through, held = self._crm_inbox_route()
        others = self - through - held
        if through:
            yield from super(MailMail, through)._split_by_mail_configuration()
        if others:
            yield from super(MailMail, others.with_context(
                crm_inbox_no_account_server=True))._split_by_mail_configuration()

    def _prepare_outgoing_list(self, mail_server=False, recipients_follower_status=None):
        """Through an account server, Reply-To is the account's address (not the
        catch-all or the record's alias): the answer arrives in the mailbox and is
        synced onto the same lead."""
        results = super()._prepare_outgoing_list(
            mail_server=mail_server, recipients_follower_status=recipients_follower_status)
        account = mail_server and mail_server.sudo().crm_inbox_account_id
        if account:
            reply_to = tools.formataddr((account.sender_name or account.user_id.name or "",
                                         account.email))
            for values in results:
                values["reply_to"] = reply_to
        return results

    # ------------------------------------------------------------------
    # sending the composer's messages
    # ------------------------------------------------------------------
    def _send(self, auto_commit=False, raise_exception=False, smtp_session=None,
              alias_domain_id=False, mail_server=False, post_send_callback=None):
        raw_mails = self.filtered("crm_inbox_envelope")
        for mail in raw_mails:
            mail._crm_inbox_send_raw(smtp_session, auto_commit)
        if raw_mails and post_send_callback:
            post_send_callback(raw_mails.ids)
        rest = self - raw_mails
        if not rest:
            return True
        return super(MailMail, rest)._send(
            auto_commit=auto_commit, raise_exception=raise_exception,
            smtp_session=smtp_session, alias_domain_id=alias_domain_id,
            mail_server=mail_server, post_send_callback=post_send_callback)

    def _crm_inbox_send_raw(self, connection, auto_commit):
        """Submit the composer's message as built, then file the Sent copy.

        A crash between the end of DATA and the commit leaves the mail queued: it is
        sent again (a duplicate), its Sent copy is still filed once (found by
        Message-ID). Never raises for an SMTP answer.
        """
        self.ensure_one()
        mail = self.sudo()
        if mail.state != "outgoing":
            return
        account = mail.crm_inbox_account_id
        if not isinstance(connection, AccountSMTPConnection) \
                or connection.account != account:
            mail.write({"state": "exception", "failure_type": "mail_smtp",
                        "failure_reason": self.env._(
                            "%(email)s cannot send: it is not connected.",
                            email=account.email)})
            mail._crm_inbox_tell_failed()
            return
        if not connection.session.is_open:
            # an earlier mail of the batch lost the connection: the next run sends it
            mail._crm_inbox_retry_later()
            return
        raw = base64.b64decode(mail.crm_inbox_raw or b"")
        envelope = (mail.crm_inbox_envelope or "").split()
        try:
            refused = connection.session.send(raw, account.email, envelope)
        except errors.EngineError as exc:
            reason = self.env._("The mail server of %(email)s refused the mail: %(reason)s",
                                email=account.email, reason=exc)
            if is_transient(exc):
                mail.write({"failure_reason": reason})
                mail._crm_inbox_retry_later()
            else:
                mail.write({"state": "exception", "failure_type": "mail_smtp",
                            "failure_reason": reason})
                mail._crm_inbox_tell_failed()
        else:
            mail.write({"state": "sent", "failure_reason": False, "failure_type": False})
            # the copy is the author's own (create_uid): not news to them (collision check)
            account.with_user(mail.create_uid)._crm_inbox_after_send(
                raw, mail.message_id, refused, mail=mail)
            if mail.crm_inbox_conversation_id:
                # the open thread shows the sent copy instead of the outbox entry
                mail.create_uid._bus_send("crm_inbox/outbox", {
                    "conversation_id": mail.crm_inbox_conversation_id.id})
            mail._postprocess_sent_message(success_pids=[])
        if auto_commit is True:
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _crm_inbox_note_refused(self, refused):
        """Some recipients were refused, the others got the mail: say so on the
        conversation (``refused``: ``{address: (code, text)}``)."""
        self.ensure_one()
        conversation = self.sudo().crm_inbox_conversation_id
        if not conversation:
            return
        detail = ", ".join(f"{addr} ({code} {text})" for addr, (code, text) in refused.items())
        conversation.message_post(
            body=self.env._("Sent, but the mail server refused these recipients: %(detail)s. "
                            "Check the addresses and send to them again.", detail=detail),
            message_type="comment", subtype_xmlid="mail.mt_note",
            author_id=self.sudo().create_uid.partner_id.id)

    def _crm_inbox_tell_failed(self):
        """A permanent failure: the author sees the server's reason on the
        conversation (the mail stays with its draft for "Edit and resend")."""
        self.ensure_one()
        mail = self.sudo()
        mail.create_uid._bus_send("simple_notification", {
            "type": "danger", "sticky": True,
            "title": self.env._("Not sent: %(subject)s", subject=mail.subject or ""),
            "message": mail.failure_reason,
        })
        if mail.crm_inbox_conversation_id:
            mail.create_uid._bus_send("crm_inbox/outbox", {
                "conversation_id": mail.crm_inbox_conversation_id.id})

    def _crm_inbox_retry_later(self):
        """Back to the queue, which runs again in :data:`RETRY_MINUTES`."""
        self.sudo().write({"state": "outgoing"})
        notifications = self.env["mail.notification"].sudo().search([
            ("mail_mail_id", "in", self.ids), ("notification_status", "=", "exception")])
        notifications.write({"notification_status": "ready", "failure_type": False,
                             "failure_reason": False})
        self.env.ref("mail.ir_cron_mail_scheduler_action").sudo()._trigger(
            at=fields.Datetime.now() + timedelta(minutes=RETRY_MINUTES))

    def _postprocess_sent_message(self, success_pids, failure_reason=False, failure_type=None):
        """Odoo's post-processing, except for mails whose account could not take them
        now (connection failed, 4xx, login refused): they stay queued."""
        deferred = self.env.cr.precommit.data.get(DEFERRED_KEY) if failure_type else None
        if deferred:
            through, _held = self._crm_inbox_route()
            servers = {}
            if through:
                for mail in through:
                    server, _from = self.env["ir.mail_server"].sudo()._find_mail_server(
                        mail.email_from)
                    servers[mail.id] = server.id if server else False
            keep = self.filtered(
                lambda m: ("message_id", m.message_id) in deferred
                or ("server", servers.get(m.id)) in deferred
                or ("server", m.mail_server_id.id) in deferred)
            if keep:
                keep._crm_inbox_retry_later()
                rest = self - keep
                if not rest:
                    return True
                return super(MailMail, rest)._postprocess_sent_message(
                    success_pids, failure_reason=failure_reason, failure_type=failure_type)
        return super()._postprocess_sent_message(
            success_pids, failure_reason=failure_reason, failure_type=failure_type)

    @api.model
    def _crm_inbox_outbox(self, conversation):
        """The composer's mails of *conversation* not yet sent or failed, for its thread.

        :returns: ``[{"id", "state" ("outgoing"|"exception"), "scheduled_at" (UTC
            string|False), "subject", "to", "reason": str|False (why it failed),
            "retrying": bool (the server could not be reached, it stays queued),
            "mine": bool}]``
        """
        mails = self.sudo().search([("crm_inbox_conversation_id", "=", conversation.id),
                                    ("state", "in", ("outgoing", "exception"))],
                                   order="scheduled_date, id")
        return [{
            "id": mail.id,
            "state": mail.state,
            "scheduled_at": fields.Datetime.to_string(mail.scheduled_date)
            if mail.scheduled_date else False,
            "subject": mail.subject or "",
            "to": (mail.crm_inbox_draft or {}).get("to") or mail.email_to or "",
            "reason": mail.failure_reason if mail.state == "exception" else False,
            "retrying": mail.state == "outgoing" and bool(mail.failure_reason),
            "mine": mail.create_uid == self.env.user,
        } for mail in mails]
