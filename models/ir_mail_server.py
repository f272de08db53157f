"""The hidden outgoing server of each connected account (see DESIGN.md, "Sending").

Two traps of Odoo 18's ``ir.mail_server`` are closed here for account servers:

* ``_find_mail_server`` falls back to a server whose ``from_filter`` belongs to someone
  else: account servers are used on an exact From match only, never as a fallback;
* ``connect()`` opens TLS without verification and reads ``smtp_pass`` in clear: account
  servers connect through the engine's SMTP session (verified TLS or the pinned
  certificate, password or XOAUTH2 from the account's secrets); ``smtp_pass`` stays empty.
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import email_normalize

_logger = logging.getLogger(__name__)


class IrMailServer(models.Model):
    _inherit = "ir.mail_server"

    crm_inbox_account_id = fields.Many2one(
        "crm.inbox.account", "Inbox account", readonly=True, copy=False, ondelete="cascade",
        index="btree_not_null",
        help="Managed by this inbox account: mail whose From is its address leaves through "
             "the account's own mailbox. Hidden from the list of outgoing servers.")

    @api.model
    def _search(self, domain, offset=0, limit=None, order=None):
        """Account servers are hidden from every non-superuser search (the list of
        outgoing servers, the server of a template...); Odoo's own sending code searches
        as superuser and sees them, still used on an exact match only."""
        if not self.env.su and not self.env.context.get("crm_inbox_show_account_servers"):
            domain = expression.AND([domain or [], [("crm_inbox_account_id", "=", False)]])
        return super()._search(domain, offset=offset, limit=limit, order=order)

    def _find_mail_server(self, email_from, mail_servers=None):
        """Odoo's choice of server, where account servers match only exactly.

        An account server is returned only when its ``from_filter`` is *email_from*
        (normalized) and the context does not exclude account servers
        (``crm_inbox_no_account_server``, set for mail that must not leave through a
        salesperson's mailbox); Odoo's fallbacks (the domain, the notification address, a
        server without filter, the first server) never see account servers.

        :returns: ``(ir.mail_server or None, smtp_from)`` as Odoo's.
        """
        if mail_servers is None:
            mail_servers = self.sudo().search([], order="sequence")
        account_servers = mail_servers.filtered("crm_inbox_account_id")
        if account_servers and not self.env.context.get("crm_inbox_no_account_server"):
            normalized = email_normalize(email_from)
            if normalized:
                for server in account_servers.filtered("active"):
                    if email_normalize(server.from_filter or "") == normalized:
                        return server, email_from
        return super()._find_mail_server(email_from, mail_servers=mail_servers - account_servers)

    def connect(self, host=None, port=None, user=None, password=None, encryption=None,
                smtp_from=None, ssl_certificate=None, ssl_private_key=None, smtp_debug=False,
                mail_server_id=None, allow_archived=False):
        """Odoo's ``connect``; for an account server (only when named by
        *mail_server_id*, as ``mail.mail`` does), an authenticated engine session.

        Unlike Odoo's, an account server is connected in test mode too: tests reach the
        real (loopback) SMTP server of the account.

        :returns: for an account server, a
            :class:`~odoo.addons.crm_inbox.models.crm_inbox_account_mail_server.AccountSMTPConnection`.
        :raises MailDeliveryException: the account's server could not be reached or
            refused the login (the reason says what to fix).
        """
        server = self.sudo().browse(mail_server_id) if mail_server_id else self.browse()
        if server.crm_inbox_account_id:
            if not allow_archived and not server.active:
                raise UserError(self.env._(
                    "The mailbox %(email)s cannot send: it is archived or disconnected.",
                    email=server.from_filter))
            return server.crm_inbox_account_id._crm_inbox_smtp_connect(server, smtp_from)
        return super(IrMailServer, self.with_context(crm_inbox_no_account_server=True)).connect(
            host=host, port=port, user=user, password=password, encryption=encryption,
            smtp_from=smtp_from, ssl_certificate=ssl_certificate,
            ssl_private_key=ssl_private_key, smtp_debug=smtp_debug,
            mail_server_id=mail_server_id, allow_archived=allow_archived)

    @api.model
    def send_email(self, message, mail_server_id=None, smtp_server=None, smtp_port=None,
                   smtp_user=None, smtp_password=None, smtp_encryption=None,
                   smtp_ssl_certificate=None, smtp_ssl_private_key=None,
                   smtp_debug=False, smtp_session=None):
        """Odoo's ``send_email``; through an account server, the engine sends the message
        and the copy is filed in the account's Sent folder once (see
        ``crm.inbox.account._crm_inbox_deliver``).

        :returns: the Message-ID sent.
        :raises MailDeliveryException: the server refused the message (the reason is
            the server's answer).
        """
        from .crm_inbox_account_mail_server import AccountSMTPConnection

        connection = smtp_session
        own = False
        if connection is None and mail_server_id and not smtp_server:
            server = self.sudo().browse(mail_server_id)
            if server.crm_inbox_account_id:
                connection = self.connect(mail_server_id=mail_server_id,
                                          smtp_from=message["From"])
                own = True
        if not isinstance(connection, AccountSMTPConnection):
            return super(IrMailServer, self.with_context(
                crm_inbox_no_account_server=True)).send_email(
                message, mail_server_id=mail_server_id, smtp_server=smtp_server,
                smtp_port=smtp_port, smtp_user=smtp_user, smtp_password=smtp_password,
                smtp_encryption=smtp_encryption, smtp_ssl_certificate=smtp_ssl_certificate,
                smtp_ssl_private_key=smtp_ssl_private_key, smtp_debug=smtp_debug,
                smtp_session=smtp_session)
        try:
            smtp_from, smtp_to_list, message = self._prepare_email_message(message, connection)
            return connection.account._crm_inbox_deliver(
                connection, message, smtp_from, smtp_to_list)
        finally:
            if own:
                connection.quit()
