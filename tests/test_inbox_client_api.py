"""The read RPCs of the mail client: shapes, constant query counts, access levels, bus.

Mail is real: APPENDed to Dovecot and synced; the RPCs are called through the ORM
as each role, and through JSON-RPC (``/web/dataset/call_kw``) for the access checks.
"""

import json
from datetime import UTC, datetime, timedelta

from odoo import sql_db
from odoo.tests import tagged

from .common import CrmInboxCase

CUSTOMER = "Lucía Fernández"
CUSTOMER_EMAIL = "lucia@iberica.example"


def thread_raws(owner, key, size, start, subject="Pedido {key}"):
    """*size* RFC 5322 messages of one thread between the customer and *owner*,
    alternating (customer first), each quoting the previous one.

    :returns: ``[(folder, raw bytes, flags, datetime)]``
    """
    out, refs = [], []
    subject = subject.format(key=key)
    for i in range(size):
        incoming = i % 2 == 0
        sender = f"{CUSTOMER} <{CUSTOMER_EMAIL}>" if incoming else f"Sam Sales <{owner}>"
        to = owner if incoming else f"{CUSTOMER} <{CUSTOMER_EMAIL}>"
        mid = f"<{key}-{i}@thread.example>"
        when = start + timedelta(minutes=10 * i)
        headers = [f"From: {sender}", f"To: {to}",
                   f"Subject: {'Re: ' if i else ''}{subject}", f"Message-ID: {mid}",
                   f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
                   "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                   "Content-Transfer-Encoding: 8bit"]
        if refs:
            headers += [f"In-Reply-To: {refs[-1]}", f"References: {' '.join(refs)}"]
        body = (f"Message {i} of {key}: new text {key}-{i}.\r\n\r\n-- \r\nSignature {i}\r\n\r\n"
                f"On Mon, 2 Dec 2024, someone wrote:\r\n> older text of {key}\r\n")
        raw = ("\r\n".join(headers) + "\r\n\r\n" + body).encode()
        out.append(("INBOX" if incoming else "Sent", raw, () if incoming else ("\\Seen",),
                    when))
        refs.append(mid)
    return out


class ClientFixture:
    """An account of ``cls.user`` with the demo mailbox and threads of 5 and 20 emails."""

    @classmethod
    def _client_fixture(cls, demo_count=60, extra_threads=0):
        cls.account = cls._create_account()
        cls.account.action_test_connection()
        cls._load_demo_cls(count=demo_count)
        start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2)
        for key, size in (("T5", 5), ("T20", 20)):
            for folder, raw, flags, when in thread_raws(cls.account.email, key, size, start):
                cls.dovecot.append(cls.account.email, folder, raw, flags,
                                   when.replace(tzinfo=UTC))
        for n in range(extra_threads):
            for folder, raw, flags, when in thread_raws(
                    cls.account.email, f"X{n}", 1, start - timedelta(hours=n + 1),
                    subject="Bulk {key}"):
                cls.dovecot.append(cls.account.email, folder, raw, flags,
                                   when.replace(tzinfo=UTC))
        cls.account._sync()
        Conv = cls.env["crm.inbox.conversation"]
        cls.t5 = Conv.search([("account_id", "=", cls.account.id), ("subject_normalized", "=", "pedido t5")])
        cls.t20 = Conv.search([("account_id", "=", cls.account.id),
                               ("subject_normalized", "=", "pedido t20")])
        assert cls.t5.email_count == 5 and cls.t20.email_count == 20, (
            "fixture threads", cls.t5.read(["email_count", "name"]),
            cls.t20.read(["email_count", "name"]),
            cls.account.folder_ids.read(["name", "sync_enabled", "message_count"]))

    @classmethod
    def _load_demo_cls(cls, count):
        from ..testkit.demo_mail import demo_mailbox
        messages = demo_mailbox(owner=cls.account.email, count=count)
        for message in messages:
            cls.dovecot.append(cls.account.email, message.folder, message.raw, message.flags,
                               message.msg_time)
        return messages


def count_queries(func, *args, **kwargs):
    """``(result, number of SQL queries)`` of one call."""
    before = sql_db.sql_counter
    result = func(*args, **kwargs)
    return result, sql_db.sql_counter - before


