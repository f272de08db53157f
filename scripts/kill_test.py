#!/usr/bin/env python3
"""Kill test: SIGKILL real Odoo sync processes at random moments, then check exactness.

Outside Odoo's test runner (which never commits), with real parts only:

1. creates a PostgreSQL database and installs crm_inbox in it
   (``python -m odoo -i crm_inbox --stop-after-init``);
2. starts a private Dovecot (and an SMTP test server, needed by "Test connection")
   holding ~300 messages (``testkit.demo_mail.bulk_mailbox``: 20% with 50-500 KB
   attachments, plus copies sharing a Message-ID), in INBOX and Archive;
3. creates the account through ``python -m odoo shell`` (test connection, Archive
   synced, committed);
4. rounds: launches ``python -m odoo shell`` running ``account._sync()`` (real
   commits per batch of 50 with the folder cursor) and SIGKILLs it after a random
   delay (fixed seed), then changes the mailbox as another client would (APPEND,
   some with an existing Message-ID, EXPUNGE, MOVE INBOX <-> Archive, flags, one
   UIDVALIDITY change).
   A killed process leaves its sync lease behind (``LEASE_SECONDS`` = 15 min in
   models/crm_inbox_account.py). This script **simulates the expiry with SQL**
   (``UPDATE crm_inbox_account SET sync_lease_until = now() - interval '1 second'``)
   before each new round; once, it first checks that a sync started while the dead
   process's lease is still valid is skipped and changes nothing;
5. a last, undisturbed sync; then the rows in PostgreSQL (folder, UIDVALIDITY, UID,
   Message-ID, read, flagged) are compared with the server's messages:
   0 lost, 0 duplicated, 0 phantom. Exit status 1 on any mismatch.

Run as root (Dovecot drops privileges) where ``odoo`` is importable::

    python3 scripts/kill_test.py [--rounds 10] [--seed 20261121] [--messages 300] [--keep]
"""

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import psycopg2

from engine.mime import parse_message
from testkit.demo_mail import bulk_mailbox
from testkit.mail_servers import DovecotServer, SMTPTestServer, free_port

USER = "killtest@example.com"
PASSWORD = "kill-pass"
FOLDERS = ("INBOX", "Archive")


def log(msg):
    print(f"[kill] {msg}", flush=True)


class Odoo:
    """The Odoo side: one database, commands run as separate processes."""

    def __init__(self, work, db):
        self.work, self.db = work, db
        self.addons = os.path.join(work, "addons")
        os.makedirs(self.addons)
        os.symlink(REPO, os.path.join(self.addons, "crm_inbox"))
        self.data_dir = os.path.join(work, "data")
        self.common = [f"--addons-path={self.addons}", f"--data-dir={self.data_dir}",
                       "-d", db]
        if os.environ.get("PGHOST"):
            self.common.append(f"--db_host={os.environ['PGHOST']}")

    def install(self):
        subprocess.run(["dropdb", "--if-exists", self.db], check=False)
        started = time.monotonic()
        with open(os.path.join(self.work, "install.log"), "wb") as fh:
            rc = subprocess.run(
                [sys.executable, "-m", "odoo", *self.common, "-i", "crm_inbox",
                 "--without-demo=all", "--stop-after-init", "--http-port", str(free_port()),
                 "--log-level=warn"],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False,
            ).returncode
        if rc:
            with open(os.path.join(self.work, "install.log"), encoding="utf-8",
                      errors="replace") as fh:
                sys.stderr.write(fh.read()[-4000:])
            raise SystemExit(f"installing crm_inbox failed ({rc})")
        log(f"crm_inbox installed in database {self.db} in {time.monotonic() - started:.0f} s")

    def shell(self, code):
        """Start ``odoo shell`` running *code*; returns the Popen (stdout piped, text)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "odoo", "shell", *self.common, "--no-http",
             "--log-level=warn"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )
        proc.stdin.write(code)
        proc.stdin.close()
        return proc

    def run_shell(self, code, timeout=300):
        proc = self.shell(code)
        out = proc.stdout.read()
        proc.wait(timeout)
        if proc.returncode:
            raise SystemExit(f"odoo shell failed ({proc.returncode}):\n{out[-4000:]}")
        return out

    def sql(self, query, params=()):
        conn = psycopg2.connect(dbname=self.db)
        try:
            with conn, conn.cursor() as cr:
                cr.execute(query, params)
                return cr.fetchall() if cr.description else cr.rowcount
        finally:
            conn.close()

    def drop(self):
        subprocess.run(["dropdb", "--if-exists", self.db], check=False)


class Watcher:
    """Reads a shell's output in a thread; tells when a marker line appeared."""

    def __init__(self, proc):
        self.proc, self.lines = proc, []
        self.started, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("SYNC-START"):
                self.started.set()
            elif line.startswith("SYNC-DONE"):
                self.done.set()
        self.started.set()  # the process ended (maybe before the marker)


