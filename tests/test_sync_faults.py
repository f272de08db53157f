"""A connection dropped mid-fetch and Dovecot restarts, between and within syncs.

The faults are real: ``doveadm kick`` closes the IMAP session on the server side,
``DovecotServer.restart()`` kills Dovecot (master and children) and starts it again
on the same ports with the same mail. To land them at a chosen point of a sync,
``crm.inbox.message._ingest`` (or ``IMAPSession.fetch_flags``) is wrapped so the
fault happens right after the first batch was stored (while the next batch is being
prefetched), or right before the flag fetch; the code under test is unchanged and
talks to the real server.

Every failing sync must record the error on the account (``state = "error"``,
``last_error``), and the next normal sync must converge: the rows equal the
server's messages exactly (0 lost, 0 duplicated).

Note: in a TransactionCase nothing is committed, so the "rollback to the last
batch commit" of a real crash is not exercised here: ``scripts/kill_test.py``
does that with SIGKILLed Odoo processes and real commits.
"""

import random
import threading
import time
from unittest.mock import patch

from odoo.tests import tagged

from ..engine.imap import IMAPSession
from ..engine.sync import BATCH_SIZE
from .common import CrmInboxCase
from .test_sync_stateful import compare, odoo_state, server_state

COUNT = BATCH_SIZE * 3 + 20  # four fetch batches in INBOX


