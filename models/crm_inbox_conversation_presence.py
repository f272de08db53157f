"""Who has a conversation open, and what changed since they opened it.

Collision warning for shared mailboxes:

* each open conversation has a bus channel, ``crm_inbox_conversation:<id>``, that the
  mail client adds to its subscriptions; ``ir.websocket._build_bus_channel_list`` turns
  it into the record's channel after checking the user may read the conversation (the
  way ``web_editor`` adds its per-record collaboration channels);
* the client tells :meth:`CrmInboxConversationPresence.inbox_presence` when the user
  opens, keeps open (a ping every 30 s), writes a reply in, or leaves the conversation;
  each change is sent on the channel with the list of the members there;
* a member's view remembers when they last saw the conversation (``seen_at``); at Send,
  a message stored after that (mail from the other party, or a reply another member
  sent, from Odoo or from another mail client and seen in Sent by the sync) means the
  sender must review it first (``inbox_send_review`` and ``_inbox_send_checks``).
"""

import re
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessDenied, UserError

#: A view not pinged for this long is gone (seconds); the client pings every 30 s.
PRESENCE_TIMEOUT = 75
CHANNEL_RE = re.compile(r"^crm_inbox_conversation:(\d+)$")
PRESENCE_STATES = ("open", "compose", "ping", "seen", "close")


class CrmInboxConversationView(models.Model):
    """One user's view of one conversation: present or not, and seen until when."""

    _name = "crm.inbox.conversation.view"
    _description = "Inbox Conversation Viewer"
    _log_access = False

    conversation_id = fields.Many2one("crm.inbox.conversation", required=True,
                                      ondelete="cascade", index=True)
    user_id = fields.Many2one("res.users", required=True, ondelete="cascade", index=True)
    state = fields.Selection([("open", "Reading"), ("compose", "Writing a reply"),
                              ("closed", "Left")], default="open", required=True)
    seen_at = fields.Datetime(required=True, help="When the user last saw the conversation.")
    seen_message_id = fields.Integer(
        "Last email seen", help="Highest crm.inbox.message id of the conversation when the "
        "user last saw it: emails stored after it are new to them (ids grow with every "
        "stored email; no clock comparison).")
    ping_at = fields.Datetime(required=True)

    _sql_constraints = [
        ("user_conversation_unique", "UNIQUE(conversation_id, user_id)",
         "One view per user and conversation."),
    ]


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        if self.env.uid:
            channels = list(channels) + self._crm_inbox_conversation_channels(channels)
        return super()._build_bus_channel_list(channels)

    def _crm_inbox_conversation_channels(self, channels):
        """The conversations named ``crm_inbox_conversation:<id>`` in *channels*.

        :returns: list of ``crm.inbox.conversation`` records (deleted ones skipped).
        :raises AccessDenied: a public user asks for one.
        :raises AccessError: the user may not read one of them.
        """
        found = []
        for channel in channels:
            match = CHANNEL_RE.match(channel) if isinstance(channel, str) else None
            if not match:
                continue
            if self.env.user._is_public():
                raise AccessDenied()
            conversation = self.env["crm.inbox.conversation"].browse(int(match[1])).exists()
            if conversation:
                conversation.check_access("read")
                found.append(conversation)
        return found


