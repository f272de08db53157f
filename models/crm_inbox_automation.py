"""Automation rules (``base_automation``) on conversations, for mail synced by crm_inbox.

Conversations are ``mail.thread`` records, so rules on creation, on a field change (the
assignee: "User is set") and on a time condition work on them as on any Odoo record.
The "On incoming message" / "On outgoing message" triggers hook ``message_post``, which
synced mail does not go through (an email is a ``crm.inbox.message`` row, not a chatter
message); so the ingestion fires them itself, the way base_automation's ``message_post``
patch does: once per conversation that received, in one batch, mail from the other party
(``on_message_received``) or mail we sent from another client, seen in Sent
(``on_message_sent``). Automatic mail (out-of-office replies, bounces, list mail) fires
neither.
"""

from odoo import models


class CrmInboxMessageAutomation(models.Model):
    _inherit = "crm.inbox.message"

    def _store_batch(self, folder, items, partners):
        rows = super()._store_batch(folder, items, partners)
        if "base.automation" in self.env and not self.env.context.get("__action_done"):
            people = rows.filtered(lambda r: r.conversation_id and not r.automatic_kind)
            received = people.filtered(lambda r: r.direction == "in").conversation_id
            sent = people.filtered(lambda r: r.direction == "out").conversation_id
            for trigger, conversations in (("on_message_received", received),
                                           ("on_message_sent", sent)):
                if conversations:
                    conversations._crm_inbox_run_message_automations(trigger)
        return rows


class CrmInboxConversationAutomation(models.Model):
    _inherit = "crm.inbox.conversation"

    def _crm_inbox_run_message_automations(self, trigger):
        """Run the automation rules of *trigger* (``"on_message_received"`` or
        ``"on_message_sent"``) on these conversations, as base_automation's
        ``message_post`` patch does (pre-filter, then ``_process``)."""
        Automation = self.env["base.automation"]
        automations = Automation._get_actions(self, [trigger])
        for automation in automations.with_context(old_values=None):
            records = automation._filter_pre(self, feedback=True)
            automation._process(records)
