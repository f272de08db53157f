"""Scale-out sync (models/crm_inbox_account_runner.py): due accounts claimed by any
runner, failing ones backed off, stale ones shown; against the real Dovecot."""

import resource
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from ..models.crm_inbox_account_runner import MAILBOX_LOCK_SPACE, MAILBOX_SLOTS_MAX
from ..testkit.mail_servers import free_port
from .common import CrmInboxCase


@tagged("post_install", "-at_install")
class TestSyncScaleOut(CrmInboxCase):

    def setUp(self):
        super().setUp()
        self.Account = self.env["crm.inbox.account"]
        self.now = fields.Datetime.now()

    def _break(self, account):
        """Point the account at a closed port (bypassing write(), which would drop its
        password): every sync now fails with 'connection refused'."""
        self.env.cr.execute("UPDATE crm_inbox_account SET imap_port = %s WHERE id = %s",
                            (free_port(), account.id))
        account.invalidate_recordset(["imap_port"])

    def _repair(self, account):
        self.env.cr.execute("UPDATE crm_inbox_account SET imap_port = %s WHERE id = %s",
                            (self.dovecot.imap_port, account.id))
        account.invalidate_recordset(["imap_port"])

    def _make_due(self, account):
        account.sudo().sync_next_attempt = self.now - timedelta(seconds=1)

    def test_failing_account_backs_off_then_recovers(self):
        account = self._connect(self._fresh_account())
        account.sudo().sync_interval = 5
        self._break(account)
        delays = []
        for expected in (1, 2, 3, 4):
            self._make_due(account)
            self.Account._cron_sync_accounts()
            self.assertEqual(account.state, "error")
            self.assertEqual(account.sync_failure_count, expected)
            delays.append((account.sync_next_attempt - fields.Datetime.now()).total_seconds())
        # 5, 10, 20, 40 minutes (a few seconds of test time aside)
        for delay, minutes in zip(delays, (5, 10, 20, 40), strict=True):
            self.assertAlmostEqual(delay, minutes * 60, delta=30)
        self.assertIn("refused", account.sync_health.lower() + account.last_error.lower())
        # backing off: the cron leaves it alone until its next attempt
        self.Account._cron_sync_accounts()
        self.assertEqual(account.sync_failure_count, 4)
        backlog = self.Account._crm_inbox_backlog()
        self.assertGreaterEqual(backlog["failing"], 1)
        self.assertGreaterEqual(backlog["backing_off"], 1)
        # success: back to the normal interval, counters reset
        self._repair(account)
        self._make_due(account)
        self.Account._cron_sync_accounts()
        self.assertEqual(account.state, "connected")
        self.assertEqual(account.sync_failure_count, 0)
        self.assertTrue(account.sync_last_success)
        delay = (account.sync_next_attempt - fields.Datetime.now()).total_seconds()
        self.assertAlmostEqual(delay, 5 * 60 - 30, delta=30)

    def test_backoff_is_capped(self):
        account = self._connect(self._fresh_account())
        self.env["ir.config_parameter"].sudo().set_param("crm_inbox.sync_backoff_cap", "900")
        self._break(account)
        account.sudo().sync_failure_count = 20
        self._make_due(account)
        self.Account._cron_sync_accounts()
        delay = (account.sync_next_attempt - fields.Datetime.now()).total_seconds()
        self.assertAlmostEqual(delay, 900, delta=30)

    def test_sync_now_resets_the_backoff(self):
        account = self._connect(self._fresh_account())
        account.sudo().write({"sync_failure_count": 6,
                              "sync_next_attempt": self.now + timedelta(hours=5)})
        account.with_user(self.user).action_sync_now()
        self.assertEqual(account.sync_failure_count, 0)
        self.assertLess(account.sync_next_attempt, self.now + timedelta(minutes=6))

    def test_reconnecting_makes_the_account_due(self):
        account = self._connect(self._fresh_account())
        account.sudo().write({"state": "error", "sync_failure_count": 3,
                              "sync_next_attempt": self.now + timedelta(hours=2)})
        account.action_test_connection()
        self.assertEqual(account.state, "connected")
        self.assertFalse(account.sync_next_attempt)
        self.assertEqual(account.sync_failure_count, 0)

    def test_stale_account_shows_a_banner_and_tells_its_owner(self):
        account = self._connect(self._fresh_account())
        self.Account._cron_sync_accounts()
        self.assertFalse(account.sync_stale)
        self._break(account)
        # last success three intervals and a minute ago
        account.sudo().sync_last_success = self.now - timedelta(minutes=3 * 5 + 1)
        self._make_due(account)
        self.Account._cron_sync_accounts()
        account.invalidate_recordset(["sync_stale", "sync_health"])
        self.assertTrue(account.sync_stale)
        self.assertIn("Last successful sync 16 minutes ago", account.sync_health)
        activity = account.activity_ids.filtered(lambda a: "not syncing" in a.summary)
        self.assertEqual(len(activity), 1, "the owner gets one activity")
        self.assertEqual(activity.user_id, self.user)
        # a second failure does not pile up activities
        self._make_due(account)
        self.Account._cron_sync_accounts()
        self.assertEqual(len(account.activity_ids), 1)
        # the banner: the form shows it for a stale account only
        arch = account.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("o_crm_inbox_stale", arch)
        form = Form(account.with_user(self.user))
        self.assertTrue(form.sync_stale)
        # an authentication failure is not "stale": it has its own banner
        account.sudo().state = "auth_failed"
        account.invalidate_recordset(["sync_stale"])
        self.assertFalse(account.sync_stale)

    def test_claim_takes_most_overdue_first_and_skips_leased(self):
        first = self._connect(self._fresh_account())
        second = self._connect(self._fresh_account())
        first.sudo().sync_next_attempt = self.now - timedelta(minutes=1)
        second.sudo().sync_next_attempt = self.now - timedelta(minutes=30)
        others = self.Account.sudo().search([("id", "not in", (first | second).ids)])
        others.write({"sync_next_attempt": self.now + timedelta(days=1)})
        account, token = self.Account._crm_inbox_claim()
        self.assertEqual(account, second)
        self.assertTrue(token)
        account, _token = self.Account._crm_inbox_claim()
        self.assertEqual(account, first, "the leased account is not claimed twice")
        self.assertIsNone(self.Account._crm_inbox_claim())

    def test_host_connection_cap(self):
        account = self._connect(self._fresh_account())
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_inbox.max_connections_per_host", "1")
        # another database session holds the only slot of this host
        with self.registry.cursor() as other:
            key = (self.Account._crm_inbox_host_lock_key(account.imap_host), 0)
            other.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
            self.assertTrue(other.fetchone()[0])
            self._make_due(account)
            self.Account._cron_sync_accounts()
            self.assertFalse(account.sync_last_success, "no free slot: not synced")
            self.assertEqual(account.sync_failure_count, 0, "waiting is not a failure")
            other.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        self._make_due(account)
        self.Account._cron_sync_accounts()
        self.assertTrue(account.sync_last_success)

    def _new_triggers(self, cron, before):
        return self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]) - before

    def test_run_stops_before_the_cpu_limit_and_goes_on_in_a_fresh_run(self):
        """Odoo's prefork cron workers are killed (SIGXCPU) at ``limit_time_cpu``: a run
        starts no sync it could not finish within the limit, and triggers its cron for
        a fresh unit of work instead (the real limit of this process, set and restored)."""
        account = self._connect(self._fresh_account())
        self._make_due(account)
        cron = self.env.ref("crm_inbox.ir_cron_crm_inbox_sync")
        before = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # 12 s of CPU left, 10 s kept spare: less than a sync's minimum
        resource.setrlimit(resource.RLIMIT_CPU,
                           (int(usage.ru_utime + usage.ru_stime) + 12, hard))
        try:
            self.Account.with_context(cron_id=cron.id)._crm_inbox_run_sync()
        finally:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        self.assertFalse(account.sync_last_success, "no sync started")
        self.assertFalse(account.sync_lease_token, "nothing claimed")
        self.assertTrue(self._new_triggers(cron, before), "the cron goes on at once")
        # with CPU time to spare it syncs, and nothing is left to trigger for
        before = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        self.Account.with_context(cron_id=cron.id)._crm_inbox_run_sync()
        self.assertTrue(account.sync_last_success)
        self.assertFalse(self._new_triggers(cron, before))

    def test_unfinished_first_sync_goes_on_in_a_fresh_run(self):
        account = self._connect(self._fresh_account())
        for n in range(5):
            self.dovecot.append(account.email, "INBOX", (
                f"From: Client <client@client.example>\r\nTo: {account.email}\r\n"
                f"Subject: Slice {n}\r\nMessage-ID: <slice-{n}@client.example>\r\n"
                f"Date: Thu, 19 Nov 2026 10:0{n}:00 +0000\r\n\r\nBody\r\n").encode())
        self.env["ir.config_parameter"].sudo().set_param("crm_inbox.max_messages_per_run", "2")
        self._make_due(account)
        cron = self.env.ref("crm_inbox.ir_cron_crm_inbox_sync")
        before = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        self.Account.with_context(cron_id=cron.id)._crm_inbox_run_sync()
        self.assertEqual(self.env["crm.inbox.message"].search_count(
            [("account_id", "=", account.id)]), 2, "one slice per run")
        self.assertTrue(self._new_triggers(cron, before),
                        "the rest of the first sync in the next run, at once")

    def test_sync_now_wakes_every_runner(self):
        """The rest of a long first sync is for whichever runner is idle, not only the
        first (which may be 60 s into its own run)."""
        runners = self.env["ir.cron"].search([("code", "=", "model._cron_sync_accounts()")])
        self.assertEqual(len(runners), 2)
        Trigger = self.env["ir.cron.trigger"]
        before = Trigger.search([("cron_id", "in", runners.ids)])
        self.Account._crm_inbox_trigger_runners()
        self.assertEqual((Trigger.search([("cron_id", "in", runners.ids)]) - before).cron_id,
                         runners)

    def test_runner_setting_creates_and_archives_crons(self):
        Cron = self.env["ir.cron"].with_context(active_test=False)

        def runners():
            return Cron.search([("model_id.model", "=", "crm.inbox.account"),
                                ("code", "=", "model._cron_sync_accounts()")])

        self.assertEqual(len(runners().filtered("active")), 2, "two runners by default")
        settings = self.env["res.config.settings"].create({"crm_inbox_sync_runners": 4})
        settings.execute()
        self.assertEqual(len(runners().filtered("active")), 4)
        self.env["res.config.settings"].create({"crm_inbox_sync_runners": 1}).execute()
        self.assertEqual(runners().filtered("active"),
                         self.env.ref("crm_inbox.ir_cron_crm_inbox_sync"))
        self.assertEqual(len(runners()), 4, "archived, not deleted")


