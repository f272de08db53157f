"""Sync through OCA ``queue_job``, when it is installed (optional: not a dependency).

Without queue_job, the sync runner crons claim and sync due accounts themselves
(models/crm_inbox_account_runner.py). With queue_job installed in the database (and
``crm_inbox.sync_with_queue_job`` not set to ``False``), the first runner cron only
enqueues one job per due account on the channel ``root.crm_inbox`` (created here at
runtime, with the job function that lets the sync commit per batch); the job runner
runs as many at once as the channel's capacity allows (``[queue_job] channels`` in
the server's configuration, or the channel's capacity in the database: see
readme/CONFIGURE.md). The other runner crons return at once.

A job takes the same lease as a runner cron (``_crm_inbox_claim`` with this account's
id: ``FOR NO KEY UPDATE SKIP LOCKED``, due and not leased), so a cron runner, "Sync
now" and a job never sync one account at once, and a killed job holds its account
for the lease at most. Connection errors and throttling answers raise queue_job's
``RetryableJobError``, postponed to the account's own next attempt (the backoff of
:mod:`engine.backoff`, counted once, by ``_crm_inbox_after_sync``); an authentication
failure pauses the account as on the cron path and is not retried.
"""

import logging
import threading
import time
import uuid

from odoo import api, fields, models

from ..engine import backoff, errors
from .crm_inbox_account_runner import _DUE_FREE_SQL, _NOW, _SYNCABLE_SQL, MIN_SYNC_SECONDS

_logger = logging.getLogger(__name__)

#: The queue_job channel of the sync jobs (its capacity: readme/CONFIGURE.md).
QUEUE_CHANNEL = "root.crm_inbox"
#: The job method (its queue.job.function record allows commits).
JOB_METHOD = "_crm_inbox_job_sync"
#: ``0``: a failing account's job is retried at each of its backoff's next attempts,
#: for as long as it fails (engine/backoff.py spaces them, up to 6 hours).
JOB_MAX_RETRIES = 0
#: The enqueuing cron commits every this many jobs.
ENQUEUE_COMMIT_EVERY = 100
#: identity_key of an account's job: one pending job per account at most.
IDENTITY_KEY = "crm_inbox.sync:%s"

#: Due accounts nobody syncs now: id, seconds overdue (NULL: never synced), interval.
_DUE_SQL = f"""
            SELECT a.id,
                   extract(epoch FROM {_NOW} - a.sync_next_attempt),
                   greatest(a.sync_interval, 1) * 60
              {_DUE_FREE_SQL}
          ORDER BY a.sync_next_attempt ASC NULLS FIRST, a.id
        """

#: Seconds left on the lease of a due account another runner holds.
_LEASE_LEFT_SQL = f"""
            SELECT ceil(extract(epoch FROM a.sync_lease_until - {_NOW}))
              FROM crm_inbox_account a
              JOIN res_company c ON c.id = a.company_id
              JOIN res_users u ON u.id = a.user_id
             WHERE a.id = %s AND {_SYNCABLE_SQL}
               AND (a.sync_next_attempt IS NULL OR a.sync_next_attempt <= {_NOW})
               AND a.sync_lease_until >= {_NOW}
        """

#: Outcomes of _crm_inbox_after_sync for running jobs, by a key in their context.
_OUTCOMES = {}
_OUTCOMES_LOCK = threading.Lock()


