"""Scale-out sync: any number of runners claim due accounts; failing ones back off.

A due account is a unit of work. Each sync runner (one of ``crm_inbox.sync_runners``
``ir.cron`` records, in any Odoo process on any host of the database) claims the most
overdue account with ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED LIMIT 1`` (the
lock Odoo's own ir.cron takes on its jobs), sets its lease in
the same transaction and commits, so runners never wait on each other and never take
the same account; a killed runner's accounts come back when the lease expires
(``crm_inbox.sync_lease_seconds``).

When an account is due is one stored column, ``sync_next_attempt``: after a success,
``last success + interval`` (or now when a first sync has more to fetch); after a
failure, the exponential backoff of :mod:`engine.backoff`. Simultaneous sync
connections per server host are capped with PostgreSQL advisory locks (released by
PostgreSQL itself when a killed runner's connection drops).
"""

import logging
import random
import resource
import time
import uuid
import zlib
from datetime import timedelta

import psycopg2
from babel.dates import format_timedelta
from odoo import api, fields, models
from odoo.tools.misc import get_lang

from ..engine import backoff, errors

_logger = logging.getLogger(__name__)

#: The code of every sync runner's ir.cron (data/ir_cron_data.xml ships two).
RUNNER_CODE = "model._cron_sync_accounts()"
#: Stale: no successful sync for this many sync intervals.
STALE_INTERVALS = 3
#: Re-claim delay of an account skipped because its host had no free connection slot.
NO_SLOT_RETRY_SECONDS = 60
#: Advisory lock space (first key) of the per-mailbox connection slots.
MAILBOX_LOCK_SPACE = zlib.crc32(b"crm_inbox.mailbox") - (1 << 31)
#: The highest per-mailbox cap (the second key is ``account id * this + slot``).
MAILBOX_SLOTS_MAX = 32
#: CPU seconds a sync runner keeps spare below its worker's CPU time limit.
CPU_MARGIN_SECONDS = 10
#: A run starts no sync with less time left than this (seconds).
MIN_SYNC_SECONDS = 5
#: Claim retries after a serialization failure (another runner committed the row).
CLAIM_ATTEMPTS = 5

#: The accounts any runner may sync at all (their next attempt aside).
_SYNCABLE_SQL = """
       a.active
   AND a.state IN ('connected', 'error')
   AND a.connection_type != 'forwarding'
   AND c.crm_inbox_enabled
   AND (a.account_type = 'shared' OR u.active)
"""
#: statement_timestamp(), not now(): a long transaction (a test) must not see old times
_NOW = "(statement_timestamp() AT TIME ZONE 'UTC')"
#: Accounts due now whose lease nobody holds (FROM and WHERE; alias ``a``).
_DUE_FREE_SQL = f"""
              FROM crm_inbox_account a
              JOIN res_company c ON c.id = a.company_id
              JOIN res_users u ON u.id = a.user_id
             WHERE {_SYNCABLE_SQL}
               AND (a.sync_next_attempt IS NULL OR a.sync_next_attempt <= {_NOW})
               AND (a.sync_lease_until IS NULL OR a.sync_lease_until < {_NOW})
"""
#: Claim: the most overdue due account, rows being claimed by others passed over.
_CLAIM_SQL = f"""
            SELECT a.id
              {_DUE_FREE_SQL}
               AND a.id != ALL(%s)
               AND (%s::int IS NULL OR a.id = %s::int)
          ORDER BY a.sync_next_attempt ASC NULLS FIRST, a.id
             LIMIT 1
        FOR NO KEY UPDATE OF a SKIP LOCKED
        """
_CLAIMABLE_SQL = f"""
            SELECT 1
              {_DUE_FREE_SQL}
             LIMIT 1
        """
_LEASE_SQL = f"""
            UPDATE crm_inbox_account
               SET sync_lease_token = %s,
                   sync_lease_until = {_NOW} + %s * interval '1 second'
             WHERE id = %s
        """
_BACKLOG_SQL = f"""
            SELECT count(*) FILTER (WHERE a.sync_next_attempt IS NULL
                                       OR a.sync_next_attempt <= {_NOW}),
                   count(*) FILTER (WHERE a.sync_next_attempt IS NULL
                                       OR a.sync_next_attempt <= {_NOW} - interval '5 minutes'),
                   count(*) FILTER (WHERE a.sync_failure_count > 0),
                   count(*) FILTER (WHERE a.sync_failure_count > 0
                                      AND a.sync_next_attempt > {_NOW}),
                   count(*) FILTER (WHERE a.sync_lease_until > {_NOW})
              FROM crm_inbox_account a
              JOIN res_company c ON c.id = a.company_id
              JOIN res_users u ON u.id = a.user_id
             WHERE {_SYNCABLE_SQL}
        """


