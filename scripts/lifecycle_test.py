#!/usr/bin/env python3
"""Lifecycle test: an upgrade from the previous release keeps everything; an uninstall
leaves nothing that acts. Real Odoo processes, real commits, real Dovecot and aiosmtpd.

``upgrade``:

1. exports the previous release (``--from-ref``, default :data:`PREVIOUS_RELEASE`) with
   ``git archive`` and installs *that* crm_inbox into a new database;
2. with the old code (``odoo shell``): a personal account with its password on a local
   Dovecot holding a demo mailbox, synced (folders with cursors, messages, conversations,
   contacts); a shared account with a member; a signature;
3. counts rows, cursors and secrets in SQL;
4. ``-u crm_inbox`` with this checkout's code (its ``migrations/`` run);
5. counts again (must be equal), checks what the migration fills in, then syncs every
   account with the new code: nothing new, nothing lost.

``uninstall``: installs this checkout, uses it (a forwarding account with its receiving
alias, a synced account, runtime parameters), uninstalls it, then checks that no
``mail.alias``, ``ir.cron``, ``ir.mail_server`` or ``crm_inbox.*`` parameter of the addon
remains, and that a chatter message to a contact still leaves through the generic
outgoing server (an aiosmtpd server).

    python3 scripts/lifecycle_test.py [upgrade|uninstall|all] [--from-ref REF] [--keep]

Run as root (Dovecot drops privileges) where ``odoo`` is importable. Exit status 1 on any
difference; the last line says ``lifecycle test passed: …`` or ``lifecycle test FAILED: …``.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import psycopg2

from testkit.demo_mail import demo_mailbox
from testkit.mail_servers import DovecotServer, SMTPTestServer, free_port

#: The last release on main before this version's data-model changes (18.0.1.0.0).
PREVIOUS_RELEASE = "de50216"
USER = "upgrade@example.com"
PASSWORD = "upgrade-pass"

#: (label, SQL) of what an upgrade must keep, counted before and after.
COUNTS = [
    ("accounts", "SELECT count(*) FROM crm_inbox_account"),
    ("folders", "SELECT count(*) FROM crm_inbox_folder"),
    ("folder cursors (sum of UIDVALIDITY, last UID, HIGHESTMODSEQ)",
     ("SELECT coalesce(sum(uidvalidity), 0) + coalesce(sum(last_uid), 0)"
      " + coalesce(sum(highest_modseq), 0) FROM crm_inbox_folder")),
    ("messages", "SELECT count(*) FROM crm_inbox_message"),
    ("conversations", "SELECT count(*) FROM crm_inbox_conversation"),
    ("message-contact links", "SELECT count(*) FROM crm_inbox_message_res_partner_rel"),
    ("members", "SELECT count(*) FROM crm_inbox_account_member"),
    ("signatures", "SELECT count(*) FROM crm_inbox_signature"),
    ("stored passwords", ("SELECT count(*) FROM crm_inbox_account_secret"
                          " WHERE imap_password IS NOT NULL")),
    ("attachments of messages",
     "SELECT count(*) FROM ir_attachment WHERE res_model = 'crm.inbox.message'"),
]


def log(msg):
    print(f"[lifecycle] {msg}", flush=True)


class Odoo:
    """One database; Odoo commands as separate processes on a given addons folder."""

    def __init__(self, work, db, addon_dir):
        self.work, self.db = work, db
        self.data_dir = os.path.join(work, "data")
        self.set_addon(addon_dir)

    def set_addon(self, addon_dir):
        """Use the crm_inbox found in *addon_dir* from now on."""
        self.addons = tempfile.mkdtemp(prefix="addons-", dir=self.work)
        os.symlink(addon_dir, os.path.join(self.addons, "crm_inbox"))

    def _common(self):
        common = [f"--addons-path={self.addons}", f"--data-dir={self.data_dir}", "-d", self.db]
        if os.environ.get("PGHOST"):
            common.append(f"--db_host={os.environ['PGHOST']}")
        return common

    def run(self, *args, label):
        log_path = os.path.join(self.work, f"{label}.log")
        with open(log_path, "wb") as fh:
            rc = subprocess.run(
                [sys.executable, "-m", "odoo", *self._common(), *args, "--stop-after-init",
                 "--http-port", str(free_port()), "--log-level=warn"],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False,
            ).returncode
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        if rc or " ERROR " in text or " CRITICAL " in text:
            sys.stderr.write(text[-6000:])
            raise SystemExit(f"lifecycle test FAILED: odoo {' '.join(args)} ({rc})")

    def shell(self, code, timeout=600):
        """Run *code* in ``odoo shell`` (``env`` is the superuser's); the JSON it prints
        after ``RESULT:`` is returned."""
        proc = subprocess.run(
            [sys.executable, "-m", "odoo", "shell", *self._common(), "--no-http",
             "--log-level=warn"],
            input=code, capture_output=True, text=True, timeout=timeout, check=False,
        )
        out = proc.stdout + proc.stderr
        marker = [line for line in out.splitlines() if line.startswith("RESULT:")]
        if proc.returncode or not marker:
            sys.stderr.write(out[-6000:])
            raise SystemExit(f"lifecycle test FAILED: odoo shell ({proc.returncode})")
        return json.loads(marker[-1][len("RESULT:"):])

    def sql(self, query):
        conn = psycopg2.connect(dbname=self.db)
        try:
            with conn, conn.cursor() as cr:
                cr.execute(query)
                return cr.fetchall()
        finally:
            conn.close()

    def counts(self):
        return {label: self.sql(query)[0][0] for label, query in COUNTS}

    def drop(self):
        subprocess.run(["dropdb", "--if-exists", self.db], check=False)


def export_ref(ref, dest):
    """``git archive`` of *ref* into *dest*/crm_inbox; returns that folder."""
    target = os.path.join(dest, "crm_inbox")
    os.makedirs(target)
    archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", ref],
                             capture_output=True, check=False)
    if archive.returncode:
        raise SystemExit(f"lifecycle test FAILED: cannot export {ref}: "
                         f"{archive.stderr.decode(errors='replace')}")
    tar_path = os.path.join(dest, "old.tar")
    with open(tar_path, "wb") as fh:
        fh.write(archive.stdout)
    with tarfile.open(tar_path) as tar:
        tar.extractall(target, filter="data")
    return target


#: odoo shell code: the admin's account on the fixture servers, connected (folders listed)
CONNECT = """
env["ir.config_parameter"].set_param("crm_inbox.allow_private_hosts", "True")
Account = env["crm.inbox.account"]
user = env.ref("base.user_admin")
account = Account.with_user(user).create({{
    "email": {user!r}, "user_id": user.id, "imap_host": "127.0.0.1", "imap_port": {imap},
    "imap_security": "none", "imap_password": {password!r}, "smtp_host": "127.0.0.1",
    "smtp_port": {smtp}, "smtp_security": "none", "sync_from": "6m",
}})
account.action_test_connection()
"""

POPULATE = "import json\n" + CONNECT + """
for folder in account.folder_ids:
    folder.sync_enabled = folder.special_use in ("\\\\Inbox", "\\\\Sent", "\\\\Archive")
account._sync()
shared = Account.sudo().create({{
    "email": "team@example.com", "account_type": "shared", "user_id": user.id,
    "imap_host": "127.0.0.1", "imap_port": {imap}, "imap_security": "none",
}})
colleague = env["res.users"].create({{"name": "Colleague", "login": "colleague",
                                      "email": "colleague@example.com"}})
env["crm.inbox.account.member"].create({{"account_id": shared.id, "user_id": colleague.id,
                                         "access_level": "reply"}})
env["crm.inbox.signature"].with_user(user).create({{
    "name": "Default", "body": "<p>-- <br/>Admin</p>", "account_id": account.id}})
env.cr.commit()
print("RESULT:" + json.dumps({{"account": account.id, "state": account.state}}))
"""

RESYNC = """
import json
new = {}
for account in env["crm.inbox.account"].search([("state", "=", "connected")]):
    new[account.email] = account._sync()
env.cr.commit()
print("RESULT:" + json.dumps(new))
"""


def run_upgrade(work, ref, keep):
    old_dir = export_ref(ref, os.path.join(work, "old"))
    dovecot = DovecotServer({USER: PASSWORD}, base_dir=os.path.join(work, "dovecot"))
    smtpd = SMTPTestServer({USER: PASSWORD})
    odoo = Odoo(work, f"crm_inbox_upgrade_{os.getpid()}", old_dir)
    odoo.drop()
    with dovecot, smtpd:
        for message in demo_mailbox(owner=USER, count=60):
            dovecot.append(USER, message.folder, message.raw, message.flags, message.msg_time)
        started = time.monotonic()
        odoo.run("-i", "crm_inbox", "--without-demo=all", label="install-old")
        log(f"{ref}: crm_inbox installed in {time.monotonic() - started:.0f} s")
        odoo.shell(POPULATE.format(user=USER, password=PASSWORD, imap=dovecot.imap_port,
                                   smtp=smtpd.port))
        before = odoo.counts()
        version_before = odoo.sql(
            "SELECT latest_version FROM ir_module_module WHERE name = 'crm_inbox'")[0][0]
        odoo.set_addon(REPO)
        started = time.monotonic()
        odoo.run("-u", "crm_inbox", label="upgrade")
        version_after = odoo.sql(
            "SELECT latest_version FROM ir_module_module WHERE name = 'crm_inbox'")[0][0]
        log(f"upgraded {version_before} -> {version_after} in {time.monotonic() - started:.0f} s")
        after = odoo.counts()
        unfilled = odoo.sql("SELECT count(*) FROM crm_inbox_conversation"
                            " WHERE search_text IS NULL")[0][0]
        log(f"conversations whose new summary columns the migration left empty: {unfilled}")
        new = odoo.shell(RESYNC)
        after_sync = odoo.counts()
    failures = []
    width = max(len(label) for label, _q in COUNTS)
    log(f"{'':{width}}  {'before':>10}  {'after -u':>10}  {'after sync':>10}")
    for label, _q in COUNTS:
        log(f"{label:{width}}  {before[label]:>10}  {after[label]:>10}  {after_sync[label]:>10}")
        if not before[label] == after[label] == after_sync[label]:
            failures.append(label)
    log(f"next sync with the new code: {new} new messages")
    if unfilled:
        failures.append(f"{unfilled} conversations without their new summary columns")
    if any(new.values()):
        failures.append("the next sync added messages")
    if not before["messages"] or not before["stored passwords"]:
        failures.append("the old release stored nothing (populate failed)")
    if version_after == version_before:
        failures.append("the version was not bumped")
    if not keep:
        odoo.drop()
    return failures, (f"upgrade {ref} -> {version_after}: {before['messages']} messages, "
                      f"{before['folders']} folders, {before['stored passwords']} passwords "
                      f"kept; next sync {sum(new.values())} new")


USE_AND_UNINSTALL = "import json\n" + CONNECT + """
domain = env["mail.alias.domain"].create({{"name": "alias.example.com"}})
env.company.alias_domain_id = domain
account._sync()
found = {{"aliases": 0}}
if "forward_alias_id" in Account._fields:
    support = Account.sudo().create({{
        "email": "support@example.com", "account_type": "shared", "user_id": user.id,
        "connection_type": "forwarding", "smtp_host": "127.0.0.1", "smtp_port": {smtp},
        "smtp_security": "none", "smtp_username": {user!r}, "smtp_password": {password!r},
    }})
    support.action_test_connection()
    found["aliases"] = len(support.forward_alias_id)
env.cr.commit()
env["ir.module.module"].search([("name", "=", "crm_inbox")]).button_immediate_uninstall()
env.cr.commit()
print("RESULT:" + json.dumps(found))
"""

CHATTER_SEND = """
import json
env["ir.mail_server"].create({{"name": "Generic", "smtp_host": "127.0.0.1",
                               "smtp_port": {smtp}, "smtp_encryption": "none",
                               "smtp_user": {user!r}, "smtp_pass": {password!r}}})
partner = env["res.partner"].create({{"name": "Customer", "email": "customer@example.com"}})
partner.message_post(body="After uninstall", partner_ids=partner.ids,
                     message_type="comment", subtype_xmlid="mail.mt_comment")
mails = env["mail.mail"].search([("model", "=", "res.partner"), ("res_id", "=", partner.id)])
mails.auto_delete = False
mails.send()
env.cr.commit()
print("RESULT:" + json.dumps({{"state": mails.mapped("state")}}))
"""


def run_uninstall(work, keep):
    dovecot = DovecotServer({USER: PASSWORD}, base_dir=os.path.join(work, "dovecot-u"))
    smtpd = SMTPTestServer({USER: PASSWORD})
    odoo = Odoo(work, f"crm_inbox_uninstall_{os.getpid()}", REPO)
    odoo.drop()
    failures = []
    with dovecot, smtpd:
        for message in demo_mailbox(owner=USER, count=20):
            dovecot.append(USER, message.folder, message.raw, message.flags, message.msg_time)
        odoo.run("-i", "crm_inbox", "--without-demo=all", label="install")
        used = odoo.shell(USE_AND_UNINSTALL.format(user=USER, password=PASSWORD,
                                                   imap=dovecot.imap_port, smtp=smtpd.port))
        state = odoo.sql("SELECT state FROM ir_module_module WHERE name = 'crm_inbox'")[0][0]
        leftovers = {
            "mail.alias of crm_inbox models": odoo.sql(
                "SELECT count(*) FROM mail_alias a LEFT JOIN ir_model m ON m.id = a.alias_model_id"
                " WHERE m.model IS NULL OR m.model LIKE 'crm.inbox.%'")[0][0],
            "ir.cron of crm_inbox": odoo.sql(
                "SELECT count(*) FROM ir_cron c JOIN ir_act_server s ON s.id = c.ir_actions_server_id"
                " WHERE s.model_name LIKE 'crm.inbox.%' OR s.code LIKE '%crm.inbox%'")[0][0],
            "ir.mail_server": odoo.sql("SELECT count(*) FROM ir_mail_server")[0][0],
            "crm_inbox.* parameters": odoo.sql(
                "SELECT count(*) FROM ir_config_parameter WHERE key LIKE 'crm_inbox.%'")[0][0],
            "crm_inbox tables": odoo.sql(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_name LIKE 'crm_inbox_%'")[0][0],
        }
        log(f"used: {used['aliases']} forwarding alias(es); module state after uninstall: {state}")
        for label, count in leftovers.items():
            log(f"left after uninstall: {label}: {count}")
            if count:
                failures.append(f"{label} left: {count}")
        if state != "uninstalled":
            failures.append(f"module state {state}")
        smtpd.clear()
        sent = odoo.shell(CHATTER_SEND.format(user=USER, password=PASSWORD, smtp=smtpd.port))
        received = smtpd.wait_for(1, timeout=30)
        log(f"chatter mail after uninstall: mail.mail {sent['state']}, the generic server "
            f"received {len(received)} (to {received[0].rcpt_tos})")
        if sent["state"] != ["sent"] or received[0].rcpt_tos != ["customer@example.com"]:
            failures.append(f"the chatter mail is {sent['state']}")
    if not keep:
        odoo.drop()
    return failures, f"uninstall: nothing left ({', '.join(f'{k} 0' for k in leftovers)})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", nargs="?", default="all", choices=("upgrade", "uninstall", "all"))
    parser.add_argument("--from-ref", default=PREVIOUS_RELEASE)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="crm-inbox-lifecycle-")
    os.chmod(work, 0o755)  # Dovecot's unprivileged processes traverse it
    failures, done = [], []
    try:
        if args.what in ("upgrade", "all"):
            f, summary = run_upgrade(work, args.from_ref, args.keep)
            failures += f
            done.append(summary)
        if args.what in ("uninstall", "all"):
            f, summary = run_uninstall(work, args.keep)
            failures += f
            done.append(summary)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"lifecycle test FAILED: {'; '.join(failures)}", flush=True)
        sys.exit(1)
    print(f"lifecycle test passed: {'; '.join(done)}", flush=True)


if __name__ == "__main__":
    main()
