"""Odoo side of benchmarks/bench_sync.py: one mode per process, result as JSON.

Run by bench_sync.py as ``python benchmarks/_odoo_worker.py <config.json>``;
not meant to be run by hand. The process loads the registry of an already
installed database, runs one measured operation with real commits (no test
mode: ``threading.current_thread().testing`` is unset), and writes
``{"...": ...}`` to ``config["result_path"]``.

Modes:

* ``crm_sync``: create a crm_inbox account, ``action_test_connection()``,
  then time ``account._sync()`` (the first sync).
* ``crm_resync``: the same, then time a second ``account._sync()`` with
  nothing changed on the server (``resync_repeats`` times).
* ``fetchmail``: create a ``fetchmail.server`` (IMAP, no SSL, creating
  ``crm.lead``), ``button_confirm_login()``, time ``fetch_mail()``.

Measures: wall time, ``odoo.sql_db.sql_counter`` delta (every query of the
process), ``ru_maxrss`` (peak RSS of this process, registry included) and the
RSS just before the measured call, plus, for crm_inbox, self time and SQL
queries per phase (functions wrapped at run time in this process only, no
source change) and the most frequent query shapes.
"""

import cProfile
import io
import json
import pstats
import re
import resource
import sys
import threading
import time
from collections import Counter, defaultdict


def rss_now_mb():
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_SAVEPOINT_RE = re.compile(r'((?:RELEASE |ROLLBACK TO )?SAVEPOINT) "[^"]*"')


