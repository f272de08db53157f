"""What still needs the salesperson: conversation states, snooze and reply reminders (issue 12).

States (``crm.inbox.conversation.state``), kept in SQL by :meth:`_refresh_summary` from the
stored emails, whichever way they arrived (synced from the server, sent from Odoo, sent
from another mail client and synced from Sent), never from a hook in the send code:

- ``waiting``: the last email written by a person is ours (direction ``out``);
- ``open``: the last email written by a person is the other party's;
- ``done``: set by the user (archive ``e`` in the client, or "Mark done"); a new email
  written by a person after that (an answer, or our own follow-up) ends it.

Automatic mail (``crm.inbox.message.automatic_kind``: out-of-office replies, delivery
reports) is left out: it never reopens a done conversation, never ends waiting or a
snooze and never completes a reminder. A conversation made only of automatic mail (a
newsletter, a lone bounce) is ``done`` from the start: nothing in it needs an answer.

"After" is decided by row ids, not by Date headers (senders' clocks and the database's
transaction time cannot be trusted for that): when a conversation is marked done or
snoozed, or a reminder is set, the largest ``crm_inbox_message.id`` at that moment is kept
as a watermark; an email is new when the first stored copy of its Message-ID has a larger
id (a copy of an email already known, e.g. the Archive copy, is not new).

Snooze is Odoo-side (there is no portable IMAP snooze): the conversation leaves the open
lists until ``snoozed_until``, then comes back unread in Odoo (``wake_unread``; the
server's ``\\Seen`` is not touched) through :meth:`_cron_wake_snoozed` (an ir.cron every
minute, triggered at the snooze time too), and the readers' open clients are told on the
bus (``crm_inbox/new_mail``).
"""

import logging
from datetime import datetime

from odoo import api, fields, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

#: Actions of :meth:`CrmInboxConversationWorkflow.inbox_workflow`.
WORKFLOW_ACTIONS = ("done", "reopen", "snooze", "unsnooze", "remind", "cancel_reminder")
#: The activity type of "Remind me if no reply by".
REMINDER_TYPE = "crm_inbox.mail_activity_type_reply_expected"


