#!/usr/bin/env python3
"""Benchmark of crm_inbox's IMAP sync against Odoo 18's fetchmail and a bare fetch.

Everything is real: one local Dovecot (``testkit.mail_servers.DovecotServer``) with
three users holding the same kind of mailbox, real PostgreSQL databases with
crm_inbox installed, Odoo running in separate worker processes with real
commits. Prints figures and a PASS/FAIL table; it is not a test.

    python benchmarks/bench_sync.py                      # full size (about 10 min)
    python benchmarks/bench_sync.py --messages 500 --resync-messages 1000 --fetchmail-messages 100

See benchmarks/README.md for every option and the meaning of every figure.
Must run as root (Dovecot drops privileges), with ``odoo`` importable and
``createdb`` working.
"""

from __future__ import annotations

import argparse
import email
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# engine modules, imported by _import_engine() from the benchmarked source tree
bulk_mailbox = parse_message = DovecotServer = SMTPTestServer = None


def _import_engine(src: str) -> None:
    global bulk_mailbox, parse_message, DovecotServer, SMTPTestServer
    sys.path.insert(0, src)
    from engine.mime import parse_message
    try:
        from testkit.demo_mail import bulk_mailbox
        from testkit.mail_servers import DovecotServer, SMTPTestServer
    except ImportError:  # a source from before the test kit left engine/ (dde48a6 and older)
        from engine.demo import bulk_mailbox
        from engine.testing import DovecotServer, SMTPTestServer

USERS = {
    "crm": "bench-crm@example.com",
    "fetchmail": "bench-fetchmail@example.com",
    "resync": "bench-resync@example.com",
}
PASSWORD = "bench-pass"
TARGETS = {
    "vs_fetchmail": 10.0,   # first sync rate >= 10x fetchmail's
    "vs_bare": 0.5,         # first sync rate >= 0.5x bare fetch+parse
    "rss_mb": 500.0,        # peak RSS of the syncing Odoo process
    "queries_per_msg": 10.0,
    "resync_s": 1.0,
}


def log(msg: str) -> None:
    load = os.getloadavg()[0]
    print(f"[{time.strftime('%H:%M:%S')} load {load:4.1f}] {msg}", flush=True)


def human_mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


# ---------------------------------------------------------------------------
# messages: generated once into a staging maildir, hardlinked into users
# ---------------------------------------------------------------------------


class Stage:
    """``count`` bulk messages as files of a maildir (``<dir>/cur``), in order."""

    def __init__(self, root: str, count: int, seed: int, owner: str) -> None:
        self.dir = os.path.join(root, f"stage-{count}")
        self.count = count
        self.names: list[str] = []
        self.bytes = 0
        self.with_attachment = 0
        cur = os.path.join(self.dir, "cur")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        t0 = time.perf_counter()
        for i, raw in enumerate(bulk_mailbox(count, seed, owner=owner)):
            when = _date_of(raw)
            # zero-padded index: Dovecot assigns UIDs to new files in name order
            name = f"{int(when)}.M{i:07d}P0.bench,S={len(raw)}"
            path = os.path.join(cur, name + ":2,")
            with open(path, "wb") as fh:
                fh.write(raw)
            os.utime(path, (when, when))  # maildir INTERNALDATE = mtime
            self.names.append(name)
            self.bytes += len(raw)
            if b"multipart/mixed" in raw[:2000]:
                self.with_attachment += 1
        self.seconds = time.perf_counter() - t0

    def path(self, i: int) -> str:
        return os.path.join(self.dir, "cur", self.names[i] + ":2,")

    def raw(self, i: int) -> bytes:
        with open(self.path(i), "rb") as fh:
            return fh.read()


def _date_of(raw: bytes) -> float:
    head = raw[: raw.find(b"\r\n\r\n")]
    msg = email.message_from_bytes(head + b"\r\n\r\n")
    try:
        return parsedate_to_datetime(msg["Date"]).timestamp()
    except (TypeError, ValueError):
        return time.time()


# ---------------------------------------------------------------------------
# loading Dovecot: three ways, --compare-loaders times them
# ---------------------------------------------------------------------------


def _chown_tree(path: str, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(base, name), uid, gid)