@tagged("post_install", "-at_install")
class TestMailboxConnectionCap(CrmInboxCase):
    """At most ``crm_inbox.max_connections_per_mailbox`` IMAP connections to one mailbox,
    across the sync, the Inbox's actions and Sent copies (PostgreSQL advisory locks, so
    every Odoo process and host counts); real Dovecot, a second real database session."""

    def _account_with_mail(self):
        account = self._connect(self._fresh_account())
        self.dovecot.append(account.email, "INBOX", (
            f"From: Client <client@client.example>\r\nTo: {account.email}\r\n"
            f"Subject: Capped\r\nMessage-ID: <capped-1@client.example>\r\n"
            f"Date: Thu, 19 Nov 2026 10:00:00 +0000\r\n\r\nBody\r\n").encode())
        account._sync()
        message = self.env["crm.inbox.message"].search([("account_id", "=", account.id)])
        self.assertEqual(len(message), 1)
        return account, message

    def _hold(self, cursor, account, slots):
        """Take *slots* connection slots of *account* in another database session."""
        keys = []
        for slot in range(slots):
            key = (MAILBOX_LOCK_SPACE, account.id * MAILBOX_SLOTS_MAX + slot)
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
            self.assertTrue(cursor.fetchone()[0])
            keys.append(key)
        return keys

    def test_inbox_action_waits_then_says_the_mailbox_is_busy(self):
        account, message = self._account_with_mail()
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("crm_inbox.max_connections_per_mailbox", "2")
        params.set_param("crm_inbox.mailbox_slot_wait", "0.5")
        mine = message.with_user(self.user)
        with self.registry.cursor() as other:
            keys = self._hold(other, account, 2)
            with self.assertRaisesRegex(UserError, r"2 connections to .* are open already"):
                mine.action_mark_read()
            self.assertNotIn("\\Seen", self.dovecot.flags(account.email, "INBOX")[
                message.imap_uid], "nothing written to the server")
            self.assertFalse(message.is_read, "nothing changed in Odoo either")
            other.execute("SELECT pg_advisory_unlock(%s, %s)", keys[1])
            mine.action_mark_read()  # one slot free again
            other.execute("SELECT pg_advisory_unlock(%s, %s)", keys[0])
        self.assertIn("\\Seen", self.dovecot.flags(account.email, "INBOX")[message.imap_uid])
        self.assertTrue(message.is_read)

    def test_one_request_counts_once(self):
        account, message = self._account_with_mail()
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("crm_inbox.max_connections_per_mailbox", "1")
        params.set_param("crm_inbox.mailbox_slot_wait", "0.5")
        mine = message.with_user(self.user)
        # the same transaction takes the same slot again: three actions, one slot
        mine.action_mark_read()
        mine.action_flag()
        mine.action_mark_unread()
        self.assertEqual(set(self.dovecot.flags(account.email, "INBOX")[message.imap_uid]),
                         {"\\Flagged"})

    def test_sync_waits_for_a_slot_without_counting_a_failure(self):
        account, _message = self._account_with_mail()
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_inbox.max_connections_per_mailbox", "1")
        self.dovecot.append(account.email, "INBOX", (
            f"From: Client <client@client.example>\r\nTo: {account.email}\r\n"
            f"Subject: Second\r\nMessage-ID: <capped-2@client.example>\r\n"
            f"Date: Thu, 19 Nov 2026 10:05:00 +0000\r\n\r\nBody\r\n").encode())
        Message = self.env["crm.inbox.message"]
        with self.registry.cursor() as other:
            keys = self._hold(other, account, 1)
            account.sudo().sync_next_attempt = fields.Datetime.now() - timedelta(seconds=1)
            self.env["crm.inbox.account"]._cron_sync_accounts()
            self.assertEqual(Message.search_count([("account_id", "=", account.id)]), 1,
                             "no free slot: not synced")
            self.assertEqual(account.sync_failure_count, 0, "waiting is not a failure")
            self.assertGreater(account.sync_next_attempt, fields.Datetime.now(),
                               "retried a minute later")
            # a session-level lock outlives its cursor (pooled connection): give it back
            other.execute("SELECT pg_advisory_unlock(%s, %s)", keys[0])
        account.sudo().sync_next_attempt = fields.Datetime.now() - timedelta(seconds=1)
        self.env["crm.inbox.account"]._cron_sync_accounts()
        self.assertEqual(Message.search_count([("account_id", "=", account.id)]), 2)
        # the sync gave its session-level slot back
        self.env.cr.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND classid = %s::oid AND pid = pg_backend_pid()",
                            (MAILBOX_LOCK_SPACE & 0xFFFFFFFF,))
        self.assertEqual(self.env.cr.fetchone()[0], 0)