@tagged("post_install", "-at_install")
class TestInboxClientApi(ClientFixture, CrmInboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._client_fixture(demo_count=60, extra_threads=60)
        cls.Conv = cls.env["crm.inbox.conversation"].with_user(cls.user)

    def test_sidebar(self):
        data = self.Conv.inbox_sidebar()
        self.assertEqual([a["id"] for a in data["accounts"]], [self.account.id])
        account = data["accounts"][0]
        self.assertEqual(account["email"], self.account.email)
        self.assertFalse(account["shared"])
        self.assertFalse(account["paused"])
        self.assertEqual(account["state"], "connected")
        roles = [f["role"] for f in account["folders"]]
        self.assertEqual(roles[:2], ["inbox", "sent"])
        inbox = account["folders"][0]
        unread = self.env["crm.inbox.conversation"].search_count([
            ("account_id", "=", self.account.id), ("is_unread", "=", True)])
        self.assertEqual(account["unread"], unread)
        self.assertGreater(inbox["unread"], 0)
        self.assertEqual(set(data["smart"]), {"assigned", "unassigned", "flagged"})
        self.assertEqual(data["smart"]["assigned"], unread, "personal mail is the owner's")
        self.assertTrue(data["last_sync"].endswith("Z"))
        json.dumps(data)

    def test_list_rows(self):
        data = self.Conv.inbox_list({"account_id": self.account.id}, limit=30)
        self.assertEqual(data["limit"], 30)
        self.assertEqual(len(data["rows"]), 30)
        total = self.env["crm.inbox.conversation"].search_count(
            [("account_id", "=", self.account.id)])
        self.assertEqual(data["total"], total)
        keys = {"id", "subject", "snippet", "counterparts", "count", "date", "unread",
                "flagged", "has_attachment", "account_id", "leads", "assignee", "level"}
        for row in data["rows"]:
            self.assertEqual(set(row), keys)
            self.assertEqual(row["level"], "full")
            self.assertNotIn(self.account.email, row["counterparts"])
        dates = [(r["date"], r["id"]) for r in data["rows"]]
        self.assertEqual(dates, sorted(dates, reverse=True), "newest first")
        t20 = next(r for r in self.Conv.inbox_list({"smart": "all"}, limit=200)["rows"]
                   if r["id"] == self.t20.id)
        self.assertEqual(t20["counterparts"], f"{CUSTOMER}, me")
        self.assertEqual(t20["count"], 20)
        # the snippet is the new text of the last email: no signature, no quote
        self.assertEqual(t20["snippet"], "Message 19 of T20: new text T20-19.")
        self.assertEqual(t20["assignee"], {"id": self.user.id, "name": self.user.name})
        self.assertTrue(any(r["has_attachment"] for r in
                            self.Conv.inbox_list({"smart": "all"}, limit=200)["rows"]))
        json.dumps(data)

    def test_list_scopes(self):
        inbox = self.account._get_folder("\\Inbox")
        in_folder = self.Conv.inbox_list({"folder_id": inbox.id}, limit=200)
        self.assertEqual(in_folder["total"], self.env["crm.inbox.conversation"].search_count(
            [("folder_ids", "in", inbox.ids)]))
        flagged = self.Conv.inbox_list({"smart": "flagged"})
        self.assertTrue(all(r["flagged"] for r in flagged["rows"]))
        self.assertEqual(self.Conv.inbox_list({"smart": "unassigned"})["total"], 0)
        partner = self.env["res.partner"].search([("email", "=", CUSTOMER_EMAIL)], limit=1)
        by_partner = self.Conv.inbox_list({"partner_id": partner.id})
        self.assertIn(self.t20.id, [r["id"] for r in by_partner["rows"]])

    def test_thread(self):
        data = self.Conv.inbox_thread(self.t5.id)
        conv = data["conversation"]
        self.assertEqual(conv["id"], self.t5.id)
        self.assertEqual(conv["level"], "full")
        self.assertTrue(conv["can_send"])
        self.assertEqual(conv["account_id"], self.account.id)
        self.assertEqual({p["email"] for p in conv["partners"]}, {CUSTOMER_EMAIL})
        messages = data["messages"]
        self.assertEqual(len(messages), 5)
        self.assertEqual([m["date"] for m in messages], sorted(m["date"] for m in messages))
        first = messages[0]
        self.assertEqual(first["from"]["email"], CUSTOMER_EMAIL)
        self.assertEqual(first["from"]["name"], CUSTOMER)
        self.assertTrue(first["from"]["partner_id"])
        self.assertEqual(first["direction"], "in")
        self.assertEqual(messages[1]["direction"], "out")
        self.assertTrue(first["is_text"])
        self.assertEqual(first["body_main"], "Message 0 of T5: new text T5-0.")
        self.assertTrue(first["body_quoted"].startswith("-- \nSignature 0"))
        self.assertIn("> older text of T5", first["body_quoted"])
        self.assertEqual(first["snippet"], "Message 0 of T5: new text T5-0.")
        self.assertEqual(first["folder"]["name"], "Inbox")
        json.dumps(data)

    def test_thread_html_goes_through_the_renderer(self):
        html = self.env["crm.inbox.message"].search([
            ("account_id", "=", self.account.id), ("body_html", "ilike", "tracker.example.net")],
            limit=1)
        self.assertTrue(html)
        data = self.Conv.inbox_thread(html.conversation_id.id)
        msg = next(m for m in data["messages"] if m["id"] == html.id)
        self.assertFalse(msg["is_text"])
        self.assertTrue(msg["has_remote_content"])
        self.assertFalse(msg["remote_allowed"])
        self.assertNotIn("tracker.example.net", msg["body_main"] + msg["body_quoted"])
        self.assertNotIn("<script", msg["body_main"] + msg["body_quoted"])
        html.with_user(self.user).action_show_remote_content()
        data = self.Conv.inbox_thread(html.conversation_id.id)
        msg = next(m for m in data["messages"] if m["id"] == html.id)
        self.assertTrue(msg["remote_allowed"])
        self.assertIn("tracker.example.net", msg["body_main"] + msg["body_quoted"])

    def test_thread_attachments(self):
        with_att = self.env["crm.inbox.message"].search([
            ("account_id", "=", self.account.id), ("attachment_count", ">", 0)], limit=1)
        data = self.Conv.inbox_thread(with_att.conversation_id.id)
        msg = next(m for m in data["messages"] if m["id"] == with_att.id)
        self.assertTrue(msg["attachments"])
        for att in msg["attachments"]:
            self.assertEqual(set(att), {"id", "name", "mimetype", "size"})

    def test_search(self):
        def ids(search):
            return {r["id"] for r in self.Conv.inbox_list({"smart": "all"}, search=search,
                                                            limit=200)["rows"]}
        # body text, subject, address, name (any case), two words, no match
        self.assertEqual(ids("T20-13"), {self.t20.id})
        self.assertIn(self.t5.id, ids("pedido t5"))
        self.assertIn(self.t20.id, ids("iberica.example"))
        self.assertIn(self.t20.id, ids("lucía fernández"))
        self.assertEqual(ids("T20-13 T5-1"), set())
        self.assertEqual(ids("no-such-word-anywhere"), set())
        attachment = self.env["ir.attachment"].search([
            ("res_model", "=", "crm.inbox.message"), ("name", "ilike", ".pdf")], limit=1)
        self.assertTrue(attachment)
        message = self.env["crm.inbox.message"].browse(attachment.res_id)
        self.assertIn(message.conversation_id.id, ids(attachment.name))

    def test_constant_query_counts(self):
        """Page 1 and page 5 of the list take as many queries, and so do a 5-email and a
        20-email thread (everything is fetched in bulk)."""
        Conv = self.Conv
        # warm-up: ormcaches (record rules, groups) are filled once per process
        Conv.inbox_thread(self.t5.id)
        Conv.inbox_list({"smart": "all"}, limit=10)
        self.assertGreaterEqual(Conv.inbox_list({"smart": "all"}, limit=10)["total"], 50)
        for scope in ({"smart": "all"}, {"account_id": self.account.id},
                      {"folder_id": self.account._get_folder("\\Inbox").id}):
            counts = []
            for offset in (0, 40):
                self.env.invalidate_all()
                data, queries = count_queries(Conv.inbox_list, scope, offset=offset, limit=10)
                self.assertEqual(len(data["rows"]), 10)
                counts.append(queries)
            self.assertEqual(counts[0], counts[1], f"page 1 vs page 5 of {scope}")
        counts = []
        for conv in (self.t5, self.t20):
            self.env.invalidate_all()
            data, queries = count_queries(Conv.inbox_thread, conv.id)
            counts.append(queries)
        self.assertEqual(counts[0], counts[1], "5-email vs 20-email thread")
        self.env.invalidate_all()
        _data, search_queries = count_queries(Conv.inbox_list, {"smart": "all"}, search="bulk")
        print(f"crm_inbox client RPC queries: thread {counts[1]}, search {search_queries}")
        self.assertLess(counts[1], 25)
