"""The composer's safety nets, apart from the send path itself.

* Recipients of Reply / Reply all come from ``engine.recipients`` (RFC 5322 section
  3.6.3: Reply-To over From; all To and Cc minus every address of the sending account;
  no duplicates); the inline reply box also gets the original's addresses, so it can
  show what was added or removed compared with the message answered.
* ``_inbox_send_checks`` runs before anything is sent (see its docstring).
"""

from odoo import api, models

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