def load_maildir(dovecot: DovecotServer, user: str, stage: Stage, n: int,
                 seen_from: int | None = None) -> None:
    """Hardlink the staged files into the user's maildir INBOX (before any login
    of that user), then let Dovecot index them (``doveadm mailbox status``).

    :param seen_from: messages from this index on get the ``\\Seen`` flag (``:2,S``).
    """
    pw = pwd.getpwnam("dovecot")
    root = os.path.join(dovecot.base_dir, "mail", user)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    cur = os.path.join(root, "cur")
    for i in range(n):
        flags = "S" if seen_from is not None and i >= seen_from else ""
        os.link(stage.path(i), os.path.join(cur, stage.names[i] + ":2," + flags))
    _chown_tree(root, pw.pw_uid, pw.pw_gid)
    index_inbox(dovecot, user)


def index_inbox(dovecot: DovecotServer, user: str) -> None:
    """Make Dovecot scan and index the maildir now, not during a measured sync."""
    for attempt in range(5):
        try:
            dovecot.doveadm("mailbox", "status", "-u", user, "messages uidnext", "INBOX",
                            timeout=600)
            return
        except RuntimeError as exc:  # seen under heavy load: "Auth USER lookup failed"
            log(f"  doveadm for {user} failed (attempt {attempt + 1}): {str(exc)[:200]}")
            time.sleep(2)
    with dovecot.client(user) as client:  # IMAP EXAMINE indexes the folder too
        client.select_folder("INBOX", readonly=True)


def load_append(dovecot: DovecotServer, user: str, stage: Stage, n: int) -> None:
    """One IMAP connection, one APPEND per message (with INTERNALDATE)."""
    with dovecot.client(user) as client:
        for i in range(n):
            raw = stage.raw(i)
            client.append("INBOX", raw, msg_time=datetime.fromtimestamp(_date_of(raw), UTC))


def load_import(dovecot: DovecotServer, user: str, stage: Stage, n: int) -> None:
    """``doveadm import`` from a maildir holding the first ``n`` staged files."""
    src = tempfile.mkdtemp(prefix="import-", dir=dovecot.base_dir)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(src, sub))
    for i in range(n):
        os.link(stage.path(i), os.path.join(src, "cur", stage.names[i] + ":2,"))
    pw = pwd.getpwnam("dovecot")
    _chown_tree(src, pw.pw_uid, pw.pw_gid)
    os.chmod(src, 0o755)
    dovecot.doveadm("import", "-u", user, f"maildir:{src}:LAYOUT=fs", "", "mailbox", "INBOX",
                    timeout=1800)
    shutil.rmtree(src, ignore_errors=True)


LOADERS = ("maildir hardlink + doveadm index", "doveadm import", "IMAP APPEND, one connection")


def loader_user(name: str) -> str:
    return f"loader-{name.split()[0].lower()}@example.com"


def compare_loaders(dovecot: DovecotServer, stage: Stage, n: int) -> dict[str, float]:
    rates = {}
    for name, loader in zip(LOADERS, (load_maildir, load_import, load_append), strict=True):
        user = loader_user(name)
        t0 = time.perf_counter()
        loader(dovecot, user, stage, n)
        secs = time.perf_counter() - t0
        got = len(dovecot.uids(user, "INBOX"))
        rates[name] = n / secs
        log(f"  loader {name:34s} {n} msgs in {secs:6.2f} s = {n / secs:8.0f} msg/s"
            f" ({got} in INBOX)")
    return rates


# ---------------------------------------------------------------------------
# (c) bare imapclient fetch + parse, no database
# ---------------------------------------------------------------------------


def bare_fetch(dovecot: DovecotServer, user: str, batch: int) -> dict:
    out = {"batch": batch}
    with dovecot.client(user) as client:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search("ALL"))
        n, nbytes = 0, 0
        t_fetch = t_email = t_parse = 0.0
        for start in range(0, len(uids), batch):
            chunk = uids[start:start + batch]
            t0 = time.perf_counter()
            data = client.fetch(chunk, [b"BODY.PEEK[]"])
            t1 = time.perf_counter()
            raws = [data[u][b"BODY[]"] for u in chunk if u in data]
            t_fetch += t1 - t0
            t0 = time.perf_counter()
            for raw in raws:
                email.message_from_bytes(raw)
            t1 = time.perf_counter()
            for raw in raws:
                parse_message(raw)
            t2 = time.perf_counter()
            t_email += t1 - t0
            t_parse += t2 - t1
            n += len(raws)
            nbytes += sum(len(r) for r in raws)
    out.update(messages=n, bytes=nbytes, fetch_s=t_fetch, email_s=t_email, parse_s=t_parse,
               fetch_rate=n / t_fetch, fetch_email_rate=n / (t_fetch + t_email),
               fetch_parse_rate=n / (t_fetch + t_parse), parse_rate=n / t_parse,
               mb_per_s=nbytes / 1e6 / t_fetch)
    return out


