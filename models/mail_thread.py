import xmlrpc.client

from odoo import api, models


class MailThread(models.AbstractModel):
    """Mail delivered to a forwarding account's receiving address goes to crm_inbox.

    It is taken before Odoo's routing and before its database-wide Message-ID check
    (which would drop a message also synced into a salesperson's mailbox), and nothing is
    posted on the alias's record: the message is stored like synced mail
    (``crm.inbox.account._crm_inbox_receive``). Any other mail follows Odoo's routing.
    """

    _inherit = "mail.thread"

    @api.model
    def message_process(self, model, message, custom_values=None, save_original=False,
                        strip_attachments=False, thread_id=None):
        """See ``mail.thread.message_process``; returns a ``crm.inbox.conversation`` id (or
        ``False`` when the mail was dropped) for mail to a forwarding address."""
        raw = message
        if isinstance(raw, xmlrpc.client.Binary):
            raw = bytes(raw.data)
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        if isinstance(raw, bytes) and not thread_id:
            account = self.env["crm.inbox.account"]._crm_inbox_route_delivered(raw)
            if account:
                return account._crm_inbox_receive(raw)
        return super().message_process(
            model, message, custom_values=custom_values, save_original=save_original,
            strip_attachments=strip_attachments, thread_id=thread_id)
