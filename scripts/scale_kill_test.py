#!/usr/bin/env python3
"""Two sync runners in separate Odoo processes on the same due accounts; one SIGKILLed.

Outside Odoo's test runner (which never commits), with real parts only:

1. creates a PostgreSQL database and installs crm_inbox in it;
2. starts a private Dovecot with ``--accounts`` users (2 messages each), reached
   through ``testkit.delay_proxy.DelayProxy`` (``--delay`` seconds per direction, so a
   sync takes long enough for the two runners to overlap), and an SMTP test server;
3. creates one account per mailbox (``odoo shell``, committed) and sets the lease
   length ``crm_inbox.sync_lease_seconds`` to ``--lease`` (20 s);
4. cycle 1: two ``odoo shell`` processes (runner A, runner B) start at the same moment
   and loop on ``_crm_inbox_run_sync()`` (what each sync ir.cron runs: claim with
   ``FOR UPDATE SKIP LOCKED``, lease, sync, commit) until no account is due or leased.
   Every account must be synced exactly once, by one of the two, and both must work;
5. cycle 2: one new message per mailbox, every account due again; runners start
   again and runner A is SIGKILLed after its 3rd sync, in the middle of a sync (its
   claimed account's lease held by a dead process). Runner B goes on; the held
   account must be synced by B once its lease expired, within ``lease + one cycle``
   of the kill; every other account exactly once;
6. the rows in PostgreSQL match the servers: per account 3 messages, none lost,
   none duplicated. Exit status 1 on any mismatch.

Run as root (Dovecot drops privileges) where ``odoo`` is importable::

    python3 scripts/scale_kill_test.py [--accounts 30] [--delay 0.02] [--lease 20] [--db NAME] [--keep]
"""

import argparse
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "scripts"))

from kill_test import Odoo

from testkit.delay_proxy import DelayProxy
from testkit.mail_servers import DovecotServer, SMTPTestServer

PASSWORD = "scale-pass"


def log(msg):
    print(f"[scale] {msg}", flush=True)


def user(i):
    return f"runner{i:03d}@example.com"


SETUP_CODE = """
env["ir.config_parameter"].sudo().set_param("crm_inbox.allow_private_hosts", "True")
env["ir.config_parameter"].sudo().set_param("crm_inbox.sync_lease_seconds", "{lease}")
env.company.crm_inbox_max_accounts = 0
Account = env["crm.inbox.account"].with_context(tracking_disable=True)
ids = []
for login in {logins!r}:
    account = Account.create({{
        "name": login, "email": login, "user_id": env.ref("base.user_admin").id,
        "imap_host": "127.0.0.1", "imap_port": {port}, "imap_security": "none",
        "imap_password": "{password}", "smtp_host": "127.0.0.1", "smtp_port": {smtp_port},
        "smtp_security": "none", "sync_from": "3m",
    }})
    ids.append(account.id)
env.cr.commit()
# connected as after "Test connection"; the first sync lists the folders
env.cr.execute("UPDATE crm_inbox_account SET state = 'connected' WHERE id = ANY(%s)", (ids,))
env.cr.commit()
print("ACCOUNTS", ",".join(map(str, ids)))
"""

RUNNER_CODE = """
import os, time
cls = type(env["crm.inbox.account"])
claim, sync_as = cls._crm_inbox_claim, cls._sync_as_system

def traced_claim(self, skip_ids=()):
    got = claim(self, skip_ids)
    if got:
        print("CLAIM", got[0].id, time.time(), flush=True)
    return got

def traced_sync(self, *args, **kwargs):
    result = sync_as(self, *args, **kwargs)
    print("SYNCED", self.id, self.state, time.time(), flush=True)
    return result

cls._crm_inbox_claim, cls._sync_as_system = traced_claim, traced_sync
Account = env["crm.inbox.account"]
print("READY", flush=True)
while not os.path.exists({go!r}):
    time.sleep(0.02)
deadline = time.time() + {max_seconds}
while time.time() < deadline:
    Account._crm_inbox_run_sync()
    env.cr.commit()
    backlog = Account._crm_inbox_backlog()
    env.cr.commit()
    if not backlog["due"] and not backlog["syncing"]:
        break
    time.sleep(0.5)
print("RUNNER-DONE", time.time(), flush=True)
"""


