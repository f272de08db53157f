#!/usr/bin/env python3
"""Send kill test: SIGKILL real Odoo processes draining the mail queue, then count.

Outside Odoo's test runner (which never commits), with real parts only:

1. creates a PostgreSQL database and installs crm_inbox in it;
2. starts a private Dovecot and an aiosmtpd server (``testkit.mail_servers``) that
   records every message it accepts with the time it accepted it;
3. through ``python -m odoo shell``: connects an account (its hidden ``ir.mail_server``
   is created), queues mails on Odoo's queue through it: composer mails
   (``crm.inbox.compose._crm_inbox_queue``) and chatter posts (``message_post`` with
   ``mail_notify_force_send=False``), committed;
4. rounds: starts ``odoo shell`` running ``mail.mail.process_email_queue()`` (Odoo's
   own scheduled action code: a commit after each mail) and SIGKILLs it after a random
   delay (fixed seed), until the queue is empty; a last run is undisturbed;
5. prints the counts and checks: every queued Message-ID reached the SMTP server at
   least once; a duplicate only where a process was killed after the server accepted
   the first copy (end of DATA) and before its commit (so the mail was still queued);
   exactly one copy per Message-ID in Dovecot's Sent folder and one stored row per
   Message-ID. Exit status 1 on any failure.

Run as root (Dovecot drops privileges) where ``odoo`` is importable::

    python3 scripts/send_kill_test.py [--mails 40] [--rounds 12] [--seed 20261202] [--keep]
"""

import argparse
import email
import itertools
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from email import policy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "scripts"))

from kill_test import Odoo

from testkit.mail_servers import DovecotServer, SMTPTestServer

USER = "sendkill@example.com"
PASSWORD = "send-kill-pass"


def log(msg):
    print(f"[send-kill] {msg}", flush=True)


SETUP_CODE = """
env["ir.config_parameter"].sudo().set_param("crm_inbox.allow_private_hosts", "True")
admin = env.ref("base.user_admin")
admin.partner_id.email = "{user}"
account = env["crm.inbox.account"].with_user(admin).create({{
    "name": "Send kill test", "email": "{user}", "user_id": admin.id,
    "imap_host": "{imap_host}", "imap_port": {imap_port}, "imap_security": "none",
    "imap_password": "{password}", "smtp_host": "{smtp_host}", "smtp_port": {smtp_port},
    "smtp_security": "none", "sync_from": "now",
}})
account.action_test_connection()
env.cr.commit()
Compose = env["crm.inbox.compose"].with_user(admin)
ids = []
for i in range({composer}):
    wizard = Compose.create({{
        "account_id": account.id, "to": f"client{{i}}@client.example",
        "subject": f"Composer mail {{i}}", "body": f"<p>Composer mail {{i}}</p>"}})
    ids.append(wizard._crm_inbox_queue().message_id)
partner = env["res.partner"].create({{"name": "Chatter client",
                                      "email": "chatter@client.example"}})
for i in range({chatter}):
    message = partner.with_user(admin).with_context(mail_notify_force_send=False).message_post(
        body=f"<p>Chatter mail {{i}}</p>", subject=f"Chatter mail {{i}}",
        message_type="comment", subtype_xmlid="mail.mt_comment", partner_ids=[partner.id])
    ids.append(message.message_id)
env["mail.mail"].sudo().search([("state", "=", "outgoing")]).write(
    {{"scheduled_date": False}})
env.cr.commit()
print("QUEUED", account.id, " ".join(ids), flush=True)
"""

QUEUE_CODE = """
print("QUEUE-START", flush=True)
env["mail.mail"].process_email_queue()
env.cr.commit()
print("QUEUE-DONE", flush=True)
"""


class Received:
    """What the SMTP server accepted: ``(monotonic time, Message-ID)`` per message."""

    def __init__(self, smtpd):
        self.items = []
        self._lock = threading.Lock()
        smtpd.on_message = self.record

    def record(self, message):
        mid = email.message_from_bytes(message.data, policy=policy.compat32)["Message-ID"]
        with self._lock:
            self.items.append((time.monotonic(), (mid or "").strip()))

    def snapshot(self):
        with self._lock:
            return list(self.items)