class CrmInboxConversationPresence(models.Model):
    _inherit = "crm.inbox.conversation"

    def _inbox_viewers(self):
        """Members present on this conversation, the current user left out.

        :returns: list of ``{"id", "name", "state"}`` (state ``"open"`` or ``"compose"``).
        """
        self.ensure_one()
        since = fields.Datetime.now() - timedelta(seconds=PRESENCE_TIMEOUT)
        views = self.env["crm.inbox.conversation.view"].sudo().search(
            [("conversation_id", "=", self.id), ("state", "!=", "closed"),
             ("ping_at", ">=", since), ("user_id", "!=", self.env.uid)], order="id")
        return [{"id": v.user_id.id, "name": v.user_id.name, "state": v.state} for v in views]

    @api.model
    def inbox_presence(self, conversation_id, state):
        """Record what the current user does on a conversation; tell the others.

        :param conversation_id: a ``crm.inbox.conversation`` id the user can read.
        :param state: ``"open"`` (opened: seen now), ``"compose"`` (writing a reply),
            ``"ping"`` (still there), ``"seen"`` (reviewed the new messages: seen now),
            ``"close"`` (left).
        :returns: ``{"viewers": [{"id", "name", "state"}], "seen_at": str}`` (the
            others present; when this user's view counts as seen, UTC).
        :raises UserError: unknown state. AccessError: the conversation is not readable
            (a deleted conversation answers no viewers, without error).
        """
        if state not in PRESENCE_STATES:
            raise UserError(self.env._("Unknown presence “%(state)s”.", state=state))
        conversation = self.browse(int(conversation_id)).exists()
        if not conversation:
            # deleted meanwhile (or left after deleting it): nobody to tell, no error
            return {"viewers": [], "seen_at": False}
        conversation.check_access("read")
        View = self.env["crm.inbox.conversation.view"].sudo()
        now = fields.Datetime.now()
        view = View.search([("conversation_id", "=", conversation.id),
                            ("user_id", "=", self.env.uid)])
        before = view.state if view else "closed"
        values = {"ping_at": now}
        if state in ("open", "seen") or not view:
            values["seen_at"] = now
            values["seen_message_id"] = conversation._inbox_last_message_id()
        if state in ("open", "compose"):
            values["state"] = state
        elif state == "close":
            values["state"] = "closed"
        elif state == "seen" and view and view.state == "closed":
            values["state"] = "open"
        if view:
            view.write(values)
        else:
            view = View.create(dict(values, conversation_id=conversation.id,
                                    user_id=self.env.uid, state=values.get("state", "open")))
        if view.state != before or state == "open":
            conversation._inbox_notify_presence()
        return {"viewers": conversation._inbox_viewers(),
                "seen_at": fields.Datetime.to_string(view.seen_at)}

    def _inbox_notify_presence(self):
        """Send the presence list on this conversation's bus channel (each client leaves
        itself out)."""
        self.ensure_one()
        since = fields.Datetime.now() - timedelta(seconds=PRESENCE_TIMEOUT)
        views = self.env["crm.inbox.conversation.view"].sudo().search(
            [("conversation_id", "=", self.id), ("state", "!=", "closed"),
             ("ping_at", ">=", since)], order="id")
        self.env["bus.bus"]._sendone(self, "crm_inbox/presence", {
            "conversation_id": self.id,
            "viewers": [{"id": v.user_id.id, "name": v.user_id.name, "state": v.state}
                        for v in views],
        })

    def _inbox_last_message_id(self):
        """The highest ``crm.inbox.message`` id of this conversation (0: none)."""
        self.ensure_one()
        self.env["crm.inbox.message"].flush_model(["conversation_id"])
        self.env.cr.execute("SELECT max(id) FROM crm_inbox_message WHERE conversation_id = %s",
                            [self.id])
        return self.env.cr.fetchone()[0] or 0

    def _inbox_new_since_seen(self):
        """Emails of this conversation stored after the current user last saw it.

        :returns: ``crm.inbox.message`` records, oldest first, the user's own sent
            replies left out (empty without a view: nothing was shown, nothing to
            compare).
        """
        self.ensure_one()
        view = self.env["crm.inbox.conversation.view"].sudo().search(
            [("conversation_id", "=", self.id), ("user_id", "=", self.env.uid)])
        if not view:
            return self.env["crm.inbox.message"]
        new = self.env["crm.inbox.message"].sudo().search(
            [("conversation_id", "=", self.id), ("id", ">", view.seen_message_id)],
            order="id")
        # the user's own replies (their sent copies) are not news to them
        return new.filtered(lambda m: not (m.direction == "out" and m.create_uid == self.env.user))

    @api.model
    def inbox_send_review(self, message_id):
        """What arrived in the conversation of *message_id* since the user opened it.

        :param message_id: the ``crm.inbox.message`` the reply answers.
        :returns: list of ``{"id", "from", "date", "direction", "snippet"}`` (empty:
            nothing new, send).
        """
        parent = self.env["crm.inbox.compose"]._inbox_parent(message_id)
        conversation = parent.conversation_id
        if not conversation:
            return []
        return [{
            "id": m.id, "from": m.email_from or "", "direction": m.direction or "in",
            "date": fields.Datetime.to_string(m.date) if m.date else "",
            "snippet": " ".join((m.body_text or "").split())[:140],
        } for m in conversation._inbox_new_since_seen()]

    @api.model
    def inbox_send_review_done(self, message_id):
        """The user reviewed what was new in the conversation of *message_id* (or chose
        to send anyway): it counts as seen now.

        :returns: as :meth:`inbox_presence`.
        """
        parent = self.env["crm.inbox.compose"]._inbox_parent(message_id)
        if not parent.conversation_id:
            return {"viewers": [], "seen_at": False}
        return self.inbox_presence(parent.conversation_id.id, "seen")