def print_parse_profile(dovecot: DovecotServer, user: str, n: int) -> None:
    """cProfile of engine.mime.parse_message over the first n messages."""
    import cProfile
    import io
    import pstats

    raws = list(dovecot.messages(user, "INBOX").values())[:n]
    prof = cProfile.Profile()
    prof.enable()
    for raw in raws:
        parse_message(raw)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
    print(f"\n  (c) cProfile of parse_message on {len(raws)} messages (by self time)\n"
          + out.getvalue())


# ---------------------------------------------------------------------------
# Odoo: template database, fresh copies, worker processes
# ---------------------------------------------------------------------------


def prepare_source(work: str, source: str) -> str:
    """The addon directory to benchmark: the working tree itself (symlinked), or
    a snapshot of a git ref exported with ``git archive`` (stable while others edit)."""
    addons = os.path.join(work, "addons")
    os.makedirs(addons, exist_ok=True)
    target = os.path.join(addons, "crm_inbox")
    if source == "worktree":
        os.symlink(REPO, target)
    else:
        os.makedirs(target)
        archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", source],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    return target


class OdooSide:
    def __init__(self, work: str, prefix: str) -> None:
        self.work = work
        self.addons = os.path.join(work, "addons")
        self.data_dir = os.path.join(work, "odoo-data")
        self.prefix = prefix
        self.template = f"{prefix}_tpl"
        self.dbs: list[str] = []
        self._install: subprocess.Popen | None = None
        self._install_t0 = 0.0
        self.install_s = 0.0

    def start_install(self) -> None:
        subprocess.run(["createdb", self.template], check=True)
        self.dbs.append(self.template)
        self._install_log = open(os.path.join(self.work, "install.log"), "wb")  # noqa: SIM115
        self._install_t0 = time.perf_counter()
        self._install = subprocess.Popen(
            [sys.executable, "-m", "odoo", "-d", self.template, f"--addons-path={self.addons}",
             f"--data-dir={self.data_dir}", "-i", "crm_inbox", "--without-demo=all",
             "--stop-after-init", "--log-level=warn"],
            stdout=self._install_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def wait_install(self) -> None:
        rc = self._install.wait()
        self.install_s = time.perf_counter() - self._install_t0
        self._install_log.close()
        if rc != 0:
            with open(os.path.join(self.work, "install.log"), encoding="utf-8",
                      errors="replace") as fh:
                raise SystemExit(f"crm_inbox install failed ({rc}):\n{fh.read()[-4000:]}")

    def fresh_db(self, tag: str) -> str:
        """A new database copied from the freshly installed template (and its filestore)."""
        name = f"{self.prefix}_{tag}"
        subprocess.run(["createdb", "-T", self.template, name], check=True)
        self.dbs.append(name)
        src = os.path.join(self.data_dir, "filestore", self.template)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(self.data_dir, "filestore", name))
        return name

    def run_worker(self, mode: str, db: str, **cfg) -> dict:
        cfg.update(mode=mode, db=db, addons_path=self.addons, data_dir=self.data_dir,
                   result_path=os.path.join(self.work, f"result-{mode}-{db}.json"))
        cfg_path = os.path.join(self.work, f"config-{mode}-{db}.json")
        with open(cfg_path, "w", encoding="utf-8") as fh:
            json.dump(cfg, fh)
        log_path = os.path.join(self.work, f"worker-{mode}-{db}.log")
        with open(log_path, "wb") as fh:
            rc = subprocess.run([sys.executable, os.path.join(HERE, "_odoo_worker.py"), cfg_path],
                                stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
        if rc != 0 or not os.path.exists(cfg["result_path"]):
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                tail = fh.read()[-4000:]
            raise RuntimeError(f"worker {mode} on {db} failed ({rc}):\n{tail}")
        with open(cfg["result_path"], encoding="utf-8") as fh:
            return json.load(fh)

    def drop(self) -> None:
        if self._install is not None and self._install.poll() is None:
            self._install.terminate()  # our own child: the install still running
            self._install.wait(timeout=30)
        for db in reversed(self.dbs):
            subprocess.run(["dropdb", "--if-exists", db], check=False)


# ---------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------


def print_phases(title: str, result: dict, messages: int, unit: str = "msg") -> None:
    rows = result.get("phases") or []
    if not rows:
        return
    print(f"\n  {title}: self time and SQL queries per phase "
          f"(exclusive; sums to the wall time)")
    print(f"    {'phase':52s} {'self s':>8s} {'share':>6s} {'calls':>7s} {'queries':>8s}"
          f" {'q/' + unit:>6s}")
    wall = result["wall_s"] or 1
    for row in rows:
        if row["self_s"] < 0.0005 and not row["queries"]:
            continue
        print(f"    {row['phase'][:52]:52s} {row['self_s']:8.2f} {100 * row['self_s'] / wall:5.1f}%"
              f" {row['calls']:7d} {row['queries']:8d} {row['queries'] / max(messages, 1):6.2f}")
    shapes = result.get("shapes") or []
    if shapes:
        print(f"\n  {title}: most frequent SQL query shapes (count, per {unit}, issuing phase)")
        for s in shapes[:15]:
            phase = max(s["by_phase"], key=s["by_phase"].get) if s["by_phase"] else ""
            print(f"    {s['count']:7d} {s['count'] / max(messages, 1):6.2f}/{unit}  [{phase[:28]}]"
                  f"  {s['shape'][:110]}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5000, help="first-sync mailbox size")
    ap.add_argument("--resync-messages", type=int, default=10000,
                    help="size of the folder for the no-change resync")
    ap.add_argument("--fetchmail-messages", type=int, default=500,
                    help="how many of the mailbox's messages fetchmail ingests (the rest are"
                         " \\Seen, which fetchmail skips); its rate is extrapolated")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bare-batch", type=int, default=50,
                    help="UIDs per UID FETCH in the bare test (crm_inbox uses 50)")
    ap.add_argument("--resync-repeats", type=int, default=3)
    ap.add_argument("--skip-crm", action="store_true", help="skip (a)")
    ap.add_argument("--skip-fetchmail", action="store_true", help="skip (b)")
    ap.add_argument("--skip-bare", action="store_true", help="skip (c)")
    ap.add_argument("--skip-resync", action="store_true", help="skip (d)")
    ap.add_argument("--no-phases", action="store_true",
                    help="no per-phase instrumentation in (a) (slightly less overhead)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the crm_inbox first sync and fetchmail; print the top functions")
    ap.add_argument("--compare-loaders", type=int, default=0, metavar="N",
                    help="first time the three ways of loading Dovecot on N messages")
    ap.add_argument("--keep", action="store_true",
                    help="keep the databases and the work directory (Dovecot is stopped)")
    ap.add_argument("--work-dir", help="directory for everything (default: a new temp dir)")
    ap.add_argument("--source", default="worktree",
                    help="what to benchmark: 'worktree' (the checkout as it is, default) or a"
                         " git ref such as HEAD, exported with git archive")
    args = ap.parse_args()

    if os.geteuid() != 0:
        raise SystemExit("run as root: Dovecot drops privileges to its own users")
    work = args.work_dir or tempfile.mkdtemp(prefix="crm-inbox-bench-")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)  # Dovecot's unprivileged processes must traverse it (mkdtemp: 0700)
    prefix = f"crm_inbox_bench_{os.getpid()}"
    src = prepare_source(work, args.source)
    _import_engine(src)
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short",
                             "HEAD" if args.source == "worktree" else args.source],
                            capture_output=True, text=True, check=False).stdout.strip()
    log(f"work directory {work}; databases {prefix}_*; source {args.source} ({commit}"
        f"{', plus uncommitted changes if any' if args.source == 'worktree' else ''})")
    results: dict = {"args": vars(args)}

    odoo_side = OdooSide(work, prefix)
    users = {login: PASSWORD for login in USERS.values()}
    if args.compare_loaders:
        users.update({loader_user(name): PASSWORD for name in LOADERS})
    dovecot = DovecotServer(users, base_dir=os.path.join(work, "dovecot"), keep=args.keep)
    smtp = SMTPTestServer(users)
    need_odoo = not (args.skip_crm and args.skip_fetchmail and args.skip_resync)
    try:
        if need_odoo:
            odoo_side.start_install()
            log("installing crm_inbox into the template database (in the background)")
        dovecot.start()
        smtp.start()
        log(f"Dovecot on 127.0.0.1:{dovecot.imap_port}, SMTP on 127.0.0.1:{smtp.port}")

        # -- generate once ------------------------------------------------------
        stage_root = os.path.join(dovecot.base_dir, "stage")
        n_main = args.messages
        stage = Stage(stage_root, n_main, args.seed, USERS["crm"])
        log(f"generated {stage.count} messages ({human_mb(stage.bytes)}, "
            f"{stage.with_attachment} with an attachment) in {stage.seconds:.1f} s")
        results["mailbox"] = {"messages": stage.count, "bytes": stage.bytes,
                              "with_attachment": stage.with_attachment}
        if args.compare_loaders:
            log(f"comparing loaders on {min(args.compare_loaders, n_main)} messages")
            try:
                results["loaders"] = compare_loaders(dovecot, stage,
                                                     min(args.compare_loaders, n_main))
            except Exception as exc:  # noqa: BLE001 - a side measurement
                log(f"  loader comparison failed: {exc}")

        # -- load: maildir hardlinks (fastest, see README) ---------------------
        t0 = time.perf_counter()
        load_maildir(dovecot, USERS["crm"], stage, n_main)
        n_fetchmail = min(args.fetchmail_messages, n_main)
        if not args.skip_fetchmail:
            load_maildir(dovecot, USERS["fetchmail"], stage, n_main, seen_from=n_fetchmail)
        log(f"loaded {n_main} messages per user into Dovecot in "
            f"{time.perf_counter() - t0:.1f} s (maildir hardlinks + doveadm indexing)")
        resync_stage = None
        if not args.skip_resync:
            resync_stage = Stage(stage_root, args.resync_messages, args.seed + 1, USERS["resync"])
            t0 = time.perf_counter()
            load_maildir(dovecot, USERS["resync"], resync_stage, resync_stage.count)
            log(f"generated {resync_stage.count} messages ({human_mb(resync_stage.bytes)}) in "
                f"{resync_stage.seconds:.1f} s, loaded in {time.perf_counter() - t0:.1f} s")

        if need_odoo:
            odoo_side.wait_install()
            log(f"crm_inbox installed in {odoo_side.install_s:.1f} s")

        # -- (c) bare fetch + parse ------------------------------------------------
        if not args.skip_bare:
            log(f"(c) bare imapclient fetch, batches of {args.bare_batch}, and parse")
            bare = bare_fetch(dovecot, USERS["crm"], args.bare_batch)
            results["bare"] = bare
            if args.profile:
                print_parse_profile(dovecot, USERS["crm"], min(n_main, 1000))
            log(f"    fetch only {bare['fetch_rate']:.0f} msg/s ({bare['mb_per_s']:.0f} MB/s); "
                f"fetch+email.message_from_bytes {bare['fetch_email_rate']:.0f} msg/s; "
                f"fetch+parse_message {bare['fetch_parse_rate']:.0f} msg/s "
                f"(parse_message alone {bare['parse_rate']:.0f} msg/s)")

        common = {"imap_port": dovecot.imap_port, "smtp_port": smtp.port, "password": PASSWORD,
                  "profile": args.profile, "phases": not args.no_phases}

        # -- (a) crm_inbox first sync ----------------------------------------
        if not args.skip_crm:
            db = odoo_side.fresh_db("crm")
            log(f"(a) crm_inbox first sync of {n_main} messages into fresh database {db}")
            res = odoo_side.run_worker("crm_sync", db, user=USERS["crm"], **common)
            first = res["first"]
            results["crm"] = res
            n = first["value"]
            first["rate"] = n / first["wall_s"] if first["wall_s"] else 0
            log(f"    stored {n} messages ({first['rows']} rows, {first['conversations']} "
                f"conversations, {first['attachments']} attachments, state {first['state']}) in "
                f"{first['wall_s']:.1f} s = {first['rate']:.1f} msg/s "
                f"(Odoo process CPU {first.get('cpu_s', 0):.1f} s = "
                f"{1000 * first.get('cpu_s', 0) / max(n, 1):.2f} ms/msg); {first['queries']} queries "
                f"= {first['queries'] / max(n, 1):.1f}/msg; peak RSS {res['peak_rss_mb']:.0f} MB "
                f"(after registry load {res['rss_after_registry_mb']:.0f} MB)")
            if first["state"] != "connected":
                log(f"    WARNING: account state {first['state']}: {first['last_error']}")
            print_phases("(a) crm_inbox first sync", first, n)
            if args.profile and first.get("profile"):
                print("\n  (a) cProfile\n" + first["profile"])

        # -- (b) fetchmail ------------------------------------------------------
        if not args.skip_fetchmail:
            db = odoo_side.fresh_db("fetchmail")
            log(f"(b) Odoo fetchmail.server (IMAP -> crm.lead) on {n_fetchmail} UNSEEN of "
                f"{n_main} messages, fresh database {db}")
            res = odoo_side.run_worker("fetchmail", db, user=USERS["fetchmail"], **common)
            fm = res["fetch"]
            results["fetchmail"] = res
            n = fm["mail_messages"] or n_fetchmail
            fm["rate"] = n / fm["wall_s"] if fm["wall_s"] else 0
            log(f"    ingested {fm['mail_messages']} messages ({fm['leads']} leads, "
                f"{fm['attachments']} attachments) in {fm['wall_s']:.1f} s = {fm['rate']:.1f} "
                f"msg/s (extrapolated to {n_main}: {n_main / max(fm['rate'], 1e-9):.0f} s); "
                f"{fm['queries']} queries = {fm['queries'] / max(n, 1):.1f}/msg; "
                f"peak RSS {res['peak_rss_mb']:.0f} MB")
            print_phases("(b) fetchmail", fm, n)
            if args.profile and fm.get("profile"):
                print("\n  (b) cProfile\n" + fm["profile"])

        # -- (d) no-change resync --------------------------------------------
        if not args.skip_resync:
            db = odoo_side.fresh_db("resync")
            log(f"(d) crm_inbox: first sync of {resync_stage.count} messages, then "
                f"{args.resync_repeats} no-change resyncs, database {db}")
            res = odoo_side.run_worker("crm_resync", db, user=USERS["resync"],
                                       resync_repeats=args.resync_repeats,
                                       **dict(common, profile=False))
            results["resync"] = res
            first = res["first"]
            log(f"    first sync: {first['value']} messages in {first['wall_s']:.1f} s = "
                f"{first['value'] / max(first['wall_s'], 1e-9):.1f} msg/s "
                f"(CPU {1000 * first.get('cpu_s', 0) / max(first['value'], 1):.2f} ms/msg), "
                f"{first['queries'] / max(first['value'], 1):.1f} queries/msg, "
                f"peak RSS {first['peak_rss_mb']:.0f} MB")
            for i, run in enumerate(res["resync"], 1):
                log(f"    resync {i}: {run['wall_s'] * 1000:.0f} ms "
                    f"(CPU {run.get('cpu_s', 0) * 1000:.0f} ms), {run['value']} new, "
                    f"{run['queries']} queries, state {run['state']}")
            print_phases("(d) no-change resync 1 (the second _sync())", res["resync"][0], 1,
                         "sync")
            if len(res["resync"]) > 1:
                print_phases("(d) no-change resync (last run)", res["resync"][-1], 1, "sync")

        # -- summary ------------------------------------------------------------
        print("\n" + "=" * 96)
        print(f"SUMMARY  mailbox {n_main} messages ({human_mb(stage.bytes)}, "
              f"{stage.with_attachment} with a 50-500 KB attachment)")
        print(f"  machine: {os.cpu_count()} CPUs, load average now "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min)")
        print("=" * 96)
        print(f"  {'figure':58s} {'value':>16s}")
        crm = results.get("crm", {}).get("first")
        fm = results.get("fetchmail", {}).get("fetch")
        bare = results.get("bare")
        rs = results.get("resync")
        if crm:
            print(f"  {'(a) crm_inbox first sync: messages/s':58s} {crm['rate']:16.1f}")
            print(f"  {'(a) crm_inbox first sync: wall time (s)':58s} {crm['wall_s']:16.1f}")
            print(f"  {'(a) crm_inbox: peak RSS of the Odoo process (MB)':58s} "
                  f"{results['crm']['peak_rss_mb']:16.0f}")
            print(f"  {'(a) crm_inbox: SQL queries per message':58s} "
                  f"{crm['queries'] / max(crm['value'], 1):16.1f}")
        if fm:
            print(f"  {f'(b) fetchmail: messages/s (on {n_fetchmail} messages)':58s} "
                  f"{fm['rate']:16.1f}")
            print(f"  {f'(b) fetchmail: extrapolated time for {n_main} (s)':58s} "
                  f"{n_main / max(fm['rate'], 1e-9):16.0f}")
            print(f"  {'(b) fetchmail: peak RSS (MB)':58s} {results['fetchmail']['peak_rss_mb']:16.0f}")
            print(f"  {'(b) fetchmail: SQL queries per message':58s} "
                  f"{fm['queries'] / max(fm['mail_messages'], 1):16.1f}")
        if bare:
            print(f"  {'(c) bare fetch only: messages/s':58s} {bare['fetch_rate']:16.0f}")
            print(f"  {'(c) bare fetch + email.message_from_bytes: messages/s':58s} "
                  f"{bare['fetch_email_rate']:16.0f}")
            print(f"  {'(c) bare fetch + engine.mime.parse_message: messages/s':58s} "
                  f"{bare['fetch_parse_rate']:16.0f}")
        if rs:
            times = [r["wall_s"] for r in rs["resync"]]
            print(f"  {f'(d) first sync of {args.resync_messages}: messages/s':58s} "
                  f"{rs['first']['value'] / max(rs['first']['wall_s'], 1e-9):16.1f}")
            print(f"  {'(d) no-change resync 1 = the second _sync() (s)':58s} {times[0]:16.3f}")
            print(f"  {'(d) no-change resyncs, median of all (s)':58s} "
                  f"{statistics.median(times):16.3f}")
            print(f"  {'(d) no-change resync 1 / last: SQL queries':58s} "
                  f"{rs['resync'][0]['queries']:>7d} / {rs['resync'][-1]['queries']:<6d}")

        print(f"\n  {'target':58s} {'measured':>16s}  result")
        verdicts = []

        def target(label, measured, ok):
            verdicts.append(ok)
            print(f"  {label:58s} {measured:>16s}  {verdict(ok)}")

        if crm and fm:
            ratio = crm["rate"] / max(fm["rate"], 1e-9)
            target("first sync rate >= 10x fetchmail's", f"{ratio:.1f}x",
                   ratio >= TARGETS["vs_fetchmail"])
        if crm and bare:
            ratio = crm["rate"] / bare["fetch_parse_rate"]
            target("first sync rate >= 0.5x bare fetch+parse_message", f"{ratio:.2f}x",
                   ratio >= TARGETS["vs_bare"])
        if crm:
            rss = results["crm"]["peak_rss_mb"]
            target("peak RSS of the syncing Odoo process < 500 MB", f"{rss:.0f} MB",
                   rss < TARGETS["rss_mb"])
            qpm = crm["queries"] / max(crm["value"], 1)
            target("SQL queries per message <= 10", f"{qpm:.1f}", qpm <= TARGETS["queries_per_msg"])
        if rs:
            worst = max(r["wall_s"] for r in rs["resync"])
            target(f"no-change resync of {args.resync_messages} messages < 1 s (slowest run)",
                   f"{worst * 1000:.0f} ms", worst < TARGETS["resync_s"])
        print(f"\n  {sum(verdicts)}/{len(verdicts)} targets met")
        with open(os.path.join(work, "results.json"), "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1, default=str)
        return 0
    finally:
        smtp.stop()
        dovecot.stop()
        if args.keep:
            log(f"kept: work directory {work}, databases {', '.join(odoo_side.dbs)}")
        else:
            odoo_side.drop()
            shutil.rmtree(work, ignore_errors=True)
            log("cleaned up databases, filestores, Dovecot and the work directory")


if __name__ == "__main__":
    sys.exit(main())
