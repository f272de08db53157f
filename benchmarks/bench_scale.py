#!/usr/bin/env python3
"""Scale benchmark: many mailboxes synced by real Odoo cron workers (sync runners).

Everything is real: one local Dovecot with one user per mailbox, reached through
``testkit.delay_proxy.DelayProxy`` (``--delay`` seconds each way: a provider far away),
a PostgreSQL database with crm_inbox installed, and for each measurement a real Odoo
server (``--workers=1 --max-cron-threads=K+1``: K sync runner crons, one thread spare
for Odoo's other crons, as readme/CONFIGURE.md asks) started on it. Times go from the
first claim to the last commit of the cycle, read from the server's log
(``crm_inbox_account_runner`` debug lines). Prints a table; not a test.

Measures:
  (a) a no-change cycle of ``--accounts`` mailboxes with each of ``--runners``;
  (b) the first sync of ``--first-sync`` accounts x messages (2 runners);
  (c) peak RSS of each cron worker process and peak database connections (all runs);
  (d) the cycle while ``--failing`` of the accounts fail (2/3 refused logins, 1/3 on a
      server that accepts TCP and never answers; ``crm_inbox.timeout`` = ``--timeout``),
      then the next cycle, where the failing accounts back off;
  (e) with ``--queue-job-capacity C``: OCA queue_job installed too, the same no-change
      cycle run as one job per account on ``root.crm_inbox`` (a server with
      ``--load=base,web,queue_job --workers=C``, ``[queue_job] channels`` =
      ``root:C,root.crm_inbox:C`` through ``ODOO_QUEUE_JOB_CHANNELS``), timed from the
      first job's claim to the last job's commit; the cron runs above keep syncing
      themselves (``crm_inbox.sync_with_queue_job`` = False).

    python3 benchmarks/bench_scale.py --db w17_bench                   # 1,000 accounts
    python3 benchmarks/bench_scale.py --accounts 100 --runners 1,2 --first-sync 5x100
    python3 benchmarks/bench_scale.py --runners 2 --queue-job-capacity 4 --first-sync 0 \
        --skip-failing                                                 # cron vs queue_job

Must run as root (Dovecot drops privileges), with ``odoo`` importable.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "scripts"))

from kill_test import Odoo

from testkit.delay_proxy import DelayProxy
from testkit.demo_mail import bulk_mailbox
from testkit.mail_servers import DovecotServer, SMTPTestServer, free_port

PASSWORD = "bench-pass"
ENQUEUE_RE = re.compile(r"crm_inbox: (\d+) sync jobs enqueued on \S+ in ([\d.]+) s")
LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \d+ DEBUG \S+ \S+: "
                    r"crm_inbox: (claimed|synced) account (\d+)")


def log(msg):
    print(f"[bench] {msg}", flush=True)


def login(prefix, i):
    return f"{prefix}{i:04d}@example.com"


SETUP_CODE = """
params = env["ir.config_parameter"].sudo()
params.set_param("crm_inbox.allow_private_hosts", "True")
params.set_param("crm_inbox.timeout", "{timeout}")
env.company.crm_inbox_max_accounts = 0
Account = env["crm.inbox.account"].with_context(tracking_disable=True, mail_create_nolog=True)
def make(logins, active):
    ids = []
    for login in logins:
        ids.append(Account.create({{
            "name": login, "email": login, "user_id": env.ref("base.user_admin").id,
            "imap_host": "127.0.0.1", "imap_port": {port}, "imap_security": "none",
            "imap_password": "{password}", "smtp_host": "127.0.0.1", "smtp_port": {smtp_port},
            "smtp_security": "none", "sync_from": "6m", "active": active,
        }}).id)
    return ids
main = make({main!r}, True)
first = make({first!r}, False)
env.cr.commit()
env.cr.execute("UPDATE crm_inbox_account SET state = 'connected'")
env.cr.commit()
print("IDS", ",".join(map(str, main)), "|", ",".join(map(str, first)))
"""

PREPARE_CODE = """
env["ir.config_parameter"].sudo().set_param("crm_inbox.sync_with_queue_job", "{queue_job}")
env["crm.inbox.account"]._crm_inbox_apply_runners({runners})
env.cr.execute("UPDATE ir_cron SET nextcall = (now() AT TIME ZONE 'UTC') - interval '1 minute' "
               "WHERE id IN (SELECT c.id FROM ir_cron c JOIN ir_act_server s "
               "ON s.id = c.ir_actions_server_id WHERE s.code = 'model._cron_sync_accounts()')")
env.cr.execute("UPDATE crm_inbox_account SET sync_next_attempt = NULL "
               "WHERE active AND sync_failure_count = 0")
