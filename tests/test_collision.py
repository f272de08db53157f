"""Collision warning: presence on a conversation's bus channel, review before sending."""

import threading

import odoo.http
from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import TEST_CURSOR_COOKIE_NAME

from ..testkit.chromium import ChromiumError, HeadlessChromium
from .common import CrmInboxCase

ROW = ".o_crm_inbox_list .o_crm_inbox_row"
REPLY_BUTTON = ".o_crm_inbox_toolbar .o_crm_inbox_reply"


@tagged("post_install", "-at_install")
class TestCollisionWarning(CrmInboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = new_test_user(
            cls.env, login="coll_admin", name="Cora Admin",
            groups="base.group_user,crm_inbox.group_crm_inbox_manager")
        cls.outsider = new_test_user(cls.env, login="coll_out", name="Otto Outsider",
                                     groups="base.group_user")

    def _shared(self):
        account = self._connect(self._fresh_account(
            user=self.admin, account_type="shared", member_ids=[
                Command.create({"user_id": self.user.id, "access_level": "reply"}),
                Command.create({"user_id": self.colleague.id, "access_level": "reply"})]))
        self._mail(account, 1)
        account._sync()
        conversation = self.env["crm.inbox.conversation"].search([("account_id", "=", account.id)])
        return account, conversation

    def _mail(self, account, n, reply_to=None):
        refs = f"In-Reply-To: {reply_to}\r\n" if reply_to else ""
        self.dovecot.append(account.email, "INBOX", (
            f"From: Ann <ann@client.example>\r\nTo: {account.email}\r\nSubject: Order {n}\r\n"
            f"Message-ID: <coll{n}-{account.id}@client.example>\r\n{refs}"
            f"Date: Wed, 18 Nov 2026 08:0{n}:00 +0000\r\n\r\nMessage {n}.\r\n").encode())

    def test_members_see_each_other_on_the_bus_channel(self):
        _account, conversation = self._shared()
        Conv = self.env["crm.inbox.conversation"]
        self.env["bus.bus"].search([]).unlink()
        first = Conv.with_user(self.user).inbox_presence(conversation.id, "open")
        self.assertEqual(first["viewers"], [])
        second = Conv.with_user(self.colleague).inbox_presence(conversation.id, "open")
        self.assertEqual(second["viewers"], [{"id": self.user.id, "name": "Sam Sales",
                                              "state": "open"}])
        Conv.with_user(self.user).inbox_presence(conversation.id, "compose")
        # what the bus sent on the conversation's channel, last
        self.env.cr.precommit.run()
        notes = self.env["bus.bus"].search([("channel", "like", "crm.inbox.conversation")],
                                           order="id")
        self.assertTrue(notes)
        self.assertIn(f'{{"id":{self.user.id},"name":"Sam Sales","state":"compose"}}',
                      notes[-1].message)
        self.assertEqual(Conv.with_user(self.colleague).inbox_presence(
            conversation.id, "ping")["viewers"][0]["state"], "compose")
        Conv.with_user(self.user).inbox_presence(conversation.id, "close")
        self.assertEqual(Conv.with_user(self.colleague).inbox_presence(
            conversation.id, "ping")["viewers"], [])

    def test_bus_channel_needs_read_access(self):
        _account, conversation = self._shared()
        channel = f"crm_inbox_conversation:{conversation.id}"
        ws = self.env["ir.websocket"]
        channels = ws.with_user(self.colleague)._crm_inbox_conversation_channels(
            [channel, "other", ("x", 1)])
        self.assertEqual(channels, [conversation])
        with self.assertRaises(AccessError):
            ws.with_user(self.outsider)._crm_inbox_conversation_channels([channel])
        with self.assertRaises(AccessError):
            self.env["crm.inbox.conversation"].with_user(self.outsider).inbox_presence(
                conversation.id, "open")

    def test_send_after_a_newer_message_asks_for_a_review(self):
        account, conversation = self._shared()
        Conv = self.env["crm.inbox.conversation"].with_user(self.user)
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        parent = conversation.inbox_message_ids
        Conv.inbox_presence(conversation.id, "open")
        self.assertEqual(Conv.inbox_send_review(parent.id), [])
        # the customer writes again while the reply is being written
        self._mail(account, 2, reply_to=parent.message_id)
        account._sync()
        news = Conv.inbox_send_review(parent.id)
        self.assertEqual([n["snippet"] for n in news], ["Message 2."])
        self.smtpd.clear()
        with self.assertRaises(UserError):
            Compose.inbox_send(parent.id, "reply", {"text": "Sure."})
        self.assertEqual(self.smtpd.messages, [], "nothing sent before the review")
        # reviewed: it goes
        Conv.inbox_send_review_done(parent.id)
        Compose.inbox_send(parent.id, "reply", {"text": "Sure."})
        self._run_mail_queue(delay=11)
        self.assertEqual(len(self.smtpd.wait_for(1)), 1)
        # our own reply is not news to us
        self.assertEqual(Conv.inbox_send_review(parent.id), [])

    def test_a_reply_from_another_mail_client_asks_for_a_review(self):
        account, conversation = self._shared()
        parent = conversation.inbox_message_ids
        Conv = self.env["crm.inbox.conversation"].with_user(self.colleague)
        Conv.inbox_presence(conversation.id, "open")
        # someone answered from Thunderbird: the copy in Sent, seen by the sync
        self.dovecot.append(account.email, "Sent", (
            f"From: {account.email}\r\nTo: ann@client.example\r\nSubject: Re: Order 1\r\n"
            f"Message-ID: <tb-1@example.com>\r\nIn-Reply-To: {parent.message_id}\r\n"
            f"Date: Wed, 18 Nov 2026 09:00:00 +0000\r\n\r\nDone already.\r\n").encode(),
            ("\\Seen",))
        account._sync()
        news = Conv.inbox_send_review(parent.id)
        self.assertEqual([(n["direction"], n["snippet"]) for n in news],
                         [("out", "Done already.")])


@tagged("post_install", "-at_install")
class TestCollisionUi(HttpCase, CrmInboxCase):
    """Two members in two real headless Chromium sessions on one conversation: the
    colleague's browser (testkit.chromium, driven over the DevTools protocol from a
    thread) and the user's, running the tour; each sees the other in the reading pane.

    Websockets are off under ``HttpCase`` (``ir.websocket`` refuses them during tests),
    so each client learns who else is there from the answer to its own presence call:
    at open, then at each 30 s ping; the waits below allow for two pings."""

    def _colleague_session(self):
        """A session of the colleague that the tour's own login does not delete."""
        session = self.authenticate("crm_inbox_colleague", "crm_inbox_colleague")
        self.session = None  # authenticate() deletes the previous session: keep this one
        self.addCleanup(odoo.http.root.session_store.delete, session)
        return session

    def test_presence_and_review_before_send(self):
        admin = new_test_user(self.env, login="coll_ui_admin", name="Uma Admin",
                              groups="base.group_user,crm_inbox.group_crm_inbox_manager")
        account = self._connect(self._fresh_account(
            user=admin, name="Team mailbox", account_type="shared", member_ids=[
                Command.create({"user_id": self.user.id, "access_level": "manage"}),
                Command.create({"user_id": self.colleague.id, "access_level": "reply"})]))
        box = account.email
        self.dovecot.append(box, "INBOX", (
            f"From: Ann <ann@client.example>\r\nTo: {box}\r\nSubject: Order 1\r\n"
            f"Message-ID: <ui-1@client.example>\r\nDate: Wed, 18 Nov 2026 08:00:00 +0000"
            f"\r\n\r\nPlease confirm order 1.\r\n").encode())
        account._sync()
        conversation = self.env["crm.inbox.conversation"].search([("account_id", "=", account.id)])
        # the customer's next email waits in Dovecot for the sync the tour runs
        self.dovecot.append(box, "INBOX", (
            f"From: Ann <ann@client.example>\r\nTo: {box}\r\nSubject: Re: Order 1\r\n"
            f"Message-ID: <ui-2@client.example>\r\nIn-Reply-To: <ui-1@client.example>\r\n"
            f"Date: Wed, 18 Nov 2026 08:05:00 +0000\r\n\r\nOne more thing: blue, not red.\r\n"
        ).encode())
        self.smtpd.clear()
        session = self._colleague_session()
        # requests of both browsers carry the key start_tour() requires during the tour
        self.http_request_key = self.canonical_tag + "_browser_js"
        self.cr.flush()
        self.cr.clear()
        chrome = HeadlessChromium(ports=range(9411, 9420))
        self.addCleanup(chrome.stop)
        chrome.start()
        # the colleague opens the conversation in their browser
        chrome.open(self.base_url() + "/odoo/crm-inbox", cookies={
            "session_id": session.sid, TEST_CURSOR_COOKIE_NAME: self.http_request_key})
        # (clicked again until the reading pane shows: the first click may come
        # before the client is ready)
        chrome.wait_for(f"!!document.querySelector({REPLY_BUTTON!r}) || void "
                        f"[...document.querySelectorAll({ROW!r})]"
                        ".find((r) => r.textContent.includes('Order 1'))?.click()",
                        timeout=120, interval=1)
        seen = {}

        def colleague():
            """The colleague's side, while the tour runs: Sam Sales shows up in their
            reading pane, then they start a reply too (the tour waits to see that)."""
            try:
                seen["title"] = chrome.wait_for(
                    "[...document.querySelectorAll('.o_crm_inbox_viewer')]"
                    ".map((v) => v.title).find((t) => t.includes('Sam Sales')) || ''",
                    timeout=150, interval=0.5)
                chrome.evaluate(f"document.querySelector({REPLY_BUTTON!r}).click(), true")
                seen["composing"] = chrome.wait_for(
                    "!!document.querySelector('.o_crm_inbox_composer')", timeout=30)
            except ChromiumError as error:
                seen["error"] = str(error)

        watcher = threading.Thread(target=colleague, name="colleague-chromium", daemon=True)
        watcher.start()
        try:
            self.start_tour("/odoo/crm-inbox", "crm_inbox_collision_tour",
                            login="crm_inbox_sales", timeout=400)
            watcher.join(timeout=60)  # done already: the tour saw the colleague's reply
        finally:
            chrome.stop()  # a wait still running in the thread ends with an error
            watcher.join(timeout=10)
        self.assertNotIn("error", seen, f"the colleague's browser: {chrome.exceptions}")
        self.assertIn(seen.get("title"), ("Sam Sales is reading this conversation",
                                          "Sam Sales is writing a reply"))
        self.assertTrue(seen.get("composing"))
        self._run_mail_queue(delay=11)
        self.assertEqual(len(self.smtpd.wait_for(1)), 1)
        self.assertEqual(conversation.email_count, 3)