class Runner:
    """One ``odoo shell`` runner process and its parsed output."""

    def __init__(self, odoo, name, go, max_seconds):
        self.name = name
        self.proc = odoo.shell(RUNNER_CODE.format(go=go, max_seconds=max_seconds))
        self.lines, self.claims, self.synced = [], [], []
        self.ready, self.done = threading.Event(), threading.Event()
        self.third = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("READY"):
                self.ready.set()
            elif line.startswith("CLAIM"):
                _, aid, at = line.split()
                self.claims.append((int(aid), float(at)))
            elif line.startswith("SYNCED"):
                _, aid, state, at = line.split()
                self.synced.append((int(aid), state, float(at)))
                if len(self.synced) >= 3:
                    self.third.set()
            elif line.startswith("RUNNER-DONE"):
                self.done.set()
        self.ready.set()
        self.done.set()

    def wait(self, timeout):
        self.proc.wait(timeout)
        self.thread.join(10)
        if self.proc.returncode not in (0, -signal.SIGKILL):
            raise SystemExit(f"runner {self.name} failed ({self.proc.returncode}):\n"
                             + "".join(self.lines[-60:]))


def start_pair(odoo, work, cycle, max_seconds=150):
    go = os.path.join(work, f"go-{cycle}")
    runners = [Runner(odoo, name, go, max_seconds) for name in ("A", "B")]
    for runner in runners:
        if not runner.ready.wait(120):
            raise SystemExit(f"runner {runner.name} did not start")
    with open(go, "w", encoding="utf-8"):
        pass
    return runners, time.time()


def db_rows(odoo, ids):
    """{account id: Counter of (folder, UID, Message-ID)} from PostgreSQL."""
    rows = {aid: Counter() for aid in ids}
    for aid, folder, uid, mid in odoo.sql("""
            SELECT m.account_id, f.name, m.imap_uid, m.message_id
              FROM crm_inbox_message m JOIN crm_inbox_folder f ON f.id = m.folder_id
             WHERE m.account_id = ANY(%s)""", (list(ids),)):
        rows[aid][(folder, uid, mid)] += 1
    return rows


def message(login, n):
    return (f"From: Client {n} <client{n}@client.example>\r\nTo: {login}\r\n"
            f"Subject: Scale {n}\r\nMessage-ID: <scale-{n}-{login}>\r\n"
            f"Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n\r\nHello {n}.\r\n").encode()


