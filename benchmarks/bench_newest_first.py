#!/usr/bin/env python3
"""Benchmark: how soon a user sees their newest mail after connecting a big mailbox.

A real Dovecot holds a mailbox of ``--messages`` (default 20,000) bulk messages in
INBOX; a real PostgreSQL database has crm_inbox installed. An Odoo process
(real commits, no test mode) creates the account and tests the connection
(the setup wizard's step 2), then the clock starts: the wizard's *Finish*
(``action_finish``, which syncs the first slice, newest first) runs in its own
transaction, as the web request would, then a list RPC's ``search_read`` of the
100 newest rows of the account. The clock stops when it returns 100 rows; they
must be the 100 newest messages of the server (by Message-ID). Target: < 5 s.

    python benchmarks/bench_newest_first.py                 # 20,000 messages
    python benchmarks/bench_newest_first.py --messages 2000

Run as root (Dovecot drops privileges), with ``odoo`` importable and
``createdb`` working. Prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, REPO)

USER = "bench-newest@example.com"
PASSWORD = "bench-pass"
TARGET_S = 5.0
SHOWN = 100


def worker(cfg_path: str) -> None:
    """The Odoo side (``--worker``): one process, real commits."""
    with open(cfg_path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    import _odoo_worker

    _odoo, registry = _odoo_worker.load_env(cfg)
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        env["ir.config_parameter"].set_param("crm_inbox.allow_private_hosts", "True")
        account = _odoo_worker.create_account(env, cfg)  # commits
        wizard = env["crm.inbox.account.setup"].create({
            "email": cfg["user"], "account_id": account.id, "step": "folders"})
        cr.commit()  # pylint: disable=invalid-commit
        account_id, wizard_id = account.id, wizard.id
    t0 = time.perf_counter()
    with registry.cursor() as cr:  # the "Finish" request
        env = api.Environment(cr, SUPERUSER_ID, {})
        env["crm.inbox.account.setup"].browse(wizard_id).action_finish()
    t_finish = time.perf_counter() - t0
    with registry.cursor() as cr:  # the list's web_search_read
        env = api.Environment(cr, SUPERUSER_ID, {})
        rows = env["crm.inbox.message"].search_read(
            [("account_id", "=", account_id)], ["message_id", "subject", "date"],
            order="date desc, id desc", limit=SHOWN)
        t_list = time.perf_counter() - t0
        stored = env["crm.inbox.message"].search_count([("account_id", "=", account_id)])
        folder = env["crm.inbox.folder"].search(
            [("account_id", "=", account_id), ("special_use", "=", "\\Inbox")])
        cursors = {"low_uid": folder.low_uid, "last_uid": folder.last_uid,
                   "initial_done": folder.initial_done}
    with open(cfg["result_path"], "w", encoding="utf-8") as fh:
        json.dump({"finish_s": t_finish, "list_s": t_list, "stored": stored,
                   "shown": [r["message_id"] for r in rows], "cursors": cursors}, fh)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return 0

    import bench_sync

    bench_sync._import_engine(REPO)
    from engine.mime import parse_message

    work = tempfile.mkdtemp(prefix="bench-newest-")
    odoo_side = bench_sync.OdooSide(work, f"bench_newest_{os.getpid()}")
    dovecot = bench_sync.DovecotServer({USER: PASSWORD})
    smtpd = bench_sync.SMTPTestServer({USER: PASSWORD})
    try:
        bench_sync.prepare_source(work, "worktree")
        odoo_side.start_install()
        dovecot.start()
        smtpd.start()
        bench_sync.log(f"staging {args.messages} messages")
        stage = bench_sync.Stage(work, args.messages, seed=7, owner=USER)
        bench_sync.load_maildir(dovecot, USER, stage, args.messages)
        newest = [parse_message(stage.raw(i)).message_id
                  for i in range(args.messages - SHOWN, args.messages)]
        bench_sync.log(f"mailbox ready ({stage.bytes / 1e6:.0f} MB); waiting for the install")
        odoo_side.wait_install()
        db = odoo_side.fresh_db("run")
        cfg = {"mode": "newest_first", "db": db, "addons_path": odoo_side.addons,
               "data_dir": odoo_side.data_dir, "user": USER, "password": PASSWORD,
               "imap_port": dovecot.imap_port, "smtp_port": smtpd.port,
               "result_path": os.path.join(work, "result.json")}
        cfg_path = os.path.join(work, "config.json")
        with open(cfg_path, "w", encoding="utf-8") as fh:
            json.dump(cfg, fh)
        log_path = os.path.join(work, "worker.log")
        with open(log_path, "wb") as fh:
            rc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", cfg_path],
                                stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
        if rc:
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                print(fh.read()[-4000:])
            return 1
        with open(cfg["result_path"], encoding="utf-8") as fh:
            result = json.load(fh)
        exact = sorted(result["shown"]) == sorted(newest)
        ok = exact and result["list_s"] < TARGET_S
        print()
        print(f"mailbox: {args.messages} messages in INBOX")
        print(f"Finish (first slice, newest first): {result['finish_s']:.2f} s, "
              f"{result['stored']} rows stored, cursors {result['cursors']}")
        print(f"newest {SHOWN} listed {result['list_s']:.2f} s after Finish was clicked "
              f"(target < {TARGET_S:.0f} s); they are the server's newest {SHOWN}: {exact}")
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        smtpd.stop()
        dovecot.stop()
        odoo_side.drop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
