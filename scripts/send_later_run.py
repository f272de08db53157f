#!/usr/bin/env python3
"""Send later, for real: a mail scheduled two minutes ahead leaves then, not before.

Real parts only, real time (no frozen clock): a fresh database with crm_inbox, a private
Dovecot and aiosmtpd, and a real Odoo server process with its cron thread (what drains
Odoo's mail queue in production). Through ``odoo shell`` an account is connected and a
reply is queued with ``crm.inbox.compose.inbox_send(..., {"scheduled_at": now + 120 s})``
(which calls ``ir.cron._trigger(at=...)``). The SMTP server is watched: nothing may arrive
before the scheduled time; the mail must arrive once, at most ``--slack`` seconds after it
(Odoo's cron thread wakes at least every 60 s). Exit status 1 otherwise.

    python3 scripts/send_later_run.py [--delay 120] [--slack 75] [--keep]
"""

import argparse
import email
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from email import policy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "scripts"))

from kill_test import Odoo

from testkit.mail_servers import DovecotServer, SMTPTestServer, free_port

USER = "later@example.com"
PASSWORD = "later-pass"

SETUP = """
import datetime
env["ir.config_parameter"].sudo().set_param("crm_inbox.allow_private_hosts", "True")
admin = env.ref("base.user_admin")
account = env["crm.inbox.account"].with_user(admin).create({{
    "name": "Send later", "email": "{user}", "user_id": admin.id,
    "imap_host": "{imap_host}", "imap_port": {imap_port}, "imap_security": "none",
    "imap_password": "{password}", "smtp_host": "{smtp_host}", "smtp_port": {smtp_port},
    "smtp_security": "none", "sync_from": "1m",
}})
account.action_test_connection()
account._sync()
parent = env["crm.inbox.message"].search([("account_id", "=", account.id)], limit=1)
at = datetime.datetime.utcnow().replace(microsecond=0) + datetime.timedelta(seconds={delay})
result = env["crm.inbox.compose"].with_user(admin).inbox_send(parent.id, "reply", {{
    "text": "Scheduled reply", "scheduled_at": at.strftime("%Y-%m-%d %H:%M:%S")}})
env.cr.commit()
print("SCHEDULED", result["mail_id"], at.replace(tzinfo=datetime.timezone.utc).timestamp(),
      flush=True)
"""


def log(msg):
    print(f"[send-later] {msg}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=int, default=120, help="seconds ahead")
    parser.add_argument("--slack", type=int, default=75,
                        help="seconds after the scheduled time the mail may take")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="crm-inbox-send-later-")
    odoo = Odoo(work, f"crm_inbox_send_later_{os.getpid()}")
    dovecot = DovecotServer(users={USER: PASSWORD})
    smtpd = SMTPTestServer(users={USER: PASSWORD})
    arrivals = []
    smtpd.on_message = lambda m: arrivals.append(
        (time.time(), email.message_from_bytes(m.data, policy=policy.default)["Subject"]))
    server = None
    try:
        install = threading.Thread(target=odoo.install)
        install.start()
        dovecot.start()
        smtpd.start()
        dovecot.append(USER, "INBOX", (
            f"From: Greta <greta@client.example>\r\nTo: {USER}\r\nSubject: Prices\r\n"
            "Message-ID: <later-1@client.example>\r\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            "\r\nPrices?\r\n").encode())
        install.join()
        server = subprocess.Popen(
            [sys.executable, "-m", "odoo", *odoo.common, f"--http-port={free_port()}",
             "--max-cron-threads=1", "--log-level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        out = odoo.run_shell(SETUP.format(
            user=USER, password=PASSWORD, imap_host=dovecot.host, imap_port=dovecot.imap_port,
            smtp_host=smtpd.host, smtp_port=smtpd.port, delay=args.delay))
        match = re.search(r"^SCHEDULED (\d+) ([\d.]+)", out, re.MULTILINE)
        if not match:
            raise SystemExit(f"scheduling failed:\n{out[-3000:]}")
        at = float(match.group(2))
        log(f"mail {match.group(1)} scheduled {args.delay} s ahead; Odoo server {server.pid} "
            "with one cron thread")
        deadline = at + args.slack
        while time.time() < deadline and not arrivals:
            time.sleep(0.5)
        time.sleep(5)  # a duplicate would show here
        early = [t for t, _s in arrivals if t < at]
        ok = len(arrivals) == 1 and not early
        when = f"{arrivals[0][0] - at:+.1f} s from the scheduled time" if arrivals else "never"
        print(f"send later run {'passed' if ok else 'FAILED'}: scheduled {args.delay} s ahead, "
              f"received {len(arrivals)} (first {when}), before the time {len(early)}",
              flush=True)
        return 0 if ok else 1
    finally:
        if server:
            server.terminate()
            server.wait(30)
        smtpd.stop()
        dovecot.stop()
        if args.keep:
            log(f"kept: {work}, database {odoo.db}")
        else:
            odoo.drop()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