class CrmInboxConversationWorkflow(models.Model):
    _inherit = "crm.inbox.conversation"

    state = fields.Selection(
        [("open", "Open"), ("waiting", "Waiting for reply"), ("done", "Done")],
        default="open", required=True, readonly=True, index=True,
        help="Open: the other party wrote last. Waiting for reply: we wrote last. Done: "
        "marked done (archived) until a new email arrives. Maintained by "
        "_refresh_summary() from the emails written by people (automatic replies and "
        "delivery reports left out).")
    done_date = fields.Datetime("Done on", readonly=True, copy=False)
    done_watermark = fields.Integer(
        readonly=True, copy=False,
        help="Largest crm.inbox.message id when it was marked done: a later email "
        "reopens it.")
    snoozed_until = fields.Datetime(
        readonly=True, copy=False, index=True,
        help="Hidden from the open lists until then (UTC); comes back unread in Odoo.")
    snooze_watermark = fields.Integer(
        readonly=True, copy=False,
        help="Largest crm.inbox.message id when it was snoozed: a later answer from the "
        "other party ends the snooze.")
    wake_unread = fields.Boolean(
        "Unread after snooze", readonly=True, copy=False,
        help="Came back from a snooze: unread in Odoo until opened (the server's flags "
        "are not touched).")
    last_in_message_id = fields.Integer(
        readonly=True, copy=False,
        help="Row id of the first copy of the other party's last email written by a "
        "person (automatic mail left out).")
    reminder_watermark = fields.Integer(
        readonly=True, copy=False,
        help="Largest crm.inbox.message id when the reply reminder was set.")
    reminder_activity_ids = fields.Many2many(
        "mail.activity", "crm_inbox_conversation_reminder_rel", "conversation_id",
        "activity_id", string="Reply reminders", readonly=True, copy=False,
        help="The 'Reply expected' activities (on the conversation and its leads) that "
        "complete themselves when the other party answers.")

    def init(self):  # pylint: disable=missing-return
        super().init()
        cr = self.env.cr
        # conversations stored before the states existed: waiting when we wrote last
        cr.execute("SELECT id FROM crm_inbox_conversation WHERE state = 'open' "
                   "AND last_in_message_id IS NULL AND email_count > 0")
        todo = [r[0] for r in cr.fetchall()]
        for start in range(0, len(todo), 1000):
            self.browse(todo[start:start + 1000])._refresh_workflow(todo[start:start + 1000])

    # ------------------------------------------------------------------
    # the SQL-maintained states
    # ------------------------------------------------------------------
    def _refresh_summary(self):
        result = super()._refresh_summary()
        ids = [i for i in self.ids if i]
        if ids:
            self._refresh_workflow(ids)
        return result

    @api.model
    def _message_watermark(self):
        """The largest ``crm_inbox_message.id`` now (``0`` when there is none)."""
        self.env["crm.inbox.message"].flush_model()
        self.env.cr.execute("SELECT coalesce(max(id), 0) FROM crm_inbox_message")
        return self.env.cr.fetchone()[0]

    def _refresh_workflow(self, ids):
        """State, snooze end and reminders of conversations *ids* from their emails
        written by people: one UPDATE, plus one query when reminders are pending."""
        cr = self.env.cr
        self.flush_model(["state", "done_watermark", "snoozed_until", "snooze_watermark",
                          "wake_unread", "reminder_watermark"])
        cr.execute("""
            WITH emails AS (
                SELECT conversation_id, direction, date, id,
                       min(id) OVER (PARTITION BY conversation_id,
                                     coalesce(message_id, id::text)) AS first_id
                  FROM crm_inbox_message
                 WHERE conversation_id = ANY(%(ids)s) AND automatic_kind IS NULL
            ), s AS (
                SELECT conversation_id,
                       (array_agg(direction ORDER BY date DESC, id DESC))[1] AS last_dir,
                       max(first_id) AS last_id,
                       max(first_id) FILTER (WHERE direction = 'in') AS last_in_id
                  FROM emails GROUP BY conversation_id
            ), w AS (
                SELECT c.id,
                       c.state = 'done' AND s.last_id <= coalesce(c.done_watermark, 0)
                           AS still_done,
                       c.snoozed_until IS NOT NULL
                           AND coalesce(s.last_in_id, 0) > coalesce(c.snooze_watermark, 0)
                           AS snooze_ended,
                       s.last_dir, s.last_in_id
                  FROM crm_inbox_conversation c JOIN s ON s.conversation_id = c.id
            )
            UPDATE crm_inbox_conversation c
               SET state = CASE WHEN w.still_done THEN 'done'
                                WHEN w.last_dir = 'out' THEN 'waiting' ELSE 'open' END,
                   done_date = CASE WHEN w.still_done THEN c.done_date END,
                   done_watermark = CASE WHEN w.still_done THEN c.done_watermark END,
                   snoozed_until = CASE WHEN w.snooze_ended THEN NULL ELSE c.snoozed_until END,
                   snooze_watermark = CASE WHEN w.snooze_ended THEN NULL
                                           ELSE c.snooze_watermark END,
                   last_in_message_id = w.last_in_id,
                   is_unread = coalesce(c.is_unread, false) OR coalesce(c.wake_unread, false)
              FROM w
             WHERE c.id = w.id
        """, {"ids": ids})
        # made only of automatic mail (a newsletter, a lone bounce): nothing to answer,
        # done at once; a person's email after it reopens it (the usual watermark)
        if not self.env.context.get("crm_inbox_reopening"):
            cr.execute("""
                UPDATE crm_inbox_conversation c
                   SET state = 'done', done_date = now() AT TIME ZONE 'UTC',
                       done_watermark = a.last_id
                  FROM (SELECT conversation_id, max(id) AS last_id FROM crm_inbox_message
                         WHERE conversation_id = ANY(%(ids)s)
                         GROUP BY conversation_id
                        HAVING bool_and(automatic_kind IS NOT NULL)) a
                 WHERE c.id = a.conversation_id AND c.state = 'open'
                   AND c.done_watermark IS NULL AND c.done_date IS NULL
            """, {"ids": ids})
        self.invalidate_model(["state", "done_date", "done_watermark", "snoozed_until",
                               "snooze_watermark", "last_in_message_id", "is_unread"])
        cr.execute("""
            SELECT id FROM crm_inbox_conversation
             WHERE id = ANY(%s) AND reminder_watermark IS NOT NULL
               AND coalesce(last_in_message_id, 0) > reminder_watermark
        """, [ids])
        answered = [r[0] for r in cr.fetchall()]
        if answered:
            self.browse(answered)._complete_reminders()

    def _complete_reminders(self):
        """Mark the reply reminders of these conversations done (the answer arrived)."""
        for conversation in self.sudo():
            activities = conversation.reminder_activity_ids.exists()
            if activities:
                activities.action_feedback(feedback=self.env._("The reply arrived."))
            conversation.write({"reminder_watermark": False, "reminder_activity_ids": [(5,)]})

    # ------------------------------------------------------------------
    # the user's actions
    # ------------------------------------------------------------------
    @api.model
    def inbox_workflow(self, conversation_ids, action, value=None):
        """Change the state, snooze or reminder of conversations (Odoo-side only: no
        change on the mail server).

        :param conversation_ids: list of ``crm.inbox.conversation`` ids the user can write.
        :param action: one of :data:`WORKFLOW_ACTIONS`:

            - ``"done"`` / ``"reopen"``: mark done (without moving mail; the client's
              archive also marks done) / open again;
            - ``"snooze"``: ``value`` is the UTC date and time to come back,
              ``"YYYY-MM-DD HH:MM:SS"``, in the future;
            - ``"unsnooze"``: back in the open lists now;
            - ``"remind"``: ``value`` is the date (``"YYYY-MM-DD"``) by which a reply is
              expected: a "Reply expected" activity of the user on the conversation and on
              each linked lead the user can edit, done by itself when the other party
              answers (automatic replies do not count);
            - ``"cancel_reminder"``: removes those activities.
        :returns: ``{"ok": True}``
        :raises UserError: unknown action, a missing or past date (the message says what
            to choose). AccessError when the user may not change the conversation.
        """
        if action not in WORKFLOW_ACTIONS:
            raise UserError(self.env._("Unknown action “%(action)s”: use one of %(all)s.",
                                       action=action, all=", ".join(WORKFLOW_ACTIONS)))
        conversations = self.browse([int(i) for i in conversation_ids or []]).exists()
        if not conversations:
            raise UserError(self.env._("The conversation no longer exists: reload the list."))
        conversations.check_access("write")
        if action == "done":
            conversations._mark_done()
        elif action == "reopen":
            conversations._reopen()
        elif action == "snooze":
            conversations._snooze(self._parse_when(value))
        elif action == "unsnooze":
            conversations._unsnooze()
        elif action == "remind":
            conversations._set_reminder(self._parse_day(value))
        elif action == "cancel_reminder":
            for conversation in conversations.sudo():
                conversation.reminder_activity_ids.exists().unlink()
                conversation.write({"reminder_watermark": False})
        return {"ok": True}

    @api.model
    def _parse_when(self, value):
        try:
            when = fields.Datetime.to_datetime(value)
        except ValueError:
            when = None
        if not when:
            raise UserError(self.env._("Choose when the conversation comes back."))
        if when <= fields.Datetime.now():
            raise UserError(self.env._("Choose a time in the future to snooze until."))
        return when

    @api.model
    def _parse_day(self, value):
        try:
            day = fields.Date.to_date(str(value or "")[:10])
        except ValueError:
            day = None
        if not day:
            raise UserError(self.env._("Choose the date by which you expect a reply."))
        if day < fields.Date.context_today(self):
            raise UserError(self.env._("Choose today or a later date for the reminder."))
        return day

    def _mark_done(self):
        watermark = self._message_watermark()
        self.sudo().write({"state": "done", "done_date": fields.Datetime.now(),
                           "done_watermark": watermark, "snoozed_until": False,
                           "snooze_watermark": False})

    def _reopen(self):
        self.sudo().write({"state": "open", "done_date": False, "done_watermark": False})
        # reopened by the user: stays open even when made only of automatic mail
        self.with_context(crm_inbox_reopening=True)._refresh_workflow(self.ids)

    def _snooze(self, when):
        """Hide these conversations until *when* (naive UTC datetime)."""
        watermark = self._message_watermark()
        self.sudo().write({"snoozed_until": when, "snooze_watermark": watermark,
                           "wake_unread": False})
        if any(c.state == "done" for c in self):
            self.filtered(lambda c: c.state == "done")._reopen()
        cron = self.env.ref("crm_inbox.ir_cron_crm_inbox_wake_snoozed", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at=when)

    def _unsnooze(self):
        self.sudo().write({"snoozed_until": False, "snooze_watermark": False})

    def _set_reminder(self, day):
        """A "Reply expected" activity due *day*, on these conversations and their leads."""
        activity_type = self.env.ref(REMINDER_TYPE)
        watermark = self._message_watermark()
        Activity = self.env["mail.activity"]
        for conversation in self:
            conversation.sudo().reminder_activity_ids.exists().unlink()
            who = conversation.counterpart_names or conversation.name
            summary = self.env._("Reply expected from %(who)s", who=who)
            note = self.env._("Set from the conversation “%(subject)s”: done by itself when "
                              "the answer arrives.", subject=conversation.name)
            created = Activity
            leads = conversation.lead_ids.filtered(lambda lead: lead.has_access("write"))
            for record in [conversation, *leads]:
                created |= record.activity_schedule(
                    act_type_xmlid=REMINDER_TYPE, date_deadline=day, summary=summary,
                    note=note, user_id=self.env.uid)
            conversation.sudo().write({"reminder_watermark": watermark,
                                       "reminder_activity_ids": [(6, 0, created.ids)]})
        return activity_type

    @api.model
    def _cron_wake_snoozed(self, now=None):
        """Bring back the conversations whose snooze is over: out of Snoozed, into the
        open lists, unread in Odoo (``wake_unread``), the readers' clients told on the bus.

        :param now: naive UTC datetime (default: now); tests pass T-1s / T+1s.
        :returns: the conversations woken.
        """
        now = now or fields.Datetime.now()
        cr = self.env.cr
        self.flush_model(["snoozed_until"])
        cr.execute("""
            UPDATE crm_inbox_conversation
               SET snoozed_until = NULL, snooze_watermark = NULL, wake_unread = true,
                   is_unread = true
             WHERE snoozed_until <= %s
         RETURNING id, account_id
        """, [now])
        rows = cr.fetchall()
        self.invalidate_model(["snoozed_until", "snooze_watermark", "wake_unread", "is_unread"])
        by_account = {}
        for conv_id, account_id in rows:
            by_account.setdefault(account_id, []).append(conv_id)
        for account_id, conv_ids in by_account.items():
            self.sudo()._client_notify_new_mail(
                self.env["crm.inbox.account"].sudo().browse(account_id), conv_ids)
        if rows:
            _logger.info("crm_inbox: %s snoozed conversations back", len(rows))
        return self.browse([r[0] for r in rows])

    # ------------------------------------------------------------------
    # the mail client (static/src/inbox)
    # ------------------------------------------------------------------
    @api.model
    def inbox_action(self, conversation_ids, action, value=None):
        """As in models/crm_inbox_client_actions.py; also: archive marks the conversations
        done, a move to the Inbox opens them again, reading clears ``wake_unread``."""
        result = super().inbox_action(conversation_ids, action, value)
        conversations = self.browse([int(i) for i in conversation_ids or []]).exists()
        if action == "archive":
            conversations._mark_done()
        elif action == "move":
            folder = self.env["crm.inbox.folder"].browse(int(value or 0))
            if folder.special_use == "\\Inbox":
                conversations.filtered(lambda c: c.state == "done")._reopen()
        elif action == "read":
            woken = conversations.filtered("wake_unread")
            if woken:
                woken.sudo().write({"wake_unread": False})
                woken._refresh_summary()
        return result

    @api.model
    def _client_hidden_domain(self):
        """What the default lists leave out: done and snoozed conversations."""
        return [("state", "!=", "done"), ("snoozed_until", "=", False)]

    @api.model
    def _client_scope_domain(self, scope):
        scope = scope or {"smart": "all"}
        smart = scope.get("smart")
        if smart == "waiting":
            return [("state", "=", "waiting"), ("snoozed_until", "=", False)], False
        if smart == "snoozed":
            return [("snoozed_until", "!=", False)], False
        if smart == "done":
            return [("state", "=", "done")], False
        domain, contact_scope = super()._client_scope_domain(scope)
        hide = False
        if smart in ("all", "assigned", "unassigned", "unread") or (
                not contact_scope and not scope.get("folder_id") and not smart
                and scope.get("account_id")):
            hide = True
        elif scope.get("folder_id"):
            # one query whatever the cache (the client RPCs keep constant query counts)
            self.env.cr.execute("SELECT special_use FROM crm_inbox_folder WHERE id = %s",
                                [int(scope["folder_id"])])
            row = self.env.cr.fetchone()
            hide = bool(row) and row[0] == "\\Inbox"
        if hide:
            domain = domain + self._client_hidden_domain()
        return domain, contact_scope

    @api.model
    def inbox_sidebar(self):
        """As in models/crm_inbox_client.py, with ``smart.waiting`` (conversations
        waiting for a reply, not snoozed) and ``smart.snoozed``; ``assigned`` and
        ``unassigned`` leave done and snoozed conversations out."""
        result = super().inbox_sidebar()
        hidden = self._client_hidden_domain()
        result["smart"].update({
            "assigned": self.search_count([("is_unread", "=", True),
                                           ("user_id", "=", self.env.uid), *hidden]),
            "unassigned": self.search_count([("is_unread", "=", True),
                                             ("user_id", "=", False), *hidden]),
            "waiting": self.search_count([("state", "=", "waiting"),
                                          ("snoozed_until", "=", False)]),
            "snoozed": self.search_count([("snoozed_until", "!=", False)]),
        })
        return result

    @api.model
    def inbox_list(self, scope=None, search="", offset=0, limit=50):
        """As in models/crm_inbox_client.py; each row also has ``state`` and
        ``snoozed_until`` (ISO UTC or ``False``)."""
        result = super().inbox_list(scope, search=search, offset=offset, limit=limit)
        ids = [r["id"] for r in result["rows"]]
        if ids:
            self.env.cr.execute(
                "SELECT id, state, snoozed_until FROM crm_inbox_conversation WHERE id = ANY(%s)",
                [ids])
            states = {r[0]: r[1:] for r in self.env.cr.fetchall()}
            for row in result["rows"]:
                state, snoozed = states.get(row["id"], ("open", None))
                row["state"] = state
                row["snoozed_until"] = _iso(snoozed)
        return result

    @api.model
    def inbox_thread(self, conversation_id):
        """As in models/crm_inbox_client.py; ``conversation`` also has ``state``,
        ``snoozed_until``, ``wake_unread`` and ``reminder`` (``{"date_deadline"}`` of the
        user's pending reply reminder, or ``False``)."""
        result = super().inbox_thread(conversation_id)
        conv = self.sudo().browse(int(conversation_id))
        conv.fetch(["state", "snoozed_until", "wake_unread", "reminder_activity_ids"])
        reminders = conv.reminder_activity_ids.exists().filtered(
            lambda a: a.res_model == self._name)
        result["conversation"].update({
            "state": conv.state,
            "snoozed_until": _iso(conv.snoozed_until),
            "wake_unread": conv.wake_unread,
            "reminder": {"date_deadline": fields.Date.to_string(reminders[0].date_deadline)}
            if reminders else False,
        })
        return result


def _iso(value):
    """A naive UTC datetime as ``"YYYY-MM-DDTHH:MM:SSZ"``, ``False`` for none."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else False
