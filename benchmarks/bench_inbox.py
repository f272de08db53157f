#!/usr/bin/env python3
"""Benchmark: the mail client's read RPCs on 10,000 conversations and 50,000 messages.

A real PostgreSQL database gets crm_inbox installed, then a personal account of a
salesperson with ``--conversations`` conversations (default 10,000) and
``--messages`` messages (default 50,000): varied plain-text and HTML bodies with
quoted history and signatures, 600 contacts (accented, Chinese and Japanese
names), attachments on one message in ten, threads of 1 to 20 messages (one of
exactly 5 and one of exactly 20). Rows are inserted in bulk with SQL (the sync is
measured by bench_sync.py), then every conversation goes through the ORM's
``_refresh_summary()``, which fills the summary and search columns exactly as
the sync does.

Then, as the salesperson, in one Odoo process (real registry, no test mode),
each RPC is called 3 times to warm up, then 20 times, each call with a fresh
ORM cache (as a new request would have); the figure is the median server time
(the method call, no HTTP) and the SQL queries of one call:

- ``inbox_list`` page 1 and page 5 (50 rows) of All and of Inbox: target ≤ 150 ms,
  page 1 and page 5 with the same number of queries;
- ``inbox_thread`` of the 20-message and of the 5-message thread: target ≤ 200 ms,
  the same number of queries;
- ``inbox_sidebar`` (accounts, folders, unread counts): ≤ 150 ms (our own target: the
  client calls it after every bus notification);
- ``inbox_list`` with a search (a common word, two common words, an order number,
  a contact name, an address, an attachment name, no match): target ≤ 300 ms.

    python benchmarks/bench_inbox.py                      # 10,000 / 50,000
    python benchmarks/bench_inbox.py --keep-db bench_inbox  # keep (and reuse) the db

Needs ``odoo`` importable and ``createdb`` working. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

TARGETS_MS = {"list": 150, "thread": 200, "search": 300, "sidebar": 150}
WARMUP, CALLS = 3, 20
OWNER = "bench.sales@example.com"

FIRST = ["Lucía", "Marc", "Anna", "Zhang", "Kenji", "Sophie", "Lars", "Emma", "Jürgen",
         "Chloé", "Oliver", "Mette", "Hiroshi", "Isabel", "Pierre", "Wei", "Yuki", "Greta",
         "Tomás", "Ingrid", "李", "王", "佐藤", "鈴木"]
LAST = ["Fernández", "Lefèvre", "Schmidt", "Wei", "Tanaka", "Dubois", "Jensen", "Brown",
        "Müller", "Moreau", "Smith", "Nielsen", "Sato", "García", "Martin", "明", "芳",
        "花子", "太郎", "Ødegaard", "Novák", "Rossi", "Silva", "Kowalski"]
COMPANIES = ["iberica", "lefevre", "schmidt", "shanghai-trade", "tanaka", "dubois", "nordic",
             "acme", "muller", "moreau"]
WORDS = [
    "order", "delivery", "invoice", "quote", "meeting", "price", "discount", "shipment",
    "pallet", "contract", "warehouse", "payment", "schedule", "sample", "catalogue", "tender",
    "retrofit", "maintenance", "spare", "parts", "confirmation", "reminder", "proposal",
    "agreement", "supplier", "customer", "production", "line", "machine", "training",
    "installation", "warranty", "budget", "forecast", "volume", "packaging", "transport",
    "customs", "thursday", "friday", "monday", "morning", "afternoon", "week", "month",
    "quarter", "please", "thanks", "regards", "attached", "question", "answer", "update",
    "status", "review", "approve", "signed", "draft", "final", "revised", "pedido", "entrega",
    "factura", "rechnung", "lieferung", "commande", "livraison", "订单", "发货", "注文", "納品"
]


def log(message):
    print(f"[bench_inbox] {message}", flush=True)


# ----------------------------------------------------------------------
# the Odoo side
# ----------------------------------------------------------------------
def _sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _body(rng, who, previous, signature):
    """A plain-text body: greeting, 1-12 lines, signature, quoted previous message."""
    lines = [f"Hello {who},", ""]
    lines += [_sentence(rng, rng.randint(6, 16)) for _ in range(rng.choice((1, 2, 4, 8, 12)))]
    lines += ["", "Best regards", "", "-- ", signature, "+33 1 23 45 67 89"]
    if previous:
        lines += ["", "On Mon, 2 Dec 2024 at 09:14, someone wrote:"]
        lines += ["> " + line for line in previous.split("\n")[:30]]
    return "\n".join(lines)


def populate(env, n_conv, n_msg, seed=11):
    """Insert the account, contacts, conversations, messages and attachments."""
    from odoo import Command
    from psycopg2.extras import execute_values

    rng = random.Random(seed)
    cr = env.cr
    env["ir.config_parameter"].set_param("crm_inbox.allow_private_hosts", "True")
    user = env["res.users"].create({
        "name": "Bench Sales", "login": "bench_sales", "email": OWNER,
        "groups_id": [Command.set([env.ref("base.group_user").id,
                                   env.ref("sales_team.group_sale_salesman").id])],
    })
    account = env["crm.inbox.account"].with_context(tracking_disable=True).create({
        "name": "Bench mailbox", "email": OWNER, "user_id": user.id,
        "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1", "state": "connected",
    })
    Folder = env["crm.inbox.folder"]
    folders = {role: Folder.create({"name": name, "account_id": account.id,
                                    "special_use": role, "sync_enabled": True})
               for role, name in (("\\Inbox", "INBOX"), ("\\Sent", "Sent"),
                                  ("\\Archive", "Archive"))}
    partners = env["res.partner"].create([{
        "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "email": f"contact{i}@{COMPANIES[i % len(COMPANIES)]}.example",
    } for i in range(600)])
    partner_rows = [(p.id, p.name, p.email) for p in partners]
    company_id = account.company_id.id
    # thread sizes: 1..20, summing to n_msg, with one 5 and one 20
    sizes = [20, 5]
    remaining = n_msg - 25
    for i in range(n_conv - 2):
        left = n_conv - 2 - i
        avg = remaining / left
        size = 1 if left == 1 else max(1, min(20, int(rng.expovariate(1 / avg)) + 1))
        size = min(size, remaining - (left - 1))
        if left == 1:
            size = remaining
        sizes.append(max(size, 1))
        remaining -= sizes[-1]
    now = time.time()
    span = 365 * 86400
    log(f"inserting {n_conv} conversations")
    conv_rows = []
    for _size in sizes:
        topic = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))).capitalize()
        subject = f"{topic} {rng.randint(100, 9999)}"
        conv_rows.append((subject, subject.lower(), account.id, company_id, user.id))
    conv_ids = [r[0] for r in execute_values(cr._obj, """
        INSERT INTO crm_inbox_conversation (name, subject_normalized, account_id, company_id,
                                            user_id, create_uid, write_uid, create_date,
                                            write_date)
        SELECT v.name, v.sn, v.acc, v.comp, v.usr, 1, 1, now(), now()
          FROM (VALUES %s) AS v(name, sn, acc, comp, usr) RETURNING id
    """, conv_rows, fetch=True, page_size=2000)]
    log(f"inserting {n_msg} messages")
    msg_rows, conv_partner = [], []
    uid_counter = {role: 0 for role in folders}
    conv_meta = []
    for conv_id, size, (subject, *_rest) in zip(conv_ids, sizes, conv_rows, strict=True):
        contact = rng.choice(partner_rows)
        conv_partner.append((conv_id, contact[0]))
        start = now - rng.random() * span
        previous = ""
        for j in range(size):
            incoming = j % 2 == 0
            when = start + j * rng.randint(600, 86400)
            if incoming:
                email_from, email_to = f"{contact[1]} <{contact[2]}>", f"Bench Sales <{OWNER}>"
                role = "\\Inbox" if rng.random() < 0.8 else "\\Archive"
            else:
                email_from, email_to = f"Bench Sales <{OWNER}>", f"{contact[1]} <{contact[2]}>"
                role = "\\Sent"
            text = _body(rng, contact[1].split()[0] if incoming else "Bench",
                         previous, contact[1] if incoming else "Bench Sales")
            previous = text
            html = None
            if rng.random() < 0.33:
                main, _sep, quoted = text.partition("\n-- \n")
                html = ("<div dir=\"ltr\">" + main.replace("\n", "<br>") + "</div>"
                        + "<div class=\"gmail_quote\"><blockquote class=\"gmail_quote\">"
                        + quoted.replace("\n", "<br>") + "</blockquote></div>")
            uid_counter[role] += 1
            msg_rows.append((
                account.id, folders[role].id, company_id, conv_id, 1, uid_counter[role],
                f"<bench.{conv_id}.{j}@example.com>", time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.gmtime(when)),
                ("Re: " if j else "") + subject, email_from, email_to, text, html,
                rng.random() < 0.85 or j < size - 1, rng.random() < 0.03,
                "in" if incoming else "out", len(text), 0,
            ))
        conv_meta.append(conv_id)
    msg_ids = []
    for start in range(0, len(msg_rows), 5000):
        msg_ids += [r[0] for r in execute_values(cr._obj, """
            INSERT INTO crm_inbox_message (account_id, folder_id, company_id, conversation_id,
                uidvalidity, imap_uid, message_id, date, subject, email_from, email_to,
                body_text, body_html, is_read, is_flagged, direction, size, attachment_count,
                create_uid, write_uid, create_date, write_date)
            SELECT v.a, v.f, v.c, v.conv, v.uv, v.uid, v.mid, v.d::timestamp, v.s, v.ef, v.et,
                   v.bt, v.bh, v.r, v.fl, v.dir, v.sz, v.ac, 1, 1, now(), now()
              FROM (VALUES %s) AS v(a, f, c, conv, uv, uid, mid, d, s, ef, et, bt, bh, r, fl,
                                    dir, sz, ac)
            RETURNING id
        """, msg_rows[start:start + 5000], fetch=True, page_size=5000)]
    log("attachments, contacts")
    att_rows = []
    for msg_id in msg_ids:
        if rng.random() < 0.1:
            name = rng.choice(("offer", "invoice", "pedido", "lieferschein", "drawing",
                               "datasheet")) + f"-{rng.randint(1000, 99999)}." + \
                rng.choice(("pdf", "png", "xlsx", "docx"))
            att_rows.append((name, "crm.inbox.message", msg_id, "binary", "application/pdf",
                             1234, company_id))
    execute_values(cr._obj, """
        INSERT INTO ir_attachment (name, res_model, res_id, type, mimetype, file_size,
                                   company_id, create_uid, write_uid, create_date, write_date)
        SELECT v.n, v.m, v.r, v.t, v.mt, v.fs, v.c, 1, 1, now(), now()
          FROM (VALUES %s) AS v(n, m, r, t, mt, fs, c)
    """, att_rows, page_size=5000)
    cr.execute("""
        UPDATE crm_inbox_message m SET attachment_count = a.cnt
          FROM (SELECT res_id, count(*) cnt FROM ir_attachment
                 WHERE res_model = 'crm.inbox.message' GROUP BY res_id) a
         WHERE a.res_id = m.id
    """)
    execute_values(cr._obj, "INSERT INTO crm_inbox_conversation_res_partner_rel "
                   "(crm_inbox_conversation_id, res_partner_id) VALUES %s", conv_partner,
                   page_size=5000)
    env.invalidate_all()
    log("summaries (_refresh_summary, as the sync does)")
    Conv = env["crm.inbox.conversation"]
    for start in range(0, len(conv_ids), 1000):
        Conv.browse(conv_ids[start:start + 1000])._refresh_summary()
    cr.execute("ANALYZE crm_inbox_message; ANALYZE crm_inbox_conversation; "
               "ANALYZE crm_inbox_conversation_folder_rel; ANALYZE ir_attachment")
    return user, account


def measure(env_factory, func, *args, **kwargs):
    """Median ms and queries of *func* after warm-up, each call with a fresh cache."""
    from odoo import sql_db

    times, queries = [], []
    for i in range(WARMUP + CALLS):
        env = env_factory()
        env.invalidate_all()
        before = sql_db.sql_counter
        t0 = time.perf_counter()
        result = func(env, *args, **kwargs)
        elapsed = (time.perf_counter() - t0) * 1000
        if i >= WARMUP:
            times.append(elapsed)
            queries.append(sql_db.sql_counter - before)
    return {"median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1), "queries": max(queries),
            "queries_min": min(queries), "result": result}


def worker(cfg_path):
    with open(cfg_path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    from odoo.tools import config

    config.parse_config(["-d", cfg["db"], "--addons-path", cfg["addons_path"],
                         "--data-dir", cfg["data_dir"], "--log-level", "warn"])
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    registry = Registry(cfg["db"])
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        user = env["res.users"].search([("login", "=", "bench_sales")])
        if not user:
            t0 = time.perf_counter()
            user, _account = populate(env, cfg["conversations"], cfg["messages"])
            cr.commit()  # pylint: disable=invalid-commit
            log(f"populated in {time.perf_counter() - t0:.0f} s")
        uid = user.id
    results = {}
    with registry.cursor() as cr:
        def env_factory():
            return api.Environment(cr, uid, {"lang": "en_US", "tz": "UTC"})

        env = env_factory()
        Conv = env["crm.inbox.conversation"]
        counts = {"conversations": Conv.search_count([]),
                  "messages": env["crm.inbox.message"].search_count([])}
        inbox = env["crm.inbox.folder"].search([("special_use", "=", "\\Inbox")], limit=1)
        t20 = Conv.search([("email_count", "=", 20)], limit=1)
        t5 = Conv.search([("email_count", "=", 5)], limit=1)
        some = env["crm.inbox.message"].search([("attachment_count", ">", 0)], limit=1)
        attachment = env["ir.attachment"].sudo().search(
            [("res_model", "=", "crm.inbox.message"), ("res_id", "=", some.id)], limit=1)
        partner = env["res.partner"].search([("email", "like", "contact17@")], limit=1)
        number = t20.name.split()[-1]

        def lst(e, scope, offset=0, search=""):
            return e["crm.inbox.conversation"].inbox_list(scope, search=search, offset=offset,
                                                          limit=50)

        def thread(e, conv_id):
            return e["crm.inbox.conversation"].inbox_thread(conv_id)

        def sidebar(e):
            return e["crm.inbox.conversation"].inbox_sidebar()

        cases = [
            ("sidebar", "sidebar (accounts, folders, counts)", sidebar, (), {}),
            ("list", "All, page 1", lst, ({"smart": "all"},), {}),
            ("list", "All, page 5", lst, ({"smart": "all"},), {"offset": 200}),
            ("list", "Inbox, page 1", lst, ({"folder_id": inbox.id},), {}),
            ("list", "Inbox, page 5", lst, ({"folder_id": inbox.id},), {"offset": 200}),
            ("thread", "20-message thread", thread, (t20.id,), {}),
            ("thread", "5-message thread", thread, (t5.id,), {}),
            ("search", "common word 'invoice'", lst, ({"smart": "all"},), {"search": "invoice"}),
            ("search", "two common words 'retrofit warranty'", lst, ({"smart": "all"},),
             {"search": "retrofit warranty"}),
            ("search", f"order number '{number}'", lst, ({"smart": "all"},),
             {"search": number}),
            ("search", f"contact name '{partner.name}'", lst, ({"smart": "all"},),
             {"search": partner.name}),
            ("search", "address 'contact17@'", lst, ({"smart": "all"},),
             {"search": "contact17@"}),
            ("search", f"attachment '{attachment.name}'", lst, ({"smart": "all"},),
             {"search": attachment.name}),
            ("search", "no match 'zzqxj'", lst, ({"smart": "all"},), {"search": "zzqxj"}),
        ]
        for kind, label, func, args, kwargs in cases:
            res = measure(env_factory, func, *args, **kwargs)
            out = res.pop("result")
            if kind == "thread":
                res["messages"] = len(out["messages"])
            elif kind == "sidebar":
                res["folders"] = sum(len(a["folders"]) for a in out["accounts"])
            else:
                res["rows"], res["total"] = len(out["rows"]), out["total"]
                res["total_exact"] = out.get("total_exact", True)
            res["kind"] = kind
            results[label] = res
            log(f"{label}: {res}")
        cr.rollback()
    with open(cfg["result_path"], "w", encoding="utf-8") as fh:
        json.dump({"counts": counts, "results": results}, fh, indent=1)


# ----------------------------------------------------------------------
# the driver
# ----------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--keep-db", metavar="NAME",
                        help="database to keep (reused, already populated, when it exists)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return 0
    work = tempfile.mkdtemp(prefix="bench-inbox-")
    addons = os.path.join(work, "addons")
    os.makedirs(addons)
    os.symlink(REPO, os.path.join(addons, "crm_inbox"))
    data_dir = os.path.join(work, "data")
    db = args.keep_db or f"bench_inbox_{os.getpid()}"
    exists = subprocess.run(["psql", "-lqt"], capture_output=True, text=True,
                            check=True).stdout
    exists = any(line.split("|")[0].strip() == db for line in exists.splitlines())
    try:
        if not exists:
            log(f"installing crm_inbox into {db}")
            subprocess.run(["createdb", db], check=True)
            subprocess.run([sys.executable, "-m", "odoo", "-d", db, f"--addons-path={addons}",
                            f"--data-dir={data_dir}", "-i", "crm_inbox", "--without-demo=all",
                            "--stop-after-init", "--log-level=warn"], check=True,
                           stdin=subprocess.DEVNULL)
        else:
            log(f"updating crm_inbox in {db}")
            subprocess.run([sys.executable, "-m", "odoo", "-d", db, f"--addons-path={addons}",
                            f"--data-dir={data_dir}", "-u", "crm_inbox", "--stop-after-init",
                            "--log-level=warn"], check=True, stdin=subprocess.DEVNULL)
        cfg = {"db": db, "addons_path": addons, "data_dir": data_dir,
               "conversations": args.conversations, "messages": args.messages,
               "result_path": os.path.join(work, "result.json")}
        cfg_path = os.path.join(work, "config.json")
        with open(cfg_path, "w", encoding="utf-8") as fh:
            json.dump(cfg, fh)
        subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", cfg_path],
                       check=True)
        with open(cfg["result_path"], encoding="utf-8") as fh:
            data = json.load(fh)
    finally:
        if not args.keep_db:
            subprocess.run(["dropdb", "--if-exists", db], check=False)
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"database: {data['counts']['conversations']} conversations, "
          f"{data['counts']['messages']} messages; median of {CALLS} calls after "
          f"{WARMUP} warm-up calls, server time (the RPC method, fresh ORM cache per call)")
    ok = True
    print(f"{'call':48} {'median ms':>10} {'max ms':>8} {'queries':>8} {'target':>8}")
    for label, res in data["results"].items():
        target = TARGETS_MS[res["kind"]]
        passed = res["median_ms"] <= target
        ok &= passed
        if res["kind"] == "thread":
            extra = f"{res['messages']} messages"
        elif res["kind"] == "sidebar":
            extra = f"{res['folders']} folders"
        else:
            extra = (f"{res['rows']} rows of {res['total']}"
                     f"{'' if res.get('total_exact', True) else '+'}")
        print(f"{label:48} {res['median_ms']:>10} {res['max_ms']:>8} {res['queries']:>8} "
              f"{'≤' + str(target):>8} {'ok' if passed else 'SLOW'}  ({extra})")
    r = data["results"]
    for a, b in (("All, page 1", "All, page 5"), ("Inbox, page 1", "Inbox, page 5"),
                 ("20-message thread", "5-message thread")):
        same = r[a]["queries"] == r[b]["queries"] == r[a]["queries_min"] == r[b]["queries_min"]
        ok &= same
        print(f"queries {a} == {b}: {r[a]['queries']} == {r[b]['queries']}: "
              f"{'ok' if same else 'DIFFERENT'}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