def _raw(n, to, size=0):
    filler = ("x" * 76 + "\r\n") * (size // 78)
    return (f"From: Client {n} <client{n}@client.example>\r\nTo: {to}\r\n"
            f"Subject: Fault {n}\r\nMessage-ID: <fault-{n}@client.example>\r\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            f"\r\nBody {n}\r\n{filler}").encode()


@tagged("post_install", "-at_install")
class TestSyncFaults(CrmInboxCase):

    def _mailbox(self, count=COUNT, size=0, start=0):
        account = self._connect(self._fresh_account())
        self._append(account, count, size=size, start=start)
        return account

    def _append(self, account, count, size=0, start=0, folder="INBOX"):
        with self.dovecot.client(account.email) as client:
            for n in range(start, start + count):
                flags = ["\\Seen"] if n % 3 == 0 else []
                client.append(folder, _raw(n, account.email, size), flags=flags)

    def _assert_exact(self, account):
        synced = account.folder_ids.filtered("sync_enabled").mapped("name")
        server = server_state(self.dovecot, account.email, synced)
        odoo = odoo_state(self.env, account)
        lost, extra = compare(server, odoo, set())
        self.assertFalse(lost, "lost: on the server, not in Odoo")
        self.assertFalse(extra, "duplicated or phantom rows in Odoo")
        return sum(server.values())

    def _kick(self, user):
        """``doveadm kick``, then wait until the session is really gone (it is asynchronous)."""
        self.dovecot.kick(user)
        deadline = time.monotonic() + 5
        while user in self.dovecot.doveadm("who") and time.monotonic() < deadline:
            time.sleep(0.02)

    def _fault_after_first_batch(self, fault):
        """Patch ``_ingest`` so *fault* runs once, right after the first batch is stored."""
        Message = type(self.env["crm.inbox.message"])
        original = Message._ingest
        calls = []

        def _ingest(records, folder, fetched, parsed=None):
            result = original(records, folder, fetched, parsed)
            calls.append(len(fetched))
            if len(calls) == 1:
                fault()
            return result

        return patch.object(Message, "_ingest", _ingest), calls

    def _sync_fails(self, account):
        account._sync()
        self.assertEqual(account.state, "error", "the failing sync is recorded")
        self.assertTrue(account.last_error)
        rows = self.env["crm.inbox.message"].search_count([("account_id", "=", account.id)])
        self.assertLess(rows, COUNT, "the sync stopped part-way")
        return rows

    def _sync_converges(self, account, expected):
        account._sync()
        self.assertEqual(account.state, "connected", account.last_error)
        self.assertFalse(account.last_error)
        self.assertEqual(self._assert_exact(account), expected)
        self.assertEqual(account._sync(), 0, "a further sync adds nothing")
        self.assertEqual(self._assert_exact(account), expected)

    # ------------------------------------------------------------------
    def test_connection_dropped_mid_fetch(self):
        """``doveadm kick`` after the first batch: the next UID FETCH fails."""
        account = self._mailbox()
        hook, calls = self._fault_after_first_batch(lambda: self._kick(account.email))
        with hook:
            stored = self._sync_fails(account)
        # the next batch is prefetched while one is stored: the kick lands during or
        # after the second batch's FETCH, the third one fails at the latest
        self.assertEqual(calls[0], BATCH_SIZE)
        self.assertIn(stored, (BATCH_SIZE, 2 * BATCH_SIZE),
                      "whole batches are kept, with their cursor")
        inbox = account._get_folder("\\Inbox")
        # newest first: the stored batches are the newest UIDs, bounded by the two cursors
        self.assertEqual(inbox.last_uid, COUNT)
        self.assertEqual(inbox.low_uid, COUNT - stored + 1)
        self.assertFalse(inbox.initial_done)
        # meanwhile another client reads one and deletes one of the stored ones
        uids = self.dovecot.uids(account.email, "INBOX")
        self.dovecot.set_flags(account.email, "INBOX", [uids[1]], ["\\Seen", "\\Flagged"])
        self.dovecot.expunge(account.email, "INBOX", [uids[2]])
        self._sync_converges(account, COUNT - 1)

    def test_dovecot_restart_mid_fetch(self):
        """Dovecot killed and started again after the first batch."""
        account = self._mailbox()
        hook, _calls = self._fault_after_first_batch(self.dovecot.restart)
        with hook:
            self._sync_fails(account)
        self.assertTrue(self.dovecot.running)
        self._append(account, 5, start=COUNT)
        self._sync_converges(account, COUNT + 5)

    def test_dovecot_down_then_restarted_between_syncs(self):
        account = self._mailbox(count=30)
        account._sync()
        self.assertEqual(self._assert_exact(account), 30)
        self.dovecot._kill()
        try:
            account._sync()
            self.assertEqual(account.state, "error")
            self.assertTrue(account.last_error)
        finally:
            self.dovecot.start()
        self._append(account, 10, start=30)
        uids = self.dovecot.uids(account.email, "INBOX")
        self.dovecot.expunge(account.email, "INBOX", uids[:3])
        self.dovecot.move(account.email, "INBOX", uids[3:5], "Archive")
        account.folder_ids.filtered(lambda f: f.name == "Archive").sync_enabled = True
        self.dovecot.restart()  # a restart between syncs is invisible
        account._sync()
        self.assertEqual(account.state, "connected", account.last_error)
        self.assertEqual(self._assert_exact(account), 37)

    def test_connection_dropped_during_flag_sweep(self):
        """Kicked right before the CHANGEDSINCE flag fetch of a later sync."""
        account = self._mailbox(count=30)
        account._sync()
        uids = self.dovecot.uids(account.email, "INBOX")
        self.dovecot.set_flags(account.email, "INBOX", uids[:10], ["\\Flagged"])
        self.dovecot.expunge(account.email, "INBOX", uids[10:12])
        original = IMAPSession.fetch_flags

        def fetch_flags(session, *args, **kwargs):
            self._kick(account.email)
            return original(session, *args, **kwargs)

        with patch.object(IMAPSession, "fetch_flags", fetch_flags):
            account._sync()
        self.assertEqual(account.state, "error")
        self.assertTrue(account.last_error)
        self._sync_converges(account, 28)
        self.assertEqual(self.env["crm.inbox.message"].search_count(
            [("account_id", "=", account.id), ("is_flagged", "=", True)]), 10)

    def test_kicks_at_random_moments(self):
        """Large messages and a kick after a random delay, five times: wherever the
        kick lands (login, search, FETCH response, between batches), the following
        undisturbed sync converges."""
        account = self._mailbox(count=COUNT, size=40_000)

        rng = random.Random(5)
        failed = 0
        for rnd in range(5):
            timer = threading.Timer(rng.uniform(0.0, 0.5), self.dovecot.kick, [account.email])
            timer.start()
            try:
                account._sync()
            finally:
                timer.join()
            failed += account.state == "error"
            # new mail for the next round, so that it has FETCH batches to be cut in
            self._append(account, 40, size=40_000, start=COUNT + 40 * rnd)
        self._sync_converges(account, COUNT + 200)
        # figures for the test log  # pylint: disable-next=print-used
        print(f"crm_inbox random kicks: {failed} of 5 syncs failed, then converged "
              f"on {COUNT + 200} messages")