class CrmInboxAccount(models.Model):
    _inherit = "crm.inbox.account"

    sync_next_attempt = fields.Datetime(
        "Next attempt", copy=False, readonly=True, index=True,
        help="When the scheduled sync takes this mailbox next: its interval after a "
             "success, later and later after each failure (empty: as soon as possible).")
    sync_failure_count = fields.Integer(
        "Failed syncs in a row", copy=False, readonly=True,
        help="Reset by a successful sync or by Sync now.")
    sync_throttled = fields.Boolean(
        "Throttled by the server", copy=False, readonly=True,
        help="The last answer was 'come back later' ([THROTTLED], [UNAVAILABLE], "
             "SMTP 421/454): the next attempt waits at least 15 minutes.")
    sync_last_success = fields.Datetime("Last successful sync", copy=False, readonly=True)
    sync_stale_notified = fields.Boolean(copy=False, readonly=True)
    sync_stale = fields.Boolean(
        "Stale", compute="_compute_sync_health",
        help="No successful sync for three times the sync interval.")
    sync_health = fields.Char("Sync health", compute="_compute_sync_health")

    # ------------------------------------------------------------------
    # health
    # ------------------------------------------------------------------
    @api.depends("sync_last_success", "sync_next_attempt", "sync_failure_count",
                 "sync_interval", "state")
    def _compute_sync_health(self):
        now = fields.Datetime.now()
        locale = get_lang(self.env).code
        for account in self:
            account.sync_stale = account._crm_inbox_is_stale(now)
            parts = []
            if account.sync_last_success:
                parts.append(self.env._(
                    "Last successful sync %(ago)s ago.", ago=format_timedelta(
                        now - account.sync_last_success, locale=locale)))
            elif account.state != "draft":
                parts.append(self.env._("No successful sync yet."))
            if account.sync_failure_count:
                parts.append(self.env._("%(count)s failed attempts in a row.",
                                        count=account.sync_failure_count))
            if account.state in ("connected", "error"):
                due = account.sync_next_attempt
                if not due or due <= now:
                    parts.append(self.env._("Next attempt: now."))
                else:
                    parts.append(self.env._("Next attempt in %(delay)s.", delay=format_timedelta(
                        due - now, locale=locale)))
            account.sync_health = " ".join(parts)

    def _crm_inbox_is_stale(self, now):
        """No successful sync for :data:`STALE_INTERVALS` sync intervals (since the
        account was created, when it never synced); auth failures are not stale (they
        have their own banner), nor paused or forwarding accounts."""
        self.ensure_one()
        if self.state not in ("connected", "error") or self.connection_type == "forwarding":
            return False
        since = self.sync_last_success or self.create_date
        return bool(since) and since + timedelta(
            minutes=STALE_INTERVALS * max(self.sync_interval, 1)) < now

    def write(self, vals):
        if vals.get("state") == "connected" and not self.env.context.get("crm_inbox_syncing"):
            # (re-)connected by a person (Test connection, sign-in): try at once
            vals = dict(vals, sync_failure_count=0, sync_next_attempt=False,
                        sync_throttled=False)
        return super().write(vals)

    def action_sync_now(self):
        """Sync now also resets the backoff: the next scheduled attempt follows the
        normal interval again when it succeeds."""
        self.sudo().write({"sync_failure_count": 0, "sync_throttled": False})
        return super().action_sync_now()

    def _crm_inbox_after_sync(self, outcome):
        """Record the outcome of one sync: success, failure (the exception) or
        ``"no_slot"`` (skipped, its server host had no free connection slot); sets
        ``sync_next_attempt`` and, for an account gone stale, tells its owner once.

        :param outcome: ``True``, ``"no_slot"``, an exception, or ``None`` (an
            unexpected error, also backed off).
        """
        self.ensure_one()
        now = fields.Datetime.now()
        interval = max(self.sync_interval, 1) * 60
        if outcome is None and self._auto_commit():
            self.env.cr.rollback()  # the transaction of an unexpected error may be aborted
        if outcome is True:
            unfinished = self._sync_unfinished()
            # 30 s early: a cron running every interval finds the account due
            nxt = now if unfinished else now + timedelta(seconds=max(interval - 30, 30))
            vals = {"sync_failure_count": 0, "sync_throttled": False,
                    "sync_last_success": now, "sync_stale_notified": False,
                    "sync_next_attempt": nxt}
        elif outcome == "no_slot":
            vals = {"sync_next_attempt": now + timedelta(seconds=NO_SLOT_RETRY_SECONDS)}
        else:
            params = self.env["ir.config_parameter"].sudo()
            failures = self.sync_failure_count + 1
            throttled = isinstance(outcome, Exception) and backoff.is_throttled(outcome)
            delay = backoff.retry_delay(
                failures, interval, throttled=throttled,
                cap=float(params.get_param("crm_inbox.sync_backoff_cap", backoff.DEFAULT_CAP)))
            vals = {"sync_failure_count": failures, "sync_throttled": throttled,
                    "sync_next_attempt": now + timedelta(seconds=delay)}
        self.with_context(crm_inbox_syncing=True).write(vals)
        if outcome is not True and outcome != "no_slot" and not self.sync_stale_notified \
                and self._crm_inbox_is_stale(now):
            self.sync_stale_notified = True
            message = self.env._(
                "%(email)s has not synced for %(count)s times its interval. Last failure: "
                "%(reason)s The sync goes on trying; fix the server or its settings, then "
                "click Sync now.", email=self.email, count=STALE_INTERVALS,
                reason=self.last_error or self.env._("unknown."))
            self._notify_owner(
                message,
                summary=self.env._("Mailbox %(email)s is not syncing", email=self.email),
                title=self.env._("Mailbox %(email)s is stale", email=self.email),
                level="warning")

    # ------------------------------------------------------------------
    # connection caps
    # ------------------------------------------------------------------
    def _crm_inbox_take_host_slot(self):
        """Take one of ``crm_inbox.max_connections_per_host`` (default 10; 0: no cap)
        sync connection slots of this account's IMAP host: a session-level PostgreSQL
        advisory lock ``(crc32(host), slot)``, held across the sync's commits and
        dropped by PostgreSQL if the runner dies.

        One mailbox never has more than one sync connection: the lease. Providers cap
        connections per mailbox (Gmail 15, Microsoft 365 20), so this leaves them room.

        :returns: the lock keys, ``None`` when there is no cap, ``False`` when every
            slot is taken (the caller skips the account for now).
        """
        self.ensure_one()
        cap = int(self.env["ir.config_parameter"].sudo().get_param(
            "crm_inbox.max_connections_per_host", 10) or 0)
        if cap <= 0:
            return None
        host = (self.imap_host or self.connection_type or "").strip().lower()
        key = self._crm_inbox_host_lock_key(host)
        for slot in range(cap):
            self.env.cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (key, slot))
            if self.env.cr.fetchone()[0]:
                return (key, slot)
        _logger.info("crm_inbox: %s connections to %s already, account %s waits",
                     cap, host, self.id)
        return False

    def _crm_inbox_mailbox_cap(self):
        """``crm_inbox.max_connections_per_mailbox``: simultaneous IMAP connections
        crm_inbox opens to one mailbox (sync, the Inbox's actions, Sent copies),
        default 10 (0: no cap; at most :data:`MAILBOX_SLOTS_MAX`), below the providers'
        own limits (Gmail 15, Microsoft 365 20 IMAP connections per mailbox; Dovecot's
        ``mail_max_userip_connections`` 10 per user and address)."""
        cap = int(self.env["ir.config_parameter"].sudo().get_param(
            "crm_inbox.max_connections_per_mailbox", 10) or 0)
        return min(cap, MAILBOX_SLOTS_MAX)

    def _crm_inbox_take_mailbox_slot(self, session=False):
        """Take a free connection slot of this mailbox: the PostgreSQL advisory lock
        ``(MAILBOX_LOCK_SPACE, id * MAILBOX_SLOTS_MAX + slot)``, held until the
        transaction ends (``session=False``: a request of the Inbox) or until
        :meth:`_crm_inbox_release_host_slot` (``session=True``: the sync, which
        commits as it goes); PostgreSQL drops it when a killed process's connection
        closes. A process that holds a slot of the mailbox takes the same one again
        (advisory locks are re-entrant), so one request counts once.

        :returns: the lock key (tuple), ``None`` when there is no cap, ``False`` when
            every slot is taken.
        """
        self.ensure_one()
        cap = self._crm_inbox_mailbox_cap()
        if cap <= 0:
            return None
        function = "pg_try_advisory_lock" if session else "pg_try_advisory_xact_lock"
        for slot in range(cap):
            key = (MAILBOX_LOCK_SPACE, self.id * MAILBOX_SLOTS_MAX + slot)
            self.env.cr.execute(f"SELECT {function}(%s, %s)", key)
            if self.env.cr.fetchone()[0]:
                return key if session else None
        return False

    def _crm_inbox_wait_mailbox_slot(self):
        """Wait for a free connection slot of this mailbox (the Inbox's actions, Sent
        copies): at most ``crm_inbox.mailbox_slot_wait`` seconds (5), polling.

        :raises engine.errors.MailboxBusy: still none free, with the cap.
        """
        wait = float(self.env["ir.config_parameter"].sudo().get_param(
            "crm_inbox.mailbox_slot_wait", 5))
        deadline = time.monotonic() + wait
        while self._crm_inbox_take_mailbox_slot() is False:
            if time.monotonic() >= deadline:
                cap = self._crm_inbox_mailbox_cap()
                raise errors.MailboxBusy(
                    f"{cap} connections to {self.email} are open already",
                    limit=cap, protocol="imap")
            time.sleep(0.2)

    @api.model
    def _crm_inbox_host_lock_key(self, host):
        """The first advisory lock key of *host* (str): its CRC-32 folded into int4."""
        return zlib.crc32(host.strip().lower().encode()) - (1 << 31)

    def _crm_inbox_release_host_slot(self, slot):
        if slot:
            self.env.cr.execute("SELECT pg_advisory_unlock(%s, %s)", slot)

    # ------------------------------------------------------------------
    # runners
    # ------------------------------------------------------------------
    @api.model
    def _crm_inbox_claim(self, skip_ids=(), account_id=None):
        """Claim the most overdue due account: lock its row (``SKIP LOCKED``: rows
        another runner is claiming are passed over, never waited for), set the lease
        and commit.

        :param skip_ids: ids this run already handled (never claimed twice in a run).
        :param account_id: claim this account only (int; a queue_job job,
            models/crm_inbox_account_queue_job.py), if it is due and not leased.
        :returns: ``(account, lease token)`` or ``None`` when no account is due.
        """
        self.env.flush_all()  # raw SQL below: pending ORM writes first
        auto_commit = self._auto_commit()
        for attempt in range(CLAIM_ATTEMPTS):
            if auto_commit:
                # a fresh snapshot (Odoo runs REPEATABLE READ): see the latest commits
                self.env.cr.commit()  # pylint: disable=invalid-commit
            try:
                self.env.cr.execute(_CLAIM_SQL, (list(skip_ids), account_id, account_id),
                                    log_exceptions=False)
                break
            except psycopg2.extensions.TransactionRollbackError:
                # another runner committed this row between our snapshot and the lock
                # (REPEATABLE READ): a fresh transaction sees it, claimed or not
                if not auto_commit or attempt == CLAIM_ATTEMPTS - 1:
                    raise
                self.env.cr.rollback()
                time.sleep(random.uniform(0, 0.05))
        row = self.env.cr.fetchone()
        if not row:
            return None
        token = uuid.uuid4().hex
        self.env.cr.execute(_LEASE_SQL, (token, self._lease_seconds(), row[0]))
        account = self.browse(row[0])
        account.invalidate_recordset(["sync_lease_token", "sync_lease_until"])
        if self._auto_commit():
            self.env.cr.commit()  # pylint: disable=invalid-commit
        _logger.debug("crm_inbox: claimed account %s", account.id)
        return account, token

    @api.model
    def _crm_inbox_claimable(self):
        """Whether an account is due and no runner holds its lease (no lock taken)."""
        self.env.cr.execute(_CLAIMABLE_SQL)
        return bool(self.env.cr.fetchone())

    @api.model
    def _crm_inbox_backlog(self):
        """Counts for the settings page: ``due`` (may be claimed now), ``overdue``
        (due for more than 5 minutes, one scheduler period), ``failing`` (last sync
        failed), ``backing_off`` (failing and waiting for a later attempt),
        ``syncing`` (leased now)."""
        self.env.flush_all()
        self.env.cr.execute(_BACKLOG_SQL)
        keys = ("due", "overdue", "failing", "backing_off", "syncing")
        return dict(zip(keys, self.env.cr.fetchone(), strict=True))

    @api.model
    def _crm_inbox_time_left(self, budget):
        """Seconds this process may still spend on sync: *budget* (seconds), less when
        the process's CPU time limit is nearer (``RLIMIT_CPU``, which Odoo's prefork
        workers set to the CPU used so far + ``limit_time_cpu``, 60 s, for each unit
        of work, and enforce with SIGXCPU: a worker killed mid-sync holds its
        account's lease for ``crm_inbox.sync_lease_seconds``), keeping
        :data:`CPU_MARGIN_SECONDS` spare. No CPU limit (threaded server, tests,
        shells): *budget*.

        :param budget: wall-clock seconds wanted (float).
        :returns: seconds (float, may be <= 0: start nothing more).
        """
        soft, _hard = resource.getrlimit(resource.RLIMIT_CPU)
        if soft == resource.RLIM_INFINITY:
            return budget
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # CPU time grows at most as fast as wall time in one thread (parsing runs in a
        # child process, engine/parallel.py)
        return min(budget, soft - (usage.ru_utime + usage.ru_stime) - CPU_MARGIN_SECONDS)

    @api.model
    def _crm_inbox_run_sync(self):
        """One run of a sync runner: claim, sync, repeat, within
        ``crm_inbox.cron_time_budget`` seconds (default 60; keep it below
        ``limit_time_real_cron``) and within the worker's CPU time limit
        (:meth:`_crm_inbox_time_left`).

        Out of time with a backlog left, the run triggers its own ir.cron again instead of
        reporting the backlog as remaining progress: ``ir.cron._run_job`` would call
        it again up to 10 times within one unit of work of the cron worker, whose
        real-time limit (``limit_time_real_cron``) and CPU limit (``limit_time_cpu``)
        cover them all, so the worker would be killed mid-sync. A trigger starts a
        fresh unit of work at once (the workers LISTEN for ``cron_trigger``)."""
        params = self.env["ir.config_parameter"].sudo()
        max_messages = int(params.get_param("crm_inbox.max_messages_per_run", 2000))
        budget = float(params.get_param("crm_inbox.cron_time_budget", 60))
        started = time.monotonic()
        done, seen, out_of_time = 0, [], False
        while True:
            left = self._crm_inbox_time_left(budget - (time.monotonic() - started))
            if left < MIN_SYNC_SECONDS:
                out_of_time = True
                break
            claimed = self._crm_inbox_claim(seen)
            if not claimed:
                break  # nothing due that another runner is not syncing
            account, token = claimed
            seen.append(account.id)
            try:
                account._sync_as_system(max_messages, left, token=token)
            except Exception:
                _logger.exception("crm_inbox: unexpected error syncing account %s", account.id)
                if self._auto_commit():
                    self.env.cr.rollback()
            _logger.debug("crm_inbox: synced account %s (committed)", account.id)
            done += 1
        remaining = self._crm_inbox_backlog()["due"]
        self.env["ir.cron"]._notify_progress(done=done, remaining=0)
        cron_id = self.env.context.get("cron_id")
        if remaining and cron_id and (out_of_time or self._crm_inbox_claimable()):
            # go on in a fresh unit of work of the cron worker (an unfinished first
            # sync is due again at once, but not claimed twice in one run)
            self.env["ir.cron"].sudo().browse(cron_id)._trigger()
        _logger.info("crm_inbox: sync runner synced %s accounts in %.1f s, %s still due",
                     done, time.monotonic() - started, remaining)
        return True

    @api.model
    def _crm_inbox_trigger_runners(self):
        """Ask every active sync runner to run now (``ir.cron._trigger``): one that is
        busy with a long run takes the trigger after it, an idle one at once, so an
        account made due by a person (Sync now, Finish of the setup) does not wait for
        the runner that happens to be first."""
        Cron = self.env["ir.cron"].sudo()
        runners = Cron.search([("model_id.model", "=", self._name), ("code", "=", RUNNER_CODE)])
        for runner in runners or self.env.ref("crm_inbox.ir_cron_crm_inbox_sync").sudo():
            runner._trigger()  # ir.cron._trigger is for one record

    @api.model
    def _crm_inbox_apply_runners(self, count):
        """Have *count* active sync runner crons (at least 1): archive the ones beyond,
        create copies of the first when fewer exist. Odoo runs each ir.cron record in
        one thread at a time, so runners = parallel syncs; ``max_cron_threads`` must be
        at least *count* + 1 (readme/CONFIGURE.md).

        :param count: wanted number of runners (int >= 1).
        """
        count = max(int(count or 1), 1)
        Cron = self.env["ir.cron"].sudo().with_context(active_test=False)
        first = self.env.ref("crm_inbox.ir_cron_crm_inbox_sync").sudo()
        crons = first | Cron.search([("model_id.model", "=", self._name),
                                     ("code", "=", RUNNER_CODE)], order="id")
        for index, cron in enumerate(crons):
            if cron.active != (index < count):
                cron.active = index < count
        for index in range(len(crons), count):
            first.copy({"name": self.env._("Inbox: sync mailboxes (runner %(n)s)", n=index + 1),
                        "active": True})