SYNC_CODE = """
account = env["crm.inbox.account"].browse({account_id})
print("SYNC-START", flush=True)
new = account._sync()
print("SYNC-DONE", new, account.state, account.last_error or "", flush=True)
"""


def server_state(dovecot):
    """Counter of (folder, UIDVALIDITY, UID, Message-ID, seen, flagged) on the server."""
    state = Counter()
    with dovecot.client(USER) as client:
        for folder in FOLDERS:
            uidvalidity = int(client.select_folder(folder, readonly=True)[b"UIDVALIDITY"])
            uids = client.search("ALL")
            for start in range(0, len(uids), 100):
                data = client.fetch(uids[start:start + 100], ["FLAGS", "BODY.PEEK[]"])
                for uid, item in data.items():
                    flags = {f.decode() if isinstance(f, bytes) else f for f in item[b"FLAGS"]}
                    mid = parse_message(item[b"BODY[]"]).message_id or None
                    state[(folder, uidvalidity, int(uid), mid,
                           "\\Seen" in flags, "\\Flagged" in flags)] += 1
    return state


def odoo_state(odoo, account_id):
    return Counter(tuple(row) for row in odoo.sql("""
        SELECT f.name, m.uidvalidity, m.imap_uid, m.message_id,
               coalesce(m.is_read, false), coalesce(m.is_flagged, false)
          FROM crm_inbox_message m JOIN crm_inbox_folder f ON f.id = m.folder_id
         WHERE m.account_id = %s""", (account_id,)))


def progress(odoo, account_id):
    rows = odoo.sql("SELECT count(*) FROM crm_inbox_message WHERE account_id = %s",
                    (account_id,))[0][0]
    cursors = odoo.sql("""SELECT name, last_uid, initial_done FROM crm_inbox_folder
                           WHERE account_id = %s AND sync_enabled ORDER BY sequence, name""",
                       (account_id,))
    return rows, cursors


def expire_lease(odoo, account_id):
    """Simulate LEASE_SECONDS passing after a killed sync (SQL, documented above)."""
    return odoo.sql("""UPDATE crm_inbox_account
                          SET sync_lease_until = now() - interval '1 second'
                        WHERE id = %s AND sync_lease_token IS NOT NULL""", (account_id,))