class Phases:
    """Exclusive (self) time and SQL queries per named phase, nested phases allowed."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.stack = []  # [name, start]
        self.time = defaultdict(float)
        self.calls = Counter()
        self.queries = Counter()
        self.shapes = Counter()
        self.shape_phase = defaultdict(Counter)

    def push(self, name):
        now = time.perf_counter()
        if self.stack:
            top = self.stack[-1]
            self.time[top[0]] += now - top[1]
        self.stack.append([name, now])
        self.calls[name] += 1

    def pop(self):
        now = time.perf_counter()
        name, start = self.stack.pop()
        self.time[name] += now - start
        if self.stack:
            self.stack[-1][1] = now

    def query_hook(self, cr, query, params, start, delay):
        phase = self.stack[-1][0] if self.stack else "(outside phases)"
        self.queries[phase] += 1
        if isinstance(query, bytes):
            query = query.decode("utf-8", "replace")
        shape = _SAVEPOINT_RE.sub(r'\1 "..."', " ".join(str(query).split()))[:150]
        self.shapes[shape] += 1
        self.shape_phase[shape][phase] += 1

    def wrap_function(self, owner, attr, name):
        orig = getattr(owner, attr, None)
        if orig is None:
            return
        phases = self

        def wrapper(*args, **kwargs):
            phases.push(name)
            try:
                return orig(*args, **kwargs)
            finally:
                phases.pop()

        wrapper.__wrapped__ = orig
        setattr(owner, attr, wrapper)

    def wrap_generator(self, owner, attr, name):
        """Time each ``next()`` of a generator method (IMAP fetch streams)."""
        orig = getattr(owner, attr, None)
        if orig is None:
            return
        phases = self

        def wrapper(*args, **kwargs):
            it = orig(*args, **kwargs)
            while True:
                phases.push(name)
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    phases.pop()
                yield item

        setattr(owner, attr, wrapper)

    def report(self, total_time):
        rows = []
        accounted = 0.0
        for name, secs in sorted(self.time.items(), key=lambda kv: -kv[1]):
            accounted += secs
            rows.append({"phase": name, "self_s": secs, "calls": self.calls[name],
                         "queries": self.queries.get(name, 0)})
        rows.append({"phase": "(outside phases)", "self_s": max(total_time - accounted, 0.0),
                     "calls": 0, "queries": self.queries.get("(outside phases)", 0)})
        shapes = [{"count": n, "shape": s, "by_phase": dict(self.shape_phase[s].most_common(3))}
                  for s, n in self.shapes.most_common(25)]
        return rows, shapes


def load_env(cfg):
    import odoo
    from odoo.tools import config

    config.parse_config([
        "-d", cfg["db"],
        "--addons-path", cfg["addons_path"],
        "--data-dir", cfg["data_dir"],
        "--log-level", cfg.get("log_level", "warn"),
        "--db_maxconn", "8",
    ])
    from odoo.modules.registry import Registry

    registry = Registry(cfg["db"])
    return odoo, registry


def profile_report(prof, limit=35):
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(limit)
    out.write("\n---- by self time ----\n")
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def measure(cfg, func, phases=None):
    """Run func() with SQL counting, peak RSS and optional cProfile; return a dict."""
    from odoo import sql_db

    thread = threading.current_thread()
    if phases is not None:
        thread.query_hooks = (phases.query_hook,)
    prof = cProfile.Profile() if cfg.get("profile") else None
    rss_before = rss_now_mb()
    q0 = sql_db.sql_counter
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    try:
        value = func()
    finally:
        if prof:
            prof.disable()
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        queries = sql_db.sql_counter - q0
        if phases is not None:
            thread.query_hooks = ()
    # CPU seconds of this process (all threads; not the parse worker nor PostgreSQL):
    # much less sensitive than wall time to other load on the machine
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    result = {"wall_s": wall, "cpu_s": cpu, "queries": queries, "rss_before_mb": rss_before,
              "value": value}
    if prof:
        result["profile"] = profile_report(prof)
    return result


def instrument_crm_inbox(env, phases):
    from odoo import sql_db
    from odoo.addons.crm_inbox.engine import imap as engine_imap
    from odoo.addons.crm_inbox.models import crm_inbox_message as message_module

    phases.wrap_generator(engine_imap.IMAPSession, "fetch", "imap: UID FETCH BODY.PEEK[]")
    phases.wrap_function(engine_imap.IMAPSession, "examine", "imap: EXAMINE")
    phases.wrap_function(engine_imap.IMAPSession, "search_uids", "imap: UID SEARCH")
    phases.wrap_function(engine_imap.IMAPSession, "open", "imap: connect+login")
    phases.wrap_function(engine_imap.IMAPSession, "fetch_flags", "imap: UID FETCH FLAGS")
    phases.wrap_function(message_module, "parse_message", "mime: parse_message")
    for model, method, name in [
        ("crm.inbox.message", "_ingest", "ingest: _ingest (own code + dedupe searches)"),
        ("crm.inbox.message", "_create_from_parsed", "ingest: _create_from_parsed (own)"),
        ("crm.inbox.message", "_store_batch", "ingest: _store_batch (own)"),
        ("crm.inbox.message", "_prepare_vals", "ingest: _prepare_vals"),
        ("crm.inbox.conversation", "_assign_batch", "threading: conversation _assign_batch"),
        ("crm.inbox.conversation", "_refresh_summary", "threading: _refresh_summary (SQL)"),
        ("crm.inbox.conversation", "_thread_index", "threading: _thread_index"),
        ("crm.inbox.conversation", "_subject_match", "threading: _subject_match"),
        ("crm.inbox.conversation", "_add_participants", "threading: _add_participants"),
        ("crm.inbox.conversation", "_find_leads", "threading: _find_leads"),
        ("crm.inbox.message", "create", "orm: crm.inbox.message.create"),
        ("res.partner", "_crm_inbox_find_partners", "ingest: find/create partners"),
        ("crm.inbox.conversation", "_find_or_create", "threading: conversation _find_or_create"),
        ("crm.inbox.conversation", "_link_leads", "threading: _link_leads"),
        ("ir.attachment", "create", "orm: ir.attachment.create (filestore)"),
        ("crm.inbox.folder", "_sync_changes", "sync: _sync_changes (own code)"),
        ("crm.inbox.folder", "_drop_stale_rows", "sync: _drop_stale_rows"),
    ]:
        phases.wrap_function(type(env[model]), method, name)
    phases.wrap_function(sql_db.Cursor, "commit", "commit (flush + COMMIT)")


def instrument_fetchmail(env, phases):
    import imaplib

    for name in ("search", "fetch", "store", "select", "login"):
        phases.wrap_function(imaplib.IMAP4, name, f"imap: imaplib {name}")
    mail_thread = type(env["mail.thread"])
    phases.wrap_function(mail_thread, "message_parse", "mail.thread.message_parse")
    phases.wrap_function(mail_thread, "message_route", "mail.thread.message_route")
    phases.wrap_function(mail_thread, "_message_route_process",
                         "mail.thread._message_route_process (own)")
    phases.wrap_function(type(env["crm.lead"]), "message_new", "crm.lead.message_new")
    phases.wrap_function(type(env["crm.lead"]), "_message_post_after_hook",
                         "crm.lead._message_post_after_hook")
    phases.wrap_function(type(env["ir.attachment"]), "create", "orm: ir.attachment.create")
    phases.wrap_function(type(env["mail.message"]), "create", "orm: mail.message.create")
    from odoo import sql_db

    phases.wrap_function(sql_db.Cursor, "commit", "commit (flush + COMMIT)")


def create_account(env, cfg):
    # the benchmark servers are on loopback: an administrator's choice
    env["ir.config_parameter"].sudo().set_param("crm_inbox.allow_private_hosts", "True")
    account = env["crm.inbox.account"].create({
        "name": cfg["user"],
        "email": cfg["user"],
        "imap_host": "127.0.0.1",
        "imap_port": cfg["imap_port"],
        "imap_security": "none",
        "imap_username": cfg["user"],
        "imap_password": cfg["password"],
        "smtp_host": "127.0.0.1",
        "smtp_port": cfg["smtp_port"],
        "smtp_security": "none",
        "sync_from": "6m",
    })
    account.action_test_connection()
    env.cr.commit()
    return account


def run_crm(cfg, odoo, registry, resync):
    from odoo import SUPERUSER_ID, api

    out = {}
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        account = create_account(env, cfg)
        out["folders_synced"] = account.folder_ids.filtered("sync_enabled").mapped("name")
        phases = Phases() if cfg.get("phases", True) else None
        if phases:
            instrument_crm_inbox(env, phases)
        first = measure(cfg if not resync else {}, lambda: account._sync(), phases)
        env.invalidate_all()
        first["state"] = account.state
        first["last_error"] = account.last_error or ""
        first["rows"] = env["crm.inbox.message"].search_count([("account_id", "=", account.id)])
        first["conversations"] = env["crm.inbox.conversation"].search_count(
            [("account_id", "=", account.id)])
        first["attachments"] = env["ir.attachment"].search_count(
            [("res_model", "=", "crm.inbox.message")])
        first["partners"] = env["res.partner"].search_count([])
        first["peak_rss_mb"] = peak_rss_mb()
        if phases:
            first["phases"], first["shapes"] = phases.report(first["wall_s"])
        out["first"] = first
        if resync:
            runs = []
            for _ in range(cfg.get("resync_repeats", 3)):
                env.invalidate_all()
                account = account.browse(account.id)
                if phases:
                    phases.reset()
                r = measure(cfg, lambda account=account: account._sync(), phases)
                if phases:
                    r["phases"], r["shapes"] = phases.report(r["wall_s"])
                env.invalidate_all()
                r["state"] = account.state
                runs.append(r)
            out["resync"] = runs
            out["peak_rss_mb"] = peak_rss_mb()
    return out


def run_fetchmail(cfg, odoo, registry):
    from odoo import SUPERUSER_ID, api

    out = {}
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        server = env["fetchmail.server"].create({
            "name": "bench fetchmail",
            "server_type": "imap",
            "server": "127.0.0.1",
            "port": cfg["imap_port"],
            "is_ssl": False,
            "user": cfg["user"],
            "password": cfg["password"],
            "object_id": env["ir.model"]._get_id("crm.lead"),
        })
        server.button_confirm_login()
        cr.commit()
        leads0 = env["crm.lead"].with_context(active_test=False).search_count([])
        msgs0 = env["mail.message"].search_count([("model", "=", "crm.lead")])
        ph = Phases()
        instrument_fetchmail(env, ph)
        r = measure(cfg, lambda: server.fetch_mail(), ph)
        r["phases"], r["shapes"] = ph.report(r["wall_s"])
        env.invalidate_all()
        r["leads"] = env["crm.lead"].with_context(active_test=False).search_count([]) - leads0
        r["mail_messages"] = env["mail.message"].search_count(
            [("model", "=", "crm.lead")]) - msgs0
        r["attachments"] = env["ir.attachment"].search_count([("res_model", "=", "crm.lead")])
        r["peak_rss_mb"] = peak_rss_mb()
        out["fetch"] = r
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as fh:
        cfg = json.load(fh)
    t0 = time.perf_counter()
    odoo, registry = load_env(cfg)
    result = {"registry_load_s": time.perf_counter() - t0, "rss_after_registry_mb": rss_now_mb()}
    mode = cfg["mode"]
    if mode == "crm_sync":
        result.update(run_crm(cfg, odoo, registry, resync=False))
    elif mode == "crm_resync":
        result.update(run_crm(cfg, odoo, registry, resync=True))
    elif mode == "fetchmail":
        result.update(run_fetchmail(cfg, odoo, registry))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    result["peak_rss_mb"] = peak_rss_mb()
    with open(cfg["result_path"], "w", encoding="utf-8") as fh:
        json.dump(result, fh, default=str)


if __name__ == "__main__":
    main()
