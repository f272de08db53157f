#!/usr/bin/env python3
"""Sync through OCA queue_job: its Odoo tests, then a real job runner, SIGKILLed.

queue_job is optional (not in __manifest__); this needs it importable
(``pip install --no-deps "odoo-addon-queue-job==18.0.*"``). Real parts only:

1. the queue_job Odoo tests (tests/test_sync_queue_job.py, skipped in the main Odoo
   tier where crm_inbox is installed alone) in a fresh database with
   ``-i crm_inbox,queue_job``;
2. a second database with crm_inbox and queue_job, a private Dovecot with
   ``--accounts`` users (2 messages each) behind ``testkit.delay_proxy.DelayProxy``,
   one account per mailbox, lease ``--lease`` seconds;
3. cycle 1: a real Odoo server (threaded, ``--load=base,web,queue_job``, ``[queue_job]
   channels`` = ``root:4,root.crm_inbox:4`` through ``ODOO_QUEUE_JOB_CHANNELS``); its
   cron enqueues one job per account, the job runner runs them 4 at a time. Every
   account is synced exactly once (one job sync per account in the server log);
4. cycle 2: one new message per mailbox, every account due; the server is SIGKILLed
   after 3 job syncs, with jobs running (their leases held by a dead process), then
   started again: the job runner re-queues the dead jobs, which wait for the leases to
   expire; every account synced exactly once over both servers, all within
   ``max(lease, 70 s) + 30 s`` of the kill (queue_job's runner re-queues a dead job once
   it is 10 s old and looks at least every 60 s);
5. PostgreSQL matches Dovecot: 3 messages per account, none lost, none duplicated; no
   failed job. Exit status 1 on any mismatch.

Run as root (Dovecot drops privileges) where ``odoo`` and queue_job are importable::

    python3 scripts/queue_job_test.py [--accounts 20] [--delay 0.02] [--lease 20] [--keep]
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

import psycopg2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "scripts"))

from kill_test import Odoo
from scale_kill_test import SETUP_CODE, check_exact, message

from testkit.delay_proxy import DelayProxy
from testkit.mail_servers import DovecotServer, SMTPTestServer, free_port

PASSWORD = "scale-pass"
CAPACITY = 4
SYNCED_RE = re.compile(r" DEBUG \S+ \S+crm_inbox_account_queue_job: "
                       r"crm_inbox: synced account (\d+)")

PREPARE_CODE = """
env.cr.execute("UPDATE ir_cron SET nextcall = (now() AT TIME ZONE 'UTC') - interval '1 minute' "
               "WHERE id = %s", (env.ref("crm_inbox.ir_cron_crm_inbox_sync").id,))
env.cr.execute("UPDATE crm_inbox_account SET sync_next_attempt = NULL WHERE id = ANY(%s)",
               ({ids!r},))