def mutate(dovecot, rng, serial, known_mids, bulk_seed):
    """Change the mailbox as another mail client would; returns a short description.

    Also delivers 5-30 new bulk messages (some with attachments), so that the next
    sync has fetch batches to be killed in.
    """
    done = Counter()
    with dovecot.client(USER) as client:
        for raw in bulk_mailbox(rng.randint(5, 30), seed=bulk_seed, owner=USER):
            flags = [f for f in ("\\Seen", "\\Flagged") if rng.random() < 0.25]
            client.append(rng.choice(FOLDERS), raw, flags=flags)
            known_mids.append(re.search(rb"Message-ID: (<[^>]+>)", raw).group(1).decode())
            done["append (bulk)"] += 1
        for _i in range(rng.randint(3, 12)):
            folder = rng.choice(FOLDERS)
            if known_mids and rng.random() < 0.3:
                mid = rng.choice(known_mids)  # a second copy with an existing Message-ID
                done["append (same Message-ID)"] += 1
            else:
                mid = f"<kill.{next(serial)}@client.example>"
                known_mids.append(mid)
                done["append"] += 1
            raw = (f"From: Other <other@client.example>\r\nTo: {USER}\r\n"
                   f"Subject: Round mail {mid}\r\nMessage-ID: {mid}\r\n"
                   f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
                   f"\r\nHello\r\n").encode()
            flags = [f for f in ("\\Seen", "\\Flagged") if rng.random() < 0.3]
            client.append(folder, raw, flags=flags)
        for folder in FOLDERS:
            client.select_folder(folder)
            uids = client.search("ALL")
            if not uids:
                continue
            picked = rng.sample(uids, min(len(uids), rng.randint(0, 4)))
            if picked:
                client.add_flags(picked, [b"\\Deleted"], silent=True)
                client.uid_expunge(picked)
                done["expunge"] += len(picked)
            uids = [u for u in uids if u not in picked]
            for uid in rng.sample(uids, min(len(uids), rng.randint(0, 6))):
                flag = rng.choice(("\\Seen", "\\Flagged"))
                if rng.random() < 0.5:
                    client.add_flags([uid], [flag], silent=True)
                else:
                    client.remove_flags([uid], [flag], silent=True)
                done["flag change"] += 1
            moved = rng.sample(uids, min(len(uids), rng.randint(0, 3)))
            moved = [u for u in moved if u not in picked]
            if moved:
                client.move(moved, "Archive" if folder == "INBOX" else "INBOX")
                done["move"] += len(moved)
    return ", ".join(f"{k} {v}" for k, v in sorted(done.items()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--max-delay", type=float, default=3.0,
                        help="kill after a delay drawn in [0, max-delay] seconds")
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="crm-inbox-kill-")
    odoo = Odoo(work, f"crm_inbox_kill_{os.getpid()}")
    dovecot = DovecotServer(users={USER: PASSWORD})
    smtpd = SMTPTestServer(users={USER: PASSWORD})
    started_all = time.monotonic()
    try:
        install = threading.Thread(target=odoo.install)
        install.start()
        dovecot.start()
        smtpd.start()
        # the mailbox: bulk messages, 1 in 6 in Archive, some flags, 10 extra copies
        # of existing Message-IDs
        bulk = list(bulk_mailbox(args.messages - 10, seed=args.seed, owner=USER))
        known_mids = []
        with dovecot.client(USER) as client:
            for i, raw in enumerate(bulk):
                folder = "Archive" if i % 6 == 5 else "INBOX"
                flags = [f for f in ("\\Seen", "\\Flagged") if rng.random() < 0.25]
                client.append(folder, raw, flags=flags)
                known_mids.append(re.search(rb"Message-ID: (<[^>]+>)", raw).group(1).decode())
            for raw in rng.sample(bulk, 10):
                client.append(rng.choice(FOLDERS), raw, flags=[])
        size = sum(len(r) for r in bulk)
        log(f"Dovecot on {dovecot.host}:{dovecot.imap_port}: {args.messages} messages "
            f"({size / 1e6:.1f} MB) in INBOX and Archive")
        install.join()
        out = odoo.run_shell(f"""
# the fixture servers are on loopback: an administrator's choice
env["ir.config_parameter"].sudo().set_param("crm_inbox.allow_private_hosts", "True")
account = env["crm.inbox.account"].create({{
    "name": "Kill test", "email": "{USER}", "user_id": env.ref("base.user_admin").id,
    "imap_host": "{dovecot.host}", "imap_port": {dovecot.imap_port}, "imap_security": "none",
    "imap_password": "{PASSWORD}", "smtp_host": "{smtpd.host}", "smtp_port": {smtpd.port},
    "smtp_security": "none", "sync_from": "3m",
}})
account.action_test_connection()
account.folder_ids.filtered(lambda f: f.name == "Archive").sync_enabled = True
env.cr.commit()
print("ACCOUNT", account.id, ",".join(account.folder_ids.filtered("sync_enabled").mapped("name")))
""")
        match = re.search(r"^ACCOUNT (\d+) (\S+)", out, re.MULTILINE)
        if not match:
            raise SystemExit(f"creating the account failed:\n{out[-4000:]}")
        account_id = int(match.group(1))
        log(f"account {account_id} created, synced folders: {match.group(2)}")
        if set(match.group(2).split(",")) != {"INBOX", "Archive", "Sent"}:
            raise SystemExit("unexpected synced folders")
        serial = iter(range(10**9))
        max_delay = args.max_delay
        kills = Counter()
        lease_checked = False
        for rnd in range(1, args.rounds + 1):
            if rnd > 1:
                what = mutate(dovecot, rng, serial, known_mids, args.seed + rnd)
                if rnd == args.rounds // 2 + 1:
                    new = dovecot.reset_uidvalidity(USER, "INBOX")
                    what += f", INBOX UIDVALIDITY -> {new}"
                log(f"round {rnd}: mailbox changed: {what}")
            if expire_lease(odoo, account_id):
                log(f"round {rnd}: lease of the killed sync expired by SQL "
                    "(simulates LEASE_SECONDS passing)")
            rows_before, cursors_before = progress(odoo, account_id)
            proc = odoo.shell(SYNC_CODE.format(account_id=account_id))
            watcher = Watcher(proc)
            watcher.started.wait(120)
            delay = rng.uniform(0.0, max_delay)
            killed = not watcher.done.wait(delay)
            if killed:
                proc.send_signal(signal.SIGKILL)
            proc.wait(60)
            watcher.thread.join(10)
            rows, cursors = progress(odoo, account_id)
            where = ", ".join(f"{name} last_uid {last}{'' if done else ' (first pass)'}"
                              for name, last, done in cursors)
            if killed:
                held = odoo.sql("SELECT sync_lease_token IS NOT NULL FROM crm_inbox_account "
                                "WHERE id = %s", (account_id,))[0][0]
                if (rows, cursors) != (rows_before, cursors_before):  # a batch was committed
                    kind = "killed mid-fetch"
                elif held:
                    kind = "killed inside the sync"
                else:
                    kind = "killed before the sync"
                kills[kind] += 1
                log(f"round {rnd}: SIGKILL after {delay:.2f} s ({kind}): {rows_before} -> "
                    f"{rows} rows committed; lease {'held' if held else 'free'}; {where}")
            else:
                kills["completed"] += 1
                log(f"round {rnd}: finished before the kill ({delay:.2f} s): "
                    f"{''.join(watcher.lines[-1:]).strip()}; {rows} rows; {where}")
            if killed and not lease_checked:
                held = odoo.sql("SELECT sync_lease_token IS NOT NULL FROM crm_inbox_account "
                                "WHERE id = %s", (account_id,))[0][0]
                if held:
                    before = odoo_state(odoo, account_id)
                    out = odoo.run_shell(SYNC_CODE.format(account_id=account_id))
                    if "SYNC-DONE 0" not in out or odoo_state(odoo, account_id) != before:
                        log("FAIL: a sync ran although the killed process's lease was valid")
                        return 1
                    log(f"round {rnd}: a sync started while the dead process's lease is "
                        "valid is skipped (0 new, no row changed)")
                    lease_checked = True
        expire_lease(odoo, account_id)
        out = odoo.run_shell(SYNC_CODE.format(account_id=account_id))
        last = [line for line in out.splitlines() if line.startswith("SYNC-DONE")]
        log(f"final sync: {last[-1] if last else out[-2000:]}")
        out = odoo.run_shell(SYNC_CODE.format(account_id=account_id))
        again = [line for line in out.splitlines() if line.startswith("SYNC-DONE")]
        server = server_state(dovecot)
        rows = odoo_state(odoo, account_id)
        lost = server - rows
        extra = rows - server
        keys = Counter((k[0], k[1], k[2]) for k in rows.elements())
        duplicated = sum(n - 1 for n in keys.values() if n > 1)
        mids = Counter((k[0], k[3]) for k in rows.elements())
        server_mids = Counter((k[0], k[3]) for k in server.elements())
        dup_mid = sum(max(0, n - server_mids[key]) for key, n in mids.items())
        ok = (not lost and not extra and not duplicated and not dup_mid
              and bool(again) and again[-1].startswith("SYNC-DONE 0 connected"))
        for label, items in (("lost", lost), ("extra", extra)):
            for item in sorted(items.elements(), key=str)[:20]:
                log(f"  {label}: {item}")
        if not again or not again[-1].startswith("SYNC-DONE 0 connected"):
            log(f"  a second sync was not a no-op: {again or out[-2000:]}")
        summary = (f"kill test {'passed' if ok else 'FAILED'}: {args.rounds} rounds "
                   f"({kills['killed mid-fetch']} killed mid-fetch, {kills['killed inside the sync']} "
                   f"inside the sync before a commit, {kills['killed before the sync']} before "
                   f"the sync, {kills['completed']} finished first), "
                   f"server {sum(server.values())} messages, Odoo {sum(rows.values())} rows, "
                   f"lost {sum(lost.values())}, extra {sum(extra.values())}, "
                   f"duplicated {duplicated + dup_mid}, seed {args.seed}, "
                   f"{time.monotonic() - started_all:.0f} s")
        print(summary, flush=True)
        return 0 if ok else 1
    finally:
        smtpd.stop()
        dovecot.stop()
        if args.keep:
            log(f"kept: {work}, database {odoo.db}")
        else:
            odoo.drop()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
