"""The composer's safety nets, apart from the send path itself.

* Recipients of Reply / Reply all come from ``engine.recipients`` (RFC 5322 section
  3.6.3: Reply-To over From; all To and Cc minus every address of the sending account;
  no duplicates); the inline reply box also gets the original's addresses, so it can
  show what was added or removed compared with the message answered.
* ``_inbox_send_checks`` runs before anything is sent (see its docstring).
"""

from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..engine import errors
from ..engine.mime import normalize_email
from ..engine.recipients import REPLY_MODES, reply_recipients
from .crm_inbox_compose import _split


class CrmInboxComposeChecks(models.TransientModel):
    _inherit = "crm.inbox.compose"

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        parent = self.env["crm.inbox.message"].browse(values.get("parent_id"))
        mode = values.get("mode", "new")
        if parent and mode in REPLY_MODES:
            account = self.env["crm.inbox.account"].browse(values.get("account_id")) \
                or parent.account_id
            result = self._crm_inbox_reply_recipients(parent, mode, account)
            values["to"] = ", ".join(self._format(a) for a in result.to)
            values["cc"] = ", ".join(self._format(a) for a in result.cc)
        return values

    @api.model
    def _crm_inbox_reply_recipients(self, parent, mode, account):
        """:func:`engine.recipients.reply_recipients` for a reply to *parent* (a
        ``crm.inbox.message``) sent from *account*."""
        return reply_recipients(
            mode, from_=_split(parent.email_from), to=_split(parent.email_to),
            cc=_split(parent.email_cc), reply_to=_split(parent.email_reply_to),
            own=account._crm_inbox_own_addresses() | parent.account_id._crm_inbox_own_addresses())

    @api.model
    def inbox_reply_defaults(self, message_id, mode="reply"):
        """As before, plus ``"original_addresses"``: the normalized From, To and Cc
        addresses of the message answered (the box compares its fields with them),
        and ``"added"`` / ``"removed"``: the difference of the default recipients."""
        values = super().inbox_reply_defaults(message_id, mode)
        parent = self._inbox_parent(message_id)
        original = []
        for addr in (*_split(parent.email_from), *_split(parent.email_to),
                     *_split(parent.email_cc)):
            norm = normalize_email(addr.email)
            if norm and norm not in original:
                original.append(norm)
        values["original_addresses"] = original
        values["own_addresses"] = sorted(parent.account_id._crm_inbox_own_addresses())
        if mode in REPLY_MODES:
            result = self._crm_inbox_reply_recipients(parent, mode, parent.account_id)
            values["added"], values["removed"] = list(result.added), list(result.removed)
        else:
            values["added"], values["removed"] = [], []
        return values

    # ------------------------------------------------------------------
    # send-time checks of the inline reply box
    # ------------------------------------------------------------------
    @api.model
    def _inbox_send_checks(self, parent, values):
        """Checks run before a reply is queued; nothing is queued when one fails.

        Collision: an email stored in the conversation after the user last saw it
        (``crm.inbox.conversation._inbox_new_since_seen``: a newer message, or a reply
        sent by someone else, also from another mail client).

        :param parent: the ``crm.inbox.message`` replied to or forwarded.
        :param values: the composer's values (see :meth:`_crm_inbox_queue`).
        :returns: ``False`` to go on.
        :raises UserError: there is news to read first.
        """
        if parent.conversation_id and parent.conversation_id._inbox_new_since_seen():
            # the reply box asks for a review first (inbox_send_review); this is the net
            raise UserError(self.env._(
                "New mail arrived in this conversation since you opened it (or a colleague "
                "answered): read it first, then send your reply again. Your draft is kept."))
        return False

    def _crm_inbox_check_size(self, size):
        """Refuse a message larger than the SMTP server's advertised ``SIZE``
        (:rfc:`1870`; read at most once a day, see
        ``crm.inbox.account._crm_inbox_smtp_size_limit``) before it is queued; the engine
        checks the bytes again before ``MAIL FROM``.

        :param size: the built message's length (bytes).
        :raises UserError: too large, saying by how much.
        """
        account = self.account_id
        limit = account._crm_inbox_smtp_size_limit()
        if limit and size > limit:
            raise UserError(self.env._(
                "This email is too large for the mail server %(host)s: %(size)s, the "
                "server accepts at most %(limit)s, so %(over)s over. Remove or shrink "
                "attachments (a link to a shared file works too), then send again.",
                host=account.smtp_host or account.email, size=_human(size),
                limit=_human(limit), over=_human(size - limit)))


def _human(size):
    """*size* (bytes) as a short text: "980 bytes", "12.3 KB", "4.5 MB"."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1_000_000:.1f} MB"


class CrmInboxAccountSize(models.Model):
    _inherit = "crm.inbox.account"

    smtp_size_limit = fields.Integer(
        "Largest email (bytes)", readonly=True, copy=False,
        help="The SMTP server's SIZE (RFC 1870), read when sending; 0: none advertised.")
    smtp_size_checked = fields.Datetime(readonly=True, copy=False)

    def _crm_inbox_smtp_size_limit(self, max_age=timedelta(days=1)):
        """The SMTP server's advertised SIZE in bytes (``0``: no limit known).

        Read from the EHLO answer (:attr:`engine.smtp.SMTPSession.size_limit`, one
        connection) when older than *max_age*; a connection failure keeps the last value
        (the send itself then reports the connection problem).
        """
        self.ensure_one()
        account = self.sudo()
        fresh = account.smtp_size_checked and \
            account.smtp_size_checked > fields.Datetime.now() - max_age
        if not fresh and account.connection_type != "forwarding":
            try:
                with account._smtp_session() as smtp:
                    limit = smtp.size_limit or 0
            except errors.EngineError:
                return account.smtp_size_limit
            account.write({"smtp_size_limit": limit,
                           "smtp_size_checked": fields.Datetime.now()})
        return account.smtp_size_limit