def check_exact(odoo, ids, logins, per_account, failures):
    rows = db_rows(odoo, ids)
    for aid, login in zip(ids, logins, strict=True):
        counter = rows[aid]
        dups = sum(c - 1 for c in counter.values() if c > 1)
        if dups or len(counter) != per_account:
            failures.append(f"account {aid} ({login}): {len(counter)} distinct rows, "
                            f"{dups} duplicated, {per_account} expected")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--delay", type=float, default=0.02,
                        help="seconds added per direction by the proxy")
    parser.add_argument("--lease", type=int, default=20, help="lease length (seconds)")
    parser.add_argument("--db", default=f"crm_inbox_scale_{os.getpid()}")
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="crm-inbox-scale-")
    odoo = Odoo(work, args.db)
    logins = [user(i) for i in range(args.accounts)]
    dovecot = DovecotServer(users=dict.fromkeys(logins, PASSWORD))
    smtpd = SMTPTestServer(users=dict.fromkeys(logins, PASSWORD))
    failures = []
    started_all = time.monotonic()
    proxy = None
    try:
        install = threading.Thread(target=odoo.install)
        install.start()
        dovecot.start()
        smtpd.start()
        proxy = DelayProxy(dovecot.imap_port, delay=args.delay).start()
        for login in logins:
            for n in (1, 2):
                dovecot.append(login, "INBOX", message(login, n))
        log(f"Dovecot: {args.accounts} mailboxes x 2 messages, behind a proxy adding "
            f"{args.delay * 2000:.0f} ms per round trip (port {proxy.port})")
        install.join()
        out = odoo.run_shell(SETUP_CODE.format(
            lease=args.lease, logins=logins, port=proxy.port, password=PASSWORD,
            smtp_port=smtpd.port))
        match = re.search(r"^ACCOUNTS (\S+)", out, re.MULTILINE)
        if not match:
            raise SystemExit(f"creating the accounts failed:\n{out[-4000:]}")
        ids = [int(x) for x in match.group(1).split(",")]
        log(f"{len(ids)} accounts created, lease {args.lease} s")

        # cycle 1: both runners, nothing killed
        runners, go_at = start_pair(odoo, work, 1)
        for runner in runners:
            runner.wait(240)
        synced = Counter(aid for r in runners for aid, _s, _t in r.synced)
        cycle1 = max(t for r in runners for _a, _s, t in r.synced) - go_at
        per_runner = {r.name: len(r.synced) for r in runners}
        log(f"cycle 1: {sum(synced.values())} syncs in {cycle1:.1f} s, per runner {per_runner}")
        if set(synced) != set(ids) or any(c != 1 for c in synced.values()):
            failures.append(f"cycle 1: not exactly once: "
                            f"{ {a: c for a, c in synced.items() if c != 1} }, "
                            f"missing {sorted(set(ids) - set(synced))}")
        if min(per_runner.values()) == 0:
            failures.append(f"cycle 1: one runner did nothing {per_runner}")
        states = Counter(s for r in runners for _a, s, _t in r.synced)
        if states != Counter({"connected": len(ids)}):
            failures.append(f"cycle 1: states {dict(states)}")
        check_exact(odoo, ids, logins, 2, failures)

        # cycle 2: new mail, all due, runner A killed in the middle of a sync
        for login in logins:
            dovecot.append(login, "INBOX", message(login, 3))
        odoo.sql("UPDATE crm_inbox_account SET sync_next_attempt = "
                 "(now() AT TIME ZONE 'UTC') - interval '1 second' WHERE id = ANY(%s)", (ids,))
        runners, go_at = start_pair(odoo, work, 2)
        a, b = runners
        if not a.third.wait(120):
            raise SystemExit("runner A never synced 3 accounts")
        # a claim after the 3rd sync: A holds that lease (mid-sync) when killed
        deadline = time.time() + 10
        while len(a.claims) <= 3 and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(args.delay * 2)
        a.proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        a.wait(30)
        done_by_a = {aid for aid, _s, _t in a.synced}
        held = [aid for aid, _t in a.claims if aid not in done_by_a]
        log(f"cycle 2: runner A SIGKILLed after {len(a.synced)} syncs, holding the lease "
            f"of {held}")
        if len(held) != 1:
            failures.append(f"cycle 2: runner A should hold exactly one lease, holds {held}")
        b.wait(240)
        by_b = Counter(aid for aid, _s, _t in b.synced)
        overlap = done_by_a & set(by_b)
        if overlap:
            failures.append(f"cycle 2: synced by both runners: {sorted(overlap)}")
        missing = set(ids) - done_by_a - set(by_b)
        if missing:
            failures.append(f"cycle 2: never synced: {sorted(missing)}")
        twice = {aid: c for aid, c in by_b.items() if c != 1}
        if twice:
            failures.append(f"cycle 2: runner B synced some more than once: {twice}")
        for aid in held:
            at = [t for x, _s, t in b.synced if x == aid]
            claimed = [t for x, t in b.claims if x == aid]
            if not at:
                continue
            taken_over = at[0] - killed_at
            log(f"cycle 2: account {aid} of the killed runner claimed by B "
                f"{claimed[0] - killed_at:.1f} s and synced {taken_over:.1f} s after the kill "
                f"(lease {args.lease} s, cycle {cycle1:.1f} s)")
            if taken_over > args.lease + cycle1 + 5:
                failures.append(f"cycle 2: account {aid} synced {taken_over:.1f} s after "
                                f"the kill: more than lease + one cycle")
        check_exact(odoo, ids, logins, 3, failures)
        leases = odoo.sql("SELECT count(*) FROM crm_inbox_account "
                          "WHERE sync_lease_token IS NOT NULL")[0][0]
        if leases:
            failures.append(f"{leases} leases left behind")
    finally:
        if proxy:
            proxy.stop()
        dovecot.stop()
        smtpd.stop()
        if not args.keep:
            odoo.drop()
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started_all
    if failures:
        for failure in failures:
            log(f"FAIL: {failure}")
        print(f"scale kill test FAILED: {len(failures)} problems ({elapsed:.0f} s)")
        return 1
    print(f"scale kill test passed: {args.accounts} accounts, 2 runners, each account "
          f"synced exactly once per cycle, the killed runner's account taken over after "
          f"its {args.lease} s lease; 0 lost, 0 duplicated ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
