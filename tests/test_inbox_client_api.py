"""The read RPCs of the mail client: shapes, constant query counts, access levels, bus.

Mail is real: APPENDed to Dovecot and synced; the RPCs are called through the ORM
as each role, and through JSON-RPC (``/web/dataset/call_kw``) for the access checks.
"""

import json
from datetime import UTC, datetime, timedelta

from odoo import sql_db
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, tagged
from odoo.tests.common import JsonRpcException

from ..testkit.demo_mail import demo_mailbox
from .common import CrmInboxCase, MailServersMixin, loopback_servers, start_mail_servers
from .test_security import setup_security_fixture

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
        targets = {f["role"] for f in account["move_targets"]}
        self.assertLessEqual({"inbox", "sent", "archive", "trash"}, targets,
                             "every folder is a move target, synced or not")
        self.assertEqual(set(data["smart"]),
                         {"assigned", "unassigned", "flagged", "waiting", "snoozed"})
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
                "flagged", "has_attachment", "account_id", "leads", "assignee", "level",
                "state", "snoozed_until"}
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
        # the list says whose mail it shows ("with <contact>"); folder lists say nothing
        self.assertEqual(by_partner["scope_label"], partner.display_name)
        self.assertFalse(in_folder["scope_label"])

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
        self.assertIn(self.t20.id, ids("LUCIA fernandez"), "case and accents ignored")
        self.assertEqual(ids("%"), set(), "LIKE wildcards are plain characters")
        self.assertEqual(ids("T20-13 T5-1"), set())
        self.assertEqual(ids("no-such-word-anywhere"), set())
        # a page found among the newest conversations is the page of the whole list
        expected = self.env["crm.inbox.conversation"].with_user(self.user).search(
            [("search_text", "like", "bulk")], order="last_message_date desc, id desc")
        self.assertGreater(len(expected), 20)
        for offset in (0, 10):
            data = self.Conv.inbox_list({"smart": "all"}, search="BULK", offset=offset,
                                        limit=10)
            self.assertEqual([r["id"] for r in data["rows"]],
                             expected[offset:offset + 10].ids)
            self.assertEqual((data["total"], data["total_exact"]), (len(expected), True))
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
        # figures for the test log  # pylint: disable-next=print-used
        print(f"crm_inbox client RPC queries: thread {counts[1]}, search {search_queries}")
        self.assertLess(counts[1], 25)


def _attach(message, name="secret-offer.pdf"):
    """An attachment on *message* (as the sync stores them), summary refreshed."""
    message.env["ir.attachment"].sudo().create({
        "name": name, "raw": b"%PDF-1.4 offer", "mimetype": "application/pdf",
        "res_model": "crm.inbox.message", "res_id": message.id})
    message.sudo().attachment_count = 1
    message.conversation_id._refresh_summary()