def queued_left(odoo):
    return odoo.sql("SELECT count(*) FROM mail_mail WHERE state = 'outgoing'")[0][0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=40, help="mails queued (half chatter)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--max-delay", type=float, default=1.5,
                        help="kill after a delay drawn in [0, max-delay] s after QUEUE-START")
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="crm-inbox-send-kill-")
    odoo = Odoo(work, f"crm_inbox_send_kill_{os.getpid()}")
    dovecot = DovecotServer(users={USER: PASSWORD})
    smtpd = SMTPTestServer(users={USER: PASSWORD})
    received = Received(smtpd)
    started_all = time.monotonic()
    try:
        install = threading.Thread(target=odoo.install)
        install.start()
        dovecot.start()
        smtpd.start()
        install.join()
        composer = args.mails // 2
        out = odoo.run_shell(SETUP_CODE.format(
            user=USER, password=PASSWORD, imap_host=dovecot.host, imap_port=dovecot.imap_port,
            smtp_host=smtpd.host, smtp_port=smtpd.port, composer=composer,
            chatter=args.mails - composer))
        match = re.search(r"^QUEUED (\d+) (.+)$", out, re.MULTILINE)
        if not match:
            raise SystemExit(f"queueing failed:\n{out[-4000:]}")
        queued = match.group(2).split()
        log(f"{len(queued)} mails queued ({composer} composer, {len(queued) - composer} "
            f"chatter) through account {match.group(1)}")
        kills = []  # (round, monotonic time of the kill)
        rounds = 0
        for rnd in range(1, args.rounds + 1):
            if not queued_left(odoo):
                break
            rounds = rnd
            before = queued_left(odoo)
            proc = odoo.shell(QUEUE_CODE)
            lines = []
            started, done = threading.Event(), threading.Event()

            def read(proc=proc, lines=lines, started=started, done=done):
                for line in proc.stdout:
                    lines.append(line)
                    if line.startswith("QUEUE-START"):
                        started.set()
                    elif line.startswith("QUEUE-DONE"):
                        done.set()
                started.set()

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            started.wait(120)
            delay = rng.uniform(0.0, args.max_delay)
            if not done.wait(delay):
                proc.send_signal(signal.SIGKILL)
                kills.append((rnd, time.monotonic()))
                proc.wait(60)
                log(f"round {rnd}: SIGKILL after {delay:.2f} s: queued {before} -> "
                    f"{queued_left(odoo)}")
            else:
                proc.wait(60)
                log(f"round {rnd}: the queue run finished before the kill ({delay:.2f} s)")
            reader.join(10)
        # the last, undisturbed run (also when the rounds ran out)
        odoo.run_shell(QUEUE_CODE)
        left = queued_left(odoo)
        failed = odoo.sql("SELECT count(*) FROM mail_mail WHERE state = 'exception'")[0][0]
        time.sleep(0.5)
        got = received.snapshot()
        per_mid = Counter(mid for _t, mid in got)
        missing = [mid for mid in queued if per_mid[mid] < 1]
        # a duplicate is explained by a kill after its first acceptance and before the
        # next acceptance of the same Message-ID (the commit never happened)
        unexplained, explained = [], Counter()
        for mid, count in per_mid.items():
            if count < 2:
                continue
            times = sorted(t for t, m in got if m == mid)
            for first, second in itertools.pairwise(times):
                kill = next(((r, k) for r, k in kills if first <= k <= second), None)
                if kill:
                    explained[kill[0]] += 1
                    log(f"duplicate {mid}: first copy accepted {kill[1] - first:.3f} s "
                        f"before the SIGKILL of round {kill[0]} (end of DATA -> commit)")
                else:
                    unexplained.append(mid)
        duplicates = sum(n - 1 for n in per_mid.values() if n > 1)
        sent_folder = Counter()
        with dovecot.client(USER) as client:
            client.select_folder("Sent", readonly=True)
            uids = client.search("ALL")
            for item in client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).values():
                header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode()
                sent_folder[header.split(":", 1)[1].strip() if ":" in header else ""] += 1
        not_once = {mid: sent_folder[mid] for mid in queued if sent_folder[mid] != 1}
        rows = Counter(mid for (mid,) in odoo.sql(
            "SELECT message_id FROM crm_inbox_message WHERE direction = 'out'"))
        rows_not_once = {mid: rows[mid] for mid in queued if rows[mid] != 1}
        ok = not (missing or unexplained or not_once or rows_not_once or left or failed)
        for label, items in (("missing", missing), ("unexplained duplicate", unexplained),
                             ("Sent copies != 1", list(not_once.items())[:10]),
                             ("stored copies != 1", list(rows_not_once.items())[:10])):
            for item in items[:10]:
                log(f"  {label}: {item}")
        summary = (
            f"send kill test {'passed' if ok else 'FAILED'}: queued {len(queued)}, "
            f"delivered {len(queued) - len(missing)} (at least once), "
            f"SMTP transactions {len(got)}, duplicates {duplicates} "
            f"({', '.join(f'round {r}: {n}' for r, n in sorted(explained.items())) or 'none'}; "
            f"{len(unexplained)} unexplained), kills {len(kills)} in {rounds} rounds, "
            f"Sent copies per Message-ID: {dict(Counter(sent_folder[m] for m in queued))}, "
            f"stored copies per Message-ID: {dict(Counter(rows[m] for m in queued))}, "
            f"left queued {left}, failed {failed}, seed {args.seed}, "
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
