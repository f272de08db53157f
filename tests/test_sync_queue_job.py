"""Sync through OCA queue_job (models/crm_inbox_account_queue_job.py), against the real
Dovecot. Skipped unless queue_job is installed in the test database: the main test
run installs crm_inbox alone (queue_job is optional); scripts/test.sh runs these in a
second database with ``-i crm_inbox,queue_job``."""

import time
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from ..testkit.mail_servers import free_port
from .common import CrmInboxCase


def _raw(n, to):
    return (f"From: Client {n} <client{n}@client.example>\r\nTo: {to}\r\n"
            f"Subject: Queued {n}\r\nMessage-ID: <queued-{n}@client.example>\r\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            f"\r\nBody {n}\r\n").encode()


@tagged("post_install", "-at_install", "crm_inbox_queue_job")
class TestSyncQueueJob(CrmInboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.queue_job = "queue.job" in cls.env
        if cls.queue_job:
            # a job allowed to commit runs on registry.cursor(): in test mode that is
            # this test's transaction (as in HttpCase), so the job sees the test's data
            cls.registry.enter_test_mode(cls.cr)
            cls.addClassCleanup(cls.registry.leave_test_mode)

    def setUp(self):
        if not self.queue_job:
            self.skipTest("OCA queue_job is not installed in this database (optional)")
        super().setUp()
        self.Account = self.env["crm.inbox.account"]
        self.Job = self.env["queue.job"].sudo()

    def _jobs(self, account):
        return self.Job.search([("identity_key", "in", [f"crm_inbox.sync:{account_id}"
                                                         for account_id in account.ids])])

    def _due(self, account):
        account.sudo().write({"sync_next_attempt": fields.Datetime.now() - timedelta(seconds=1),
                              "sync_failure_count": 0})

    def _perform(self, job_record):
        from odoo.addons.queue_job.job import Job

        job = Job.load(self.env, job_record.uuid)
        try:
            return job.perform()
        finally:
            self.env.invalidate_all()

    def _call(self, job_record):
        """The job's function on the test's cursor: what perform() runs, without its
        temporary cursor (a test cursor rolls back what a failing job wrote; the real
        job committed it before raising)."""
        from odoo.addons.queue_job.job import Job

        return Job.load(self.env, job_record.uuid).func()

    def _call_raising(self, job_record, exc_class):
        """:meth:`_call`, which must raise *exc_class*; returns the exception.
        (Not assertRaises: Odoo's rolls the transaction back to before the call.)"""
        try:
            self._call(job_record)
        except exc_class as exc:
            return exc
        self.fail(f"{exc_class.__name__} not raised")

    def _break(self, account):
        self.env.cr.execute("UPDATE crm_inbox_account SET imap_port = %s WHERE id = %s",
                            (free_port(), account.id))
        account.invalidate_recordset(["imap_port"])

    def test_cron_enqueues_one_job_per_due_account(self):
        accounts = self._connect(self._fresh_account()) | self._connect(self._fresh_account())
        for account in accounts:
            self._due(account)
        self.Account._cron_sync_accounts()
        for account in accounts:
            job = self._jobs(account)
            self.assertEqual(len(job), 1)
            self.assertEqual(job.channel, "root.crm_inbox")
            self.assertEqual(job.method_name, "_crm_inbox_job_sync")
            self.assertEqual(job.state, "pending")
        channel = self.env["queue.job.channel"].search([("complete_name", "=", "root.crm_inbox")])
        self.assertEqual(len(channel), 1)
        function = self.env["queue.job.function"].search(
            [("name", "=", "<crm.inbox.account>._crm_inbox_job_sync")])
        self.assertTrue(function.allow_commit, "the sync commits per batch")
        # the cron claimed nothing itself: no lease, not synced
        self.assertFalse(accounts.sudo().filtered("sync_lease_token"))
        self.assertFalse(accounts.filtered("sync_last_success"))
        # a second run: no duplicate job
        self.Account._cron_sync_accounts()
        for account in accounts:
            self.assertEqual(len(self._jobs(account)), 1)
        # the other runner crons only return: the first one enqueues
        self._jobs(accounts).unlink()
        second = self.env.ref("crm_inbox.ir_cron_crm_inbox_sync_2")
        self.Account.with_context(cron_id=second.id)._cron_sync_accounts()
        self.assertFalse(self._jobs(accounts))
        # most overdue first: the never-synced account gets the highest priority
        accounts[0].sudo().sync_next_attempt = False
        self.Account._cron_sync_accounts()
        self.assertLess(self._jobs(accounts[0]).priority, self._jobs(accounts[1]).priority)

    def test_job_syncs_the_account_from_dovecot(self):
        account = self._connect(self._fresh_account())
        with self.dovecot.client(account.email) as client:
            for n in range(3):
                client.append("INBOX", _raw(n, account.email))
        self._due(account)
        self.Account._cron_sync_accounts()
        result = self._perform(self._jobs(account))
        self.assertIn("3 new messages", result)
        self.assertEqual(self.env["crm.inbox.message"].search_count(
            [("account_id", "=", account.id)]), 3)
        self.assertEqual(account.state, "connected")
        self.assertTrue(account.sync_last_success)
        self.assertGreater(account.sync_next_attempt, fields.Datetime.now())
        self.assertFalse(account.sudo().sync_lease_token, "the lease is released")
        # the same job again (queue_job requeued a dead one): not due, nothing synced
        self.assertIn("nothing to do", self._perform(self._jobs(account)))

    def test_job_leaves_a_leased_account_alone(self):
        from odoo.addons.queue_job.exception import RetryableJobError

        account = self._connect(self._fresh_account())
        with self.dovecot.client(account.email) as client:
            client.append("INBOX", _raw(7, account.email))
        self._due(account)
        self.Account._cron_sync_accounts()
        job = self._jobs(account)
        # a cron runner (or Sync now) holds the lease meanwhile
        self.env.cr.execute(
            "UPDATE crm_inbox_account SET sync_lease_token = 'other-runner', "
            "sync_lease_until = (statement_timestamp() AT TIME ZONE 'UTC') + interval '10 minutes' "
            "WHERE id = %s", (account.id,))
        account.invalidate_recordset(["sync_lease_token", "sync_lease_until"])
        retry = self._call_raising(job, RetryableJobError)
        self.assertTrue(retry.ignore_retry, "waiting for a lease is no failure")
        self.assertAlmostEqual(retry.seconds, 600, delta=5, msg="retried when the lease expires")
        self.assertFalse(self.env["crm.inbox.message"].search_count(
            [("account_id", "=", account.id)]))
        self.assertEqual(account.sudo().sync_lease_token, "other-runner")
        self.assertEqual(account.sync_failure_count, 0)
        # and the cron enqueues nothing for a leased account
        job.unlink()
        self.Account._cron_sync_accounts()
        self.assertFalse(self._jobs(account))

    def test_connection_error_is_retried_at_the_backoff(self):
        from odoo.addons.queue_job.exception import RetryableJobError

        account = self._connect(self._fresh_account())
        account.sudo().sync_interval = 5
        self._break(account)  # a closed local port: connection refused
        self._due(account)
        self.Account._cron_sync_accounts()
        job = self._jobs(account)
        with self.assertRaises(RetryableJobError):
            self._perform(job)  # queue_job's own call raises it (then postpones the job)
        retry = self._call_raising(job, RetryableJobError)
        self.assertEqual(account.state, "error")
        self.assertEqual(account.sync_failure_count, 1, "one failure, counted once")
        delay = (account.sync_next_attempt - fields.Datetime.now()).total_seconds()
        self.assertAlmostEqual(retry.seconds, delay, delta=5)
        self.assertAlmostEqual(retry.seconds, 5 * 60, delta=30)
        self.assertFalse(account.sudo().sync_lease_token)
        # the retry, when due: the second failure doubles the delay
        account.sudo().sync_next_attempt = fields.Datetime.now() - timedelta(seconds=1)
        retry = self._call_raising(job, RetryableJobError)
        self.assertEqual(account.sync_failure_count, 2)
        self.assertAlmostEqual(retry.seconds, 10 * 60, delta=30)

    def test_authentication_failure_is_not_retried(self):
        account = self._connect(self._fresh_account())
        self.dovecot.set_password(account.email, "a-new-password")  # the password changed
        self._due(account)
        self.Account._cron_sync_accounts()
        result = self._perform(self._jobs(account))
        self.assertIn("not retried", result)
        self.assertEqual(account.state, "auth_failed")
        # paused: the cron enqueues no new job for it
        self._jobs(account).unlink()
        self._due(account)
        self.Account._cron_sync_accounts()
        self.assertFalse(self._jobs(account))

    def test_without_queue_job_setting_the_crons_sync_themselves(self):
        self.env["ir.config_parameter"].sudo().set_param("crm_inbox.sync_with_queue_job",
                                                         "False")
        account = self._connect(self._fresh_account())
        self._due(account)
        self.Account._cron_sync_accounts()
        self.assertFalse(self._jobs(account))
        self.assertTrue(account.sync_last_success)