env.cr.commit()
print("PREPARED")
"""


def log(msg):
    print(f"[queue-job] {msg}", flush=True)


def user(i):
    return f"queued{i:03d}@example.com"


def queue_job_dir():
    from odoo.addons import queue_job

    return os.path.dirname(queue_job.__file__)


def run_odoo_tests(work):
    """Step 1: tests/test_sync_queue_job.py with queue_job installed; returns the
    number of tests run (SystemExit on a failure)."""
    addons = os.path.join(work, "tests-addons")
    os.makedirs(addons)
    os.symlink(REPO, os.path.join(addons, "crm_inbox"))
    os.symlink(queue_job_dir(), os.path.join(addons, "queue_job"))
    db = f"crm_inbox_queue_job_tests_{os.getpid()}"
    subprocess.run(["dropdb", "--if-exists", db], check=False)
    logfile = os.path.join(work, "odoo-tests.log")
    started = time.monotonic()
    with open(logfile, "wb") as fh:
        rc = subprocess.run(
            [sys.executable, "-m", "odoo", "-d", db, f"--addons-path={addons}",
             f"--data-dir={os.path.join(work, 'tests-data')}", "-i", "crm_inbox,queue_job",
             "--without-demo=all", "--test-enable",
             "--test-tags", "/crm_inbox:TestSyncQueueJob", "--stop-after-init",
             "--http-port", str(free_port()), "--log-level=test",
             *([f"--db_host={os.environ['PGHOST']}"] if os.environ.get("PGHOST") else [])],
            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False,
            env=dict(os.environ, PYTHONPATH=os.path.join(REPO, "testkit")),
        ).returncode
    subprocess.run(["dropdb", "--if-exists", db], check=False)
    with open(logfile, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    result = re.findall(r"odoo\.tests\.result: (\d+) failed, (\d+) error\(s\) of (\d+) tests",
                        text)
    errors = [line for line in text.splitlines() if re.search(r" (ERROR|CRITICAL) ", line)]
    if rc or not result or result[-1][:2] != ("0", "0") or errors:
        sys.stderr.write("\n".join(errors[-40:]) + "\n")
        raise SystemExit(f"queue job test FAILED: the Odoo tests with queue_job "
                         f"(exit {rc}, {result[-1] if result else 'no result line'})")
    log(f"Odoo tests with queue_job: {result[-1][2]} passed in "
        f"{time.monotonic() - started:.0f} s")
    return int(result[-1][2])


def notify_cron(db):
    conn = psycopg2.connect(dbname="postgres", host=os.environ.get("PGHOST") or None)
    try:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute("SELECT pg_notify('cron_trigger', %s)", (db,))
    finally:
        conn.close()


class Server:
    """A real Odoo server (threaded) with queue_job's job runner."""

    def __init__(self, odoo, work, name):
        self.odoo = odoo
        self.logfile = os.path.join(work, f"server-{name}.log")
        cmd = [sys.executable, "-m", "odoo", *odoo.common, "--workers=0",
               "--max-cron-threads=1", "--load=base,web,queue_job",
               f"--http-port={free_port()}", "--limit-time-real-cron=0", "--log-level=info",
               "--log-handler=odoo.addons.crm_inbox.models.crm_inbox_account_queue_job:DEBUG",
               f"--logfile={self.logfile}"]
        env = dict(os.environ,
                   ODOO_QUEUE_JOB_CHANNELS=f"root:{CAPACITY},root.crm_inbox:{CAPACITY}")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=env)

    def synced(self):
        """Account ids synced by a job of this server (a Counter)."""
        counts = Counter()
        if os.path.exists(self.logfile):
            with open(self.logfile, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    match = SYNCED_RE.search(line)
                    if match:
                        counts[int(match.group(1))] += 1
        return counts

    def wake(self):
        notify_cron(self.odoo.db)

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(predicate, timeout, server=None, step=1.0):
    started = time.monotonic()
    woken = 0
    while time.monotonic() - started < timeout:
        if predicate():
            return True
        if server and time.monotonic() - woken >= 1 and time.monotonic() - started < 40:
            server.wake()  # Odoo's cron workers poll every 60 s otherwise
            woken = time.monotonic()
        time.sleep(step)
    return predicate()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.02,
                        help="seconds added per direction by the proxy")
    parser.add_argument("--lease", type=int, default=20, help="lease length (seconds)")
    parser.add_argument("--db", default=f"crm_inbox_queue_job_{os.getpid()}")
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    args = parser.parse_args()
    try:
        queue_job_dir()
    except ImportError:
        print('queue job test FAILED: OCA queue_job is not importable (pip install --no-deps '
              '"odoo-addon-queue-job==18.0.*")')
        return 1
    work = tempfile.mkdtemp(prefix="crm-inbox-queue-job-")
    started_all = time.monotonic()
    n_tests = run_odoo_tests(work)
    odoo = Odoo(work, args.db)
    os.symlink(queue_job_dir(), os.path.join(odoo.addons, "queue_job"))
    logins = [user(i) for i in range(args.accounts)]
    dovecot = DovecotServer(users=dict.fromkeys(logins, PASSWORD))
    smtpd = SMTPTestServer(users=dict.fromkeys(logins, PASSWORD))
    failures, servers = [], []
    proxy = None
    try:
        odoo.install()
        rc = subprocess.run([sys.executable, "-m", "odoo", *odoo.common, "-i", "queue_job",
                             "--stop-after-init", "--http-port", str(free_port()),
                             "--log-level=warn"], stdin=subprocess.DEVNULL,
                            check=False).returncode
        if rc:
            raise SystemExit(f"queue job test FAILED: installing queue_job ({rc})")
        dovecot.start()
        smtpd.start()
        proxy = DelayProxy(dovecot.imap_port, delay=args.delay).start()
        for login in logins:
            with dovecot.client(login) as client:
                for n in (1, 2):
                    client.append("INBOX", message(login, n))
        out = odoo.run_shell(SETUP_CODE.format(lease=args.lease, logins=logins, port=proxy.port,
                                               password=PASSWORD, smtp_port=smtpd.port))
        ids = [int(x) for x in re.search(r"^ACCOUNTS (\S+)", out, re.MULTILINE).group(1).split(",")]

        def left(count):
            rows = odoo.sql("""SELECT a.id, count(m.id) FROM crm_inbox_account a
                                 LEFT JOIN crm_inbox_message m ON m.account_id = a.id
                                WHERE a.id = ANY(%s) GROUP BY a.id""", (ids,))
            held = odoo.sql("SELECT count(*) FROM crm_inbox_account WHERE id = ANY(%s) "
                            "AND sync_lease_token IS NOT NULL", (ids,))[0][0]
            return sum(1 for _, n in rows if n < count) + held

        # cycle 1: every account once
        odoo.run_shell(PREPARE_CODE.format(ids=ids))
        t1 = time.monotonic()
        server = Server(odoo, work, "cycle1")
        servers.append(server)
        if not wait_for(lambda: not left(2), 240, server):
            failures.append(f"cycle 1: {left(2)} accounts not synced in 240 s")
        server.stop()
        synced = server.synced()
        enqueued = odoo.sql("SELECT count(*) FROM queue_job WHERE channel = 'root.crm_inbox'")[0][0]
        wrong = {aid: synced[aid] for aid in ids if synced[aid] != 1}
        if wrong:
            failures.append(f"cycle 1: accounts not synced exactly once by a job: {wrong}")
        log(f"cycle 1: {sum(synced.values())} job syncs of {len(ids)} accounts, {enqueued} jobs "
            f"on root.crm_inbox, {time.monotonic() - t1:.0f} s (server start included)")
        check_exact(odoo, ids, logins, 2, failures)

        # cycle 2: SIGKILL the server with jobs running, start it again
        for login in logins:
            with dovecot.client(login) as client:
                client.append("INBOX", message(login, 3))
        odoo.run_shell(PREPARE_CODE.format(ids=ids))
        server = Server(odoo, work, "cycle2-killed")
        servers.append(server)
        if not wait_for(lambda: sum(server.synced().values()) >= 3, 180, server, step=0.05):
            failures.append("cycle 2: the server synced fewer than 3 accounts in 180 s")
        server.kill()
        killed_at = time.monotonic()
        held = [aid for (aid,) in odoo.sql(
            "SELECT id FROM crm_inbox_account WHERE id = ANY(%s) AND sync_lease_token IS NOT NULL",
            (ids,))]
        before = server.synced()
        log(f"cycle 2: server SIGKILLed after {sum(before.values())} job syncs; "
            f"{len(held)} leases held by the dead server: {held}")
        if not held:
            log("cycle 2: no lease was held at the kill (every job between two accounts); "
                "the restart is still checked")
        server = Server(odoo, work, "cycle2-restarted")
        servers.append(server)
        # the account is free when its lease expires; the dead job itself is re-queued
        # by queue_job's job runner once it is 10 s old, checked at least every 60 s
        # (runner.SELECT_TIMEOUT): the bound is the later of the two, plus slack
        limit = max(args.lease, 70) + 30
        if not wait_for(lambda: not left(3), limit, server):
            failures.append(f"cycle 2: {left(3)} accounts not synced within {limit} s of "
                            "the kill (max(lease, 70 s) + 30 s)")
        recovered = time.monotonic() - killed_at
        server.stop()
        after = server.synced()
        total = before + after
        wrong = {aid: (before[aid], after[aid]) for aid in ids if total[aid] != 1}
        if wrong:
            failures.append("cycle 2: accounts not synced exactly once over both servers "
                            f"(killed, restarted): {wrong}")
        late = [aid for aid in held if not after[aid]]
        if late:
            failures.append(f"cycle 2: held accounts not synced after the restart: {late}")
        log(f"cycle 2: every account synced {recovered:.0f} s after the kill (lease "
            f"{args.lease} s); {sum(after.values())} job syncs after the restart")
        check_exact(odoo, ids, logins, 3, failures)
        failed = odoo.sql("SELECT count(*) FROM queue_job WHERE state = 'failed'")[0][0]
        if failed:
            failures.append(f"{failed} failed jobs")
    finally:
        for server in servers:
            server.stop()
        if proxy:
            proxy.stop()
        dovecot.stop()
        smtpd.stop()
        if not args.keep:
            odoo.drop()
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept database {args.db} and {work}")
    elapsed = time.monotonic() - started_all
    if failures:
        for failure in failures:
            log(failure)
        print(f"queue job test FAILED: {len(failures)} problems ({elapsed:.0f} s)")
        return 1
    print(f"queue job test passed: {n_tests} Odoo tests; {len(ids)} accounts synced exactly once "
          f"by a real job runner, twice, one server SIGKILLed mid-cycle ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