env.cr.commit()
print("PREPARED")
"""


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.conns:
            conn.close()


def notify_cron(db):
    """NOTIFY cron_trigger on the ``postgres`` database, where Odoo's cron workers
    LISTEN (odoo/service/server.py)."""
    conn = psycopg2.connect(dbname="postgres", host=os.environ.get("PGHOST") or None)
    try:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute("SELECT pg_notify('cron_trigger', %s)", (db,))
    finally:
        conn.close()


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return 0
    return 0


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                             check=False).stdout
    except OSError:
        return []
    return [int(p) for p in out.split()]


def run_cycle(odoo, work, label, runners, expect_ids, timeout_s=1800, until_complete=False,
              queue_job_capacity=0):
    """Start an Odoo server with *runners* sync crons (or, with *queue_job_capacity*,
    queue_job's job runner with that channel capacity and one cron that enqueues);
    wait until every account of *expect_ids* was synced (success or failure) in this
    cycle; return figures."""
    odoo.run_shell(PREPARE_CODE.format(runners=1 if queue_job_capacity else runners,
                                       queue_job=bool(queue_job_capacity)))
    t0 = odoo.sql("SELECT (now() AT TIME ZONE 'UTC')::timestamp(0)")[0][0]
    logfile = os.path.join(work, "server-" + re.sub(r"\W+", "-", label).strip("-") + ".log")
    env = dict(os.environ)
    if queue_job_capacity:
        # one HTTP worker per job at once (the job runner posts each job to /queue_job/
        # runjob), one cron thread for the enqueuing cron and Odoo's other crons
        server_opts = [f"--workers={queue_job_capacity}", "--max-cron-threads=1",
                       "--load=base,web,queue_job"]
        env["ODOO_QUEUE_JOB_CHANNELS"] = (f"root:{queue_job_capacity},"
                                          f"root.crm_inbox:{queue_job_capacity}")
    else:
        server_opts = ["--workers=1", f"--max-cron-threads={runners + 1}"]
    cmd = [sys.executable, "-m", "odoo", *odoo.common, *server_opts,
           f"--http-port={free_port()}",
           "--gevent-port", str(free_port()), "--limit-time-real-cron=0",
           "--limit-memory-soft=4294967296", "--limit-memory-hard=5368709120",
           "--log-level=info",
           "--log-handler=odoo.addons.crm_inbox.models.crm_inbox_account_runner:DEBUG",
           "--log-handler=odoo.addons.crm_inbox.models.crm_inbox_account_queue_job:DEBUG",
           f"--logfile={logfile}"]
    server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT, start_new_session=True, env=env)
    peak_rss, peak_conns = {}, 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout_s:
            time.sleep(1)
            if time.monotonic() - started < 30:
                # wake the cron workers now (they poll every 60 s otherwise), as
                # ir.cron._trigger() does; the cycle is timed from the first claim
                notify_cron(odoo.db)
            for pid in children(server.pid):
                peak_rss[pid] = max(peak_rss.get(pid, 0), rss_mb(pid))
            peak_conns = max(peak_conns, odoo.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (odoo.db,))[0][0])
            left = odoo.sql("""SELECT count(*) FROM crm_inbox_account WHERE id = ANY(%s)
                                AND (last_sync_date IS NULL OR last_sync_date < %s)""",
                            (list(expect_ids), t0))[0][0]
            if until_complete and not left:
                # a long first sync goes in slices (time budget): wait for every folder
                left = odoo.sql("""SELECT count(*) FROM crm_inbox_folder
                                    WHERE account_id = ANY(%s) AND sync_enabled
                                      AND NOT coalesce(sync_complete, false)""",
                                (list(expect_ids),))[0][0]
            if not left:
                break
        else:
            log(f"{label}: timeout, {left} accounts not synced")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)
        # stopping the server kills its cron workers, maybe just after a claim: that
        # lease would hold one account for crm_inbox.sync_lease_seconds (900 s) into the
        # next run (seen in the first 1,000-account run); free it, it is not a measurement
        odoo.sql("UPDATE crm_inbox_account SET sync_lease_token = NULL, "
                 "sync_lease_until = NULL WHERE sync_lease_token IS NOT NULL")
    claims, syncs, enqueued = [], [], None
    with open(logfile, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            found = ENQUEUE_RE.search(line)
            if found and int(found.group(1)):
                enqueued = (int(found.group(1)), float(found.group(2)))
            match = LOG_RE.match(line)
            if match:
                at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                (claims if match.group(2) == "claimed" else syncs).append(at)
    states = dict(odoo.sql("""SELECT state, count(*) FROM crm_inbox_account
                               WHERE id = ANY(%s) GROUP BY state""", (list(expect_ids),)))
    seconds = (max(syncs) - min(claims)) if claims and syncs else float("nan")
    # the cron workers are the children with the largest RSS minus the HTTP worker:
    # report the K+1 largest (cron workers); the HTTP worker idles
    rss = sorted(peak_rss.values(), reverse=True)
    return {"label": label, "runners": queue_job_capacity or runners,
            "queue_job": queue_job_capacity, "enqueued": enqueued,
            "accounts": len(expect_ids), "syncs": len(syncs), "seconds": seconds,
            "per_account_ms": 1000 * seconds / max(len(syncs), 1),
            "rss": rss, "conns": peak_conns, "states": states}


def install_queue_job(odoo):
    """Install OCA queue_job (``pip install --no-deps "odoo-addon-queue-job==18.0.*"``)
    in the benchmark's database too: linked into its addons path."""
    try:
        from odoo.addons import queue_job
    except ImportError as exc:
        raise SystemExit("--queue-job-capacity: queue_job is not importable; "
                         'pip install --no-deps "odoo-addon-queue-job==18.0.*"') from exc
    os.symlink(os.path.dirname(queue_job.__file__), os.path.join(odoo.addons, "queue_job"))
    started = time.monotonic()
    rc = subprocess.run([sys.executable, "-m", "odoo", *odoo.common, "-i", "queue_job",
                         "--stop-after-init", "--http-port", str(free_port()),
                         "--log-level=warn"], stdin=subprocess.DEVNULL, check=False).returncode
    if rc:
        raise SystemExit(f"installing queue_job failed ({rc})")
    log(f"queue_job installed in {time.monotonic() - started:.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--runners", default="1,2,4")
    parser.add_argument("--delay", type=float, default=0.020,
                        help="seconds added per direction (0.020: 40 ms round trip)")
    parser.add_argument("--failing", type=float, default=0.10)
    parser.add_argument("--timeout", type=int, default=10,
                        help="crm_inbox.timeout for the hanging server (seconds)")
    parser.add_argument("--first-sync", default="20x500",
                        help="ACCOUNTSxMESSAGES of the first-sync run, or 0 to skip")
    parser.add_argument("--skip-failing", action="store_true")
    parser.add_argument("--queue-job-capacity", type=int, default=0,
                        help="also run the no-change cycle through OCA queue_job with this "
                             "channel capacity (0: skip; queue_job must be importable)")
    parser.add_argument("--db", default=f"crm_inbox_scale_bench_{os.getpid()}")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    runner_counts = [int(x) for x in args.runners.split(",") if x]
    fs_accounts, fs_messages = (int(x) for x in args.first_sync.split("x")) \
        if args.first_sync != "0" else (0, 0)
    work = tempfile.mkdtemp(prefix="crm-inbox-bench-scale-")
    odoo = Odoo(work, args.db)
    main_logins = [login("box", i) for i in range(args.accounts)]
    first_logins = [login("first", i) for i in range(fs_accounts)]
    users = dict.fromkeys(main_logins + first_logins, PASSWORD)
    dovecot = DovecotServer(users=users)
    smtpd = SMTPTestServer(users={})
    hanging = HangingServer()
    proxy = None
    results = []
    load_before = os.getloadavg()
    try:
        install = threading.Thread(target=odoo.install)
        install.start()
        dovecot.start()
        smtpd.start()
        proxy = DelayProxy(dovecot.imap_port, delay=args.delay).start()
        filled = time.monotonic()
        for j, user in enumerate(first_logins):
            with dovecot.client(user) as client:
                for raw in bulk_mailbox(fs_messages, seed=j, attachment_ratio=0.05,
                                        owner=user):
                    client.append("INBOX", raw)
        if first_logins:
            log(f"{fs_accounts} x {fs_messages} messages appended in "
                f"{time.monotonic() - filled:.0f} s")
        install.join()
        if args.queue_job_capacity:
            install_queue_job(odoo)
        out = odoo.run_shell(SETUP_CODE.format(
            timeout=args.timeout, port=proxy.port, password=PASSWORD, smtp_port=smtpd.port,
            main=main_logins, first=first_logins), timeout=1800)
        match = re.search(r"^IDS (\S*) \| (\S*)", out, re.MULTILINE)
        if not match:
            raise SystemExit(f"setup failed:\n{out[-4000:]}")
        main_ids = [int(x) for x in match.group(1).split(",") if x]
        first_ids = [int(x) for x in match.group(2).split(",") if x]
        log(f"{len(main_ids)} accounts created; proxy adds {2000 * args.delay:.0f} ms "
            "per round trip")
        # warm-up: the first sync of every (empty) mailbox lists its folders
        warm = run_cycle(odoo, work, "warm-up (folders listed)", max(runner_counts),
                         main_ids)
        results.append(warm)
        log(f"warm-up: {warm['seconds']:.1f} s")
        for k in runner_counts:
            res = run_cycle(odoo, work, f"(a) no-change cycle, {k} runner(s)", k, main_ids)
            results.append(res)
            log(f"{res['label']}: {res['seconds']:.1f} s, load {os.getloadavg()[0]:.1f}")
        if args.queue_job_capacity:
            cap = args.queue_job_capacity
            res = run_cycle(odoo, work, f"(e) no-change cycle, queue_job capacity {cap}", 0,
                            main_ids, queue_job_capacity=cap)
            results.append(res)
            log(f"{res['label']}: {res['seconds']:.1f} s, load {os.getloadavg()[0]:.1f}")
        if not args.skip_failing and args.failing > 0:
            n_fail = int(len(main_ids) * args.failing)
            refused = main_ids[:n_fail * 2 // 3]
            hang = main_ids[n_fail * 2 // 3:n_fail]
            odoo.run_shell(f"""
Account = env["crm.inbox.account"].with_context(tracking_disable=True)
Account.browse({refused!r}).write({{"imap_password": "wrong-password"}})
env.cr.execute("UPDATE crm_inbox_account SET imap_port = %s WHERE id = ANY(%s)",
               ({hanging.port}, {hang!r}))
env.cr.commit()
""")
            res = run_cycle(odoo, work, f"(d) {len(refused)} refused + {len(hang)} hanging, "
                            "2 runners", 2, main_ids)
            results.append(res)
            log(f"{res['label']}: {res['seconds']:.1f} s")
            healthy = main_ids[n_fail:]
            res = run_cycle(odoo, work, "(d) next cycle: failing ones backed off, 2 runners",
                            2, healthy)
            results.append(res)
            log(f"{res['label']}: {res['seconds']:.1f} s")
            odoo.sql("UPDATE crm_inbox_account SET active = false WHERE id = ANY(%s)",
                     (main_ids,))
        if first_ids:
            odoo.sql("UPDATE crm_inbox_account SET active = false WHERE id = ANY(%s)",
                     (main_ids,))
            odoo.sql("UPDATE crm_inbox_account SET active = true WHERE id = ANY(%s)",
                     (first_ids,))
            res = run_cycle(odoo, work, f"(b) first sync {fs_accounts} x {fs_messages}, "
                            "2 runners", 2, first_ids, until_complete=True)
            rows = odoo.sql("SELECT count(*) FROM crm_inbox_message WHERE account_id = ANY(%s)",
                            (first_ids,))[0][0]
            res["messages"] = rows
            results.append(res)
            log(f"{res['label']}: {res['seconds']:.1f} s, {rows} messages stored")
    finally:
        if proxy:
            proxy.stop()
        hanging.close()
        dovecot.stop()
        smtpd.stop()
        if not args.keep:
            odoo.drop()
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"crm_inbox scale benchmark: {args.accounts} mailboxes, +{2000 * args.delay:.0f} ms "
          f"round trip, load average before {load_before[0]:.1f}, {os.cpu_count()} CPUs")
    print(f"{'run':58} {'syncs':>6} {'seconds':>8} {'ms/acct':>8} "
          f"{'peak RSS/worker MB':>20} {'DB conns':>8}")
    for r in results:
        rss = "/".join(f"{x:.0f}" for x in r["rss"][:r["runners"] + 2])
        print(f"{r['label']:58} {r['syncs']:>6} {r['seconds']:>8.1f} "
              f"{r['per_account_ms']:>8.0f} {rss:>20} {r['conns']:>8}")
        if r.get("messages") is not None:
            print(f"{'':58} {r['messages']} messages stored "
                  f"({r['messages'] / r['seconds']:.0f} msg/s)")
        if r.get("enqueued"):
            print(f"{'':58} {r['enqueued'][0]} jobs enqueued by the cron in "
                  f"{r['enqueued'][1]:.1f} s (before and while the jobs ran)")
        if len(r["states"]) > 1:
            print(f"{'':58} states: {r['states']}")
    base = {r["runners"]: r["seconds"] for r in results if r["label"].startswith("(a)")}
    queued = [r for r in results if r.get("queue_job")]
    if queued and 2 in base:
        print(f"queue_job capacity {queued[0]['queue_job']} / 2 runners: "
              f"{queued[0]['seconds'] / base[2]:.2f} (goal <= 1.0)")
    if 1 in base and 2 in base:
        print(f"2 runners / 1 runner: {base[2] / base[1]:.2f} (goal <= 0.6); "
              f"2-runner cycle fits a 5-minute interval: {base[2] <= 300}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