@tagged("post_install", "-at_install")
class TestInboxClientAccess(CrmInboxCase):
    """What each role gets from the read RPCs (ORM, as that user)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        setup_security_fixture(cls)
        _attach(cls.p_msg)

    def _conv(self, role):
        return self.env["crm.inbox.conversation"].with_user(self.roles[role])

    def test_owner_reads_in_full(self):
        Conv = self._conv("owner")
        rows = {r["id"]: r for r in Conv.inbox_list({"smart": "all"})["rows"]}
        self.assertEqual(set(rows), {self.p_conv.id})
        row = rows[self.p_conv.id]
        self.assertEqual(row["level"], "full")
        self.assertIn("PERSONAL-BODY-TEXT", row["snippet"])
        self.assertTrue(row["has_attachment"])
        self.assertEqual(row["counterparts"], "Greta Green")
        thread = Conv.inbox_thread(self.p_conv.id)
        self.assertIn("PERSONAL-BODY-TEXT", thread["messages"][0]["body_main"])
        self.assertEqual([a["name"] for a in thread["messages"][0]["attachments"]],
                         ["secret-offer.pdf"])
        self.assertTrue(thread["conversation"]["can_send"])
        sidebar = Conv.inbox_sidebar()
        self.assertEqual([a["id"] for a in sidebar["accounts"]], [self.personal.id])

    def test_shared_members(self):
        for role, can_send in (("member_read", False), ("member_reply", True),
                               ("member_group", True), ("member_manage", True),
                               ("inbox_admin", True)):
            with self.subTest(role=role):
                Conv = self._conv(role)
                ids = [r["id"] for r in Conv.inbox_list({"smart": "all"})["rows"]]
                self.assertEqual(ids, [self.s_conv.id], "the shared inbox only")
                thread = Conv.inbox_thread(self.s_conv.id)
                self.assertEqual(thread["conversation"]["level"], "full")
                self.assertEqual(thread["conversation"]["can_send"], can_send)
                self.assertIn("SHARED-BODY-TEXT", thread["messages"][0]["body_main"])
                accounts = [a["id"] for a in Conv.inbox_sidebar()["accounts"]]
                self.assertEqual(accounts, [self.shared.id], "no personal mailbox of others")
                # others' personal mail: only through the contact, at its level
                other = Conv.inbox_thread(self.p_conv.id)
                self.assertEqual(other["conversation"]["level"], "metadata")
                self.assertNotIn("PERSONAL-BODY-TEXT", json.dumps(other))

    def test_colleague_at_metadata_level(self):
        """Through the contact, another user's personal mail at level metadata: subject,
        date and addresses; no snippet, no body, no attachment."""
        self.assertEqual(self.personal.contact_visibility, "metadata")
        Conv = self._conv("other")
        self.assertEqual(Conv.inbox_list({"smart": "all"})["rows"], [])
        rows = {r["id"]: r for r in Conv.inbox_list({"partner_id": self.greta.id})["rows"]}
        self.assertEqual(set(rows), {self.p_conv.id, self.s_conv.id})
        meta = rows[self.p_conv.id]
        self.assertEqual((meta["level"], meta["subject"], meta["snippet"]),
                         ("metadata", "Private offer", ""))
        self.assertFalse(meta["has_attachment"])
        self.assertEqual(rows[self.s_conv.id]["level"], "full")
        thread = Conv.inbox_thread(self.p_conv.id)
        self.assertEqual(thread["conversation"]["level"], "metadata")
        self.assertFalse(thread["conversation"]["can_send"])
        msg = thread["messages"][0]
        self.assertEqual((msg["body_main"], msg["body_quoted"], msg["snippet"],
                          msg["attachments"]), ("", "", "", []))
        self.assertEqual(msg["from"]["email"], "greta@client.example")
        dump = json.dumps([rows, thread])
        self.assertNotIn("PERSONAL-BODY-TEXT", dump)
        self.assertNotIn("secret-offer", dump)
        # the shared inbox's mail through the contact, at level full: the text, but
        # neither sending nor attachments (the user may not open the message itself)
        shared = Conv.inbox_thread(self.s_conv.id)
        self.assertEqual(shared["conversation"]["level"], "full")
        self.assertFalse(shared["conversation"]["can_send"])
        self.assertIn("SHARED-BODY-TEXT", shared["messages"][0]["body_main"])
        self.assertEqual(shared["messages"][0]["attachments"], [])
        # the lead scope says the same
        lead_rows = Conv.inbox_list({"lead_id": self.lead.id})["rows"]
        self.assertIn(self.p_conv.id, [r["id"] for r in lead_rows])
        self.assertNotIn("PERSONAL-BODY-TEXT", json.dumps(lead_rows))
        # a search does not look into bodies the user may not read; subjects it does
        found = Conv.inbox_list({"partner_id": self.greta.id}, search="PERSONAL-BODY-TEXT")
        self.assertEqual(found["rows"], [])
        found = Conv.inbox_list({"partner_id": self.greta.id}, search="private OFFER")
        self.assertEqual([r["id"] for r in found["rows"]], [self.p_conv.id])
        found = Conv.inbox_list({"partner_id": self.greta.id}, search="shared-body")
        self.assertEqual([r["id"] for r in found["rows"]], [self.s_conv.id], "level full")

    def test_no_access_gets_nothing(self):
        self.personal.with_user(self.owner).contact_visibility = "none"
        Conv = self._conv("other")
        ids = [r["id"] for r in Conv.inbox_list({"partner_id": self.greta.id})["rows"]]
        self.assertEqual(ids, [self.s_conv.id])
        with self.assertRaises(AccessError):
            Conv.inbox_thread(self.p_conv.id)
        self.assertEqual(Conv.inbox_sidebar()["accounts"], [])
        # another company: nothing, even through the contact
        Foreign = self._conv("other_company")
        self.assertEqual(Foreign.inbox_list({"partner_id": self.greta.id})["rows"], [])
        self.assertEqual(Foreign.inbox_list({"smart": "all"})["rows"], [])
        for conv in (self.p_conv, self.s_conv):
            with self.assertRaises(AccessError):
                Foreign.inbox_thread(conv.id)
        # portal users: refused
        Portal = self._conv("portal")
        for call in (lambda: Portal.inbox_sidebar(), lambda: Portal.inbox_list({"smart": "all"}),
                     lambda: Portal.inbox_thread(self.s_conv.id)):
            with self.assertRaises(AccessError):
                call()

    def test_contact_scope_needs_the_contact(self):
        private_lead = self.env["crm.lead"].create({
            "name": "Not yours", "user_id": self.owner.id, "partner_id": self.greta.id,
            "type": "opportunity"})
        rule_restricted = self.env.ref("crm.crm_rule_personal_lead", raise_if_not_found=False)
        if rule_restricted:  # salesmen see only their own leads
            with self.assertRaises(AccessError):
                self._conv("other").inbox_list({"lead_id": private_lead.id})

    def test_sync_notifies_readers_on_the_bus(self):
        """A sync that stores mail sends crm_inbox/new_mail to every reader of the
        account (members), and to nobody else."""
        Bus = self.env["bus.bus"].sudo()
        self.env.cr.precommit.run()  # the fixture's own syncs
        Bus.search([]).unlink()
        raw = (b"From: Greta Green <greta@client.example>\r\nTo: support@example.com\r\n"
               b"Subject: Another ticket\r\nMessage-ID: <bus-test@client.example>\r\n"
               b"Date: Wed, 18 Nov 2026 09:00:00 +0000\r\n\r\nNew ticket body\r\n")
        self.dovecot.append("support@example.com", "INBOX", raw)
        self.assertEqual(self.shared._sync(), 1)
        self.env.cr.precommit.run()  # what the commit of the batch does
        new_conv = self.env["crm.inbox.message"].search(
            [("subject", "=", "Another ticket")]).conversation_id
        self.assertTrue(new_conv)

        def notified(user):
            channel = json.dumps([self.env.cr.dbname, "res.partner", user.partner_id.id],
                                 separators=(",", ":"))
            rows = Bus.search([("channel", "=", channel)])
            return [json.loads(r.message) for r in rows
                    if json.loads(r.message)["type"] == "crm_inbox/new_mail"]

        for role in ("member_read", "member_reply", "member_group", "member_manage",
                     "inbox_admin"):
            messages = notified(self.roles[role])
            self.assertEqual(len(messages), 1, role)
            self.assertEqual(messages[0]["payload"], {
                "account_id": self.shared.id, "conversation_ids": new_conv.ids})
        for role in ("owner", "other", "portal", "other_company"):
            self.assertEqual(notified(self.roles[role]), [], role)
        # a sync that stores nothing notifies nobody
        Bus.search([]).unlink()
        self.assertEqual(self.shared._sync(), 0)
        self.env.cr.precommit.run()
        self.assertFalse(Bus.search([]).filtered(lambda r: "crm_inbox/new_mail" in r.message))


@tagged("post_install", "-at_install")
class TestInboxClientRpc(HttpCase):
    """The same levels through real JSON-RPC calls."""

    _create_account = MailServersMixin.__dict__["_create_account"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        start_mail_servers(cls, {})
        cls.user = cls.env.user
        loopback_servers(cls)
        setup_security_fixture(cls)
        _attach(cls.p_msg)

    def _call(self, role, method, *args, **kwargs):
        user = self.roles[role]
        self.authenticate(user.login, user.login)
        return self.make_jsonrpc_request("/web/dataset/call_kw", {
            "model": "crm.inbox.conversation", "method": method, "args": list(args),
            "kwargs": kwargs})

    def test_rpc_levels(self):
        own = self._call("owner", "inbox_thread", self.p_conv.id)
        self.assertIn("PERSONAL-BODY-TEXT", json.dumps(own))
        rows = self._call("other", "inbox_list", {"partner_id": self.greta.id})
        thread = self._call("other", "inbox_thread", self.p_conv.id)
        self.assertEqual(thread["conversation"]["level"], "metadata")
        self.assertEqual(thread["messages"][0]["attachments"], [])
        dump = json.dumps([rows, thread])
        self.assertNotIn("PERSONAL-BODY-TEXT", dump)
        self.assertNotIn("secret-offer", dump)
        self.assertEqual(self._call("other", "inbox_list", {"smart": "all"})["rows"], [])
        self.personal.with_user(self.owner).contact_visibility = "none"
        for role in ("other", "other_company", "portal"):
            with self.subTest(role=role), self.assertRaises(JsonRpcException):
                self._call(role, "inbox_thread", self.p_conv.id)
        rows = self._call("other", "inbox_list", {"partner_id": self.greta.id})["rows"]
        self.assertNotIn(self.p_conv.id, [r["id"] for r in rows])
        with self.assertRaises(JsonRpcException):
            self._call("portal", "inbox_list", {"smart": "all"})