class CrmInboxAccount(models.Model):
    _inherit = "crm.inbox.account"

    @api.model
    def _crm_inbox_queue_job_active(self):
        """Whether sync goes through queue_job: the module is installed in this
        database (its models are in the registry) and
        ``crm_inbox.sync_with_queue_job`` is not ``False``/``0``."""
        if "queue.job" not in self.env or not hasattr(self, "with_delay"):
            return False
        value = self.env["ir.config_parameter"].sudo().get_param(
            "crm_inbox.sync_with_queue_job", "True")
        return str(value).strip().lower() not in ("0", "false", "no", "off", "")

    @api.model
    def _crm_inbox_run_sync(self):
        """With queue_job: the first runner cron enqueues the due accounts, the others
        return at once (queue_job's channel capacity is the parallelism)."""
        if not self._crm_inbox_queue_job_active():
            return super()._crm_inbox_run_sync()
        first = self.env.ref("crm_inbox.ir_cron_crm_inbox_sync", raise_if_not_found=False)
        cron_id = self.env.context.get("cron_id")
        if cron_id and first and cron_id != first.id:
            return True
        self._crm_inbox_enqueue_due()
        return True

    # ------------------------------------------------------------------
    # enqueue
    # ------------------------------------------------------------------
    @api.model
    def _crm_inbox_queue_setup(self):
        """Create, when missing, the channel :data:`QUEUE_CHANNEL` (no capacity of its
        own: the server's ``[queue_job] channels`` or the database's channel settings
        give it) and the job function of :data:`JOB_METHOD` on it, allowed to commit
        (the sync commits per batch, its lease outlives the job's transaction).

        :returns: the channel's complete name (str).
        """
        Channel = self.env["queue.job.channel"].sudo()
        channel = Channel.search([("complete_name", "=", QUEUE_CHANNEL)], limit=1)
        if not channel:
            parent_name, name = QUEUE_CHANNEL.rsplit(".", 1)
            parent = Channel.search([("complete_name", "=", parent_name)], limit=1)
            channel = Channel.create({"name": name, "parent_id": parent.id})
            _logger.info("crm_inbox: queue_job channel %s created", QUEUE_CHANNEL)
        Function = self.env["queue.job.function"].sudo()
        name = Function.job_function_name(self._name, JOB_METHOD)
        function = Function.search([("name", "=", name)], limit=1)
        if not function:
            Function.create({"model_id": self.env["ir.model"]._get_id(self._name),
                             "method": JOB_METHOD, "channel_id": channel.id,
                             "allow_commit": True})
        elif not function.allow_commit:
            _logger.warning("crm_inbox: the job function %s must allow commits; set again",
                            name)
            function.allow_commit = True
        return QUEUE_CHANNEL

    @api.model
    def _crm_inbox_enqueue_due(self):
        """Enqueue one sync job per due account that no job waits for yet (the
        ``identity_key`` :data:`IDENTITY_KEY`), most overdue first and with a higher
        priority (queue_job: lower number first; never synced 1, then 10 minus the
        intervals overdue, at least 1).

        :returns: the number of jobs enqueued (int).
        """
        started = time.monotonic()
        channel = self._crm_inbox_queue_setup()
        self.env.flush_all()
        self.env.cr.execute(_DUE_SQL)
        rows = self.env.cr.fetchall()
        self.env.cr.execute(
            "SELECT identity_key FROM queue_job WHERE identity_key LIKE %s "
            "AND state IN ('wait_dependencies', 'pending', 'enqueued')",
            (IDENTITY_KEY % "%",))
        waiting = {key for (key,) in self.env.cr.fetchall()}
        count = 0
        for account_id, overdue, interval in rows:
            if IDENTITY_KEY % account_id in waiting:
                continue
            if overdue is None:
                priority = 1
            else:
                priority = max(1, 10 - int(float(overdue) // interval))
            self.browse(account_id)._crm_inbox_enqueue_one(channel, priority)
            count += 1
            if count % ENQUEUE_COMMIT_EVERY == 0 and self._auto_commit():
                # the job runner starts the first jobs while the rest are enqueued
                self.env.cr.commit()  # pylint: disable=invalid-commit
        _logger.info("crm_inbox: %s sync jobs enqueued on %s in %.1f s (%s accounts due)",
                     count, channel, time.monotonic() - started, len(rows))
        return count

    def _crm_inbox_enqueue_one(self, channel, priority=10):
        self.ensure_one()
        # queue.job is a mail.thread: no creation message per job (the job's own context
        # keeps only lang, tz and companies, queue_job's _job_prepare_context_before_enqueue)
        quiet = self.with_context(tracking_disable=True, mail_create_nolog=True,
                                  mail_notrack=True)
        return quiet.with_delay(
            channel=channel, priority=priority, identity_key=IDENTITY_KEY % self.id,
            max_retries=JOB_MAX_RETRIES,
            description=self.env._("Sync mailbox %(email)s", email=self.email),
        )._crm_inbox_job_sync()

    # ------------------------------------------------------------------
    # the job
    # ------------------------------------------------------------------
    def _crm_inbox_after_sync(self, outcome):
        key = self.env.context.get("crm_inbox_outcome_key")
        if key:
            with _OUTCOMES_LOCK:
                _OUTCOMES[key] = outcome
        return super()._crm_inbox_after_sync(outcome)

    def _crm_inbox_lease_left(self):
        """Seconds (int, >= 1) until the lease of this due, syncable account expires;
        ``0`` when it is not due, not syncable or not leased."""
        self.ensure_one()
        self.env.cr.execute(_LEASE_LEFT_SQL, (self.id,))
        row = self.env.cr.fetchone()
        return max(int(row[0]), 1) if row else 0

    def _crm_inbox_job_sync(self):
        """queue_job job: sync this account once, under its lease, if it is still due
        and nobody else syncs it (else end quietly); a first sync with more to fetch
        enqueues its next slice.

        :returns: what happened (str, the job's result).
        :raises RetryableJobError: connection failed, timed out or throttled, or no
            free connection slot on its host: retried at the account's next attempt;
            another runner holds its lease: retried when the lease expires.
        """
        from odoo.addons.queue_job.exception import RetryableJobError

        self.ensure_one()
        account = self.sudo()
        claimed = account._crm_inbox_claim(account_id=account.id)
        if not claimed:
            held = account._crm_inbox_lease_left()
            if held:
                # due, but another runner holds the lease (or a killed one did): come
                # back when it expires; the account is not due any more by then if the
                # holder synced it. Not a failure: no retry counted.
                raise RetryableJobError(f"account {account.id} is being synced by another "
                                        f"runner; retried in {held} s", seconds=held,
                                        ignore_retry=True)
            return "not due or paused: nothing to do"
        token = claimed[1]
        params = self.env["ir.config_parameter"].sudo()
        max_messages = int(params.get_param("crm_inbox.max_messages_per_run", 2000))
        # inside the HTTP worker's CPU limit (limit_time_cpu) that runs the job
        budget = max(self._crm_inbox_time_left(
            float(params.get_param("crm_inbox.cron_time_budget", 60))), MIN_SYNC_SECONDS)
        key = uuid.uuid4().hex
        try:
            new = account.with_context(crm_inbox_outcome_key=key)._sync_as_system(
                max_messages, budget, token=token)
        finally:
            with _OUTCOMES_LOCK:
                outcome = _OUTCOMES.pop(key, None)
        _logger.debug("crm_inbox: synced account %s (committed)", account.id)
        if outcome is True:
            if account.sync_next_attempt and account.sync_next_attempt <= fields.Datetime.now():
                # a first sync with more to fetch: the next slice (this job is started,
                # so the identity key lets it in)
                account._crm_inbox_enqueue_one(self._crm_inbox_queue_setup(), priority=5)
                return f"{new} new messages, more to fetch: next slice enqueued"
            return f"{new} new messages"
        retry = outcome == "no_slot" or (
            isinstance(outcome, Exception) and (
                isinstance(outcome, errors.ConnectFailed) or backoff.is_throttled(outcome)))
        if retry:
            seconds = max(int((account.sync_next_attempt - fields.Datetime.now())
                              .total_seconds()), 1)
            reason = "no free connection slot on its host" if outcome == "no_slot" \
                else str(outcome)
            # no_slot is no failure of the account: it does not count as a retry
            raise RetryableJobError(f"account {account.id}: {reason}; retried in {seconds} s",
                                    seconds=seconds, ignore_retry=outcome == "no_slot")
        return f"failed, not retried: {account.last_error or outcome}"
