"""Collision warning: presence on a conversation's bus channel, review before sending."""

import json

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged

from .common import CrmInboxCase


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
    """Two sessions on one conversation: the colleague's (HTTP session, presence by
    JSON-RPC) and the user's, in Chromium."""

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
        # the colleague's own session opens the conversation (JSON-RPC over HTTP)
        self.authenticate("crm_inbox_colleague", "crm_inbox_colleague")
        response = self.url_open("/web/dataset/call_kw", data=json.dumps({
            "jsonrpc": "2.0", "method": "call", "params": {
                "model": "crm.inbox.conversation", "method": "inbox_presence",
                "args": [conversation.id, "open"], "kwargs": {}}}),
            headers={"Content-Type": "application/json"})
        self.assertNotIn("error", response.json())
        # the customer's next email waits in Dovecot for the sync the tour runs
        self.dovecot.append(box, "INBOX", (
            f"From: Ann <ann@client.example>\r\nTo: {box}\r\nSubject: Re: Order 1\r\n"
            f"Message-ID: <ui-2@client.example>\r\nIn-Reply-To: <ui-1@client.example>\r\n"
            f"Date: Wed, 18 Nov 2026 08:05:00 +0000\r\n\r\nOne more thing: blue, not red.\r\n"
        ).encode())
        self.smtpd.clear()
        self.start_tour("/odoo/crm-inbox", "crm_inbox_collision_tour", login="crm_inbox_sales",
                        timeout=180)
        self._run_mail_queue(delay=11)
        self.assertEqual(len(self.smtpd.wait_for(1)), 1)
        self.assertEqual(conversation.email_count, 3)
