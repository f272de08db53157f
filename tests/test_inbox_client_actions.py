"""The write side of the inbox client against real Dovecot and aiosmtpd: every action of
``crm.inbox.conversation.inbox_action`` is on the IMAP server afterwards, and the inline
reply box (``crm.inbox.compose.inbox_send``) sends threaded mail filed in Sent."""

import email
from email import policy

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import CrmInboxCase


def _raw(n, to, ref=None):
    headers = (f"From: Lucía Fernández <lucia{n}@iberica.example>\r\nTo: {to}\r\n"
               f"Subject: Pedido {n}\r\nMessage-ID: <client-{n}@iberica.example>\r\n"
               f"Date: Thu, 19 Nov 2026 10:{n:02d}:00 +0000\r\n")
    if ref:
        headers += f"In-Reply-To: {ref}\r\nReferences: {ref}\r\n"
    return (headers + "\r\nBuenos días,\r\n¿Nos confirma la entrega?\r\n").encode()


@tagged("post_install", "-at_install")
class TestInboxClientActions(CrmInboxCase):

    def _account(self, count=2):
        account = self._connect(self._fresh_account())
        for n in range(count):
            self.dovecot.append(account.email, "INBOX", _raw(n, account.email))
        account._sync()
        conversations = self.env["crm.inbox.conversation"].search(
            [("account_id", "=", account.id)], order="id")
        self.assertEqual(len(conversations), count)
        return account, conversations

    def _act(self, conversations, action, value=None, user=None):
        return self.env["crm.inbox.conversation"].with_user(user or self.user).inbox_action(
            conversations.ids, action, value)

    def _flags(self, account, folder="INBOX"):
        return {uid: set(flags) for uid, flags in self.dovecot.flags(account.email, folder).items()}

    def test_read_unread_flag_unflag_reach_the_server(self):
        account, conversations = self._account()
        first = conversations[0]
        uid = first.inbox_message_ids.imap_uid
        self.assertEqual(self._act(first, "read"), {"ok": True})
        self.assertIn("\\Seen", self._flags(account)[uid])
        self.assertFalse(first.is_unread)
        self._act(first, "unread")
        self.assertNotIn("\\Seen", self._flags(account)[uid])
        self.assertTrue(first.is_unread)
        self._act(conversations, "flag")
        self.assertTrue(all("\\Flagged" in f for f in self._flags(account).values()))
        self._act(first, "unflag")
        self.assertNotIn("\\Flagged", self._flags(account)[uid])
        account._sync()
        self.assertEqual((first.is_unread, first.is_flagged, conversations[1].is_flagged),
                         (True, False, True))

    def test_read_restricted_to_the_opened_messages(self):
        account, conversations = self._account(count=1)
        conv = conversations
        self.dovecot.append(account.email, "INBOX",
                            _raw(7, account.email, ref="<client-0@iberica.example>"))
        account._sync()
        self.assertEqual(len(conv.inbox_message_ids), 2)
        newest = conv.inbox_message_ids.sorted("date")[-1]
        self._act(conv, "read", [newest.id])
        self.assertEqual(conv.inbox_message_ids.filtered("is_read"), newest)

    def test_archive_move_delete_reach_the_server(self):
        account, conversations = self._account(count=3)
        first, second, third = conversations
        self._act(first, "archive")
        self.assertEqual(first.inbox_message_ids.folder_id, account._get_folder("\\Archive"))
        self.assertEqual(len(self.dovecot.messages(account.email, "Archive")), 1)
        junk = account._get_folder("\\Junk")
        self._act(second, "move", junk.id)
        self.assertEqual(len(self.dovecot.messages(account.email, junk.name)), 1)
        self.assertEqual(second.inbox_message_ids.folder_id, junk)
        self._act(third, "delete")
        self.assertFalse(third.exists())
        self.assertEqual(len(self.dovecot.messages(account.email, "Trash")), 1)
        self.assertEqual(len(self.dovecot.messages(account.email, "INBOX")), 0)

    def test_move_to_another_mailbox_folder_is_refused(self):
        _account, conversations = self._account(count=1)
        other = self._connect(self._fresh_account())
        with self.assertRaisesRegex(UserError, "belongs to another mailbox"):
            self._act(conversations, "move", other._get_folder("\\Inbox").id)

    def test_assign_and_unassign(self):
        account, conversations = self._account(count=1)
        self._act(conversations, "assign", False)
        self.assertFalse(conversations.user_id)
        self._act(conversations, "assign", self.user.id)
        self.assertEqual(conversations.user_id, self.user)
        # a personal mailbox: a colleague cannot read it, so cannot be assigned
        with self.assertRaisesRegex(UserError, "cannot read the mailbox"):
            self._act(conversations, "assign", self.colleague.id)
        found = self.env["crm.inbox.conversation"].with_user(self.user).inbox_assignees(
            conversations.id)
        self.assertEqual([u["id"] for u in found], [self.user.id])
        self.assertTrue(account)

    def test_unknown_action_and_someone_elses_conversation(self):
        _account, conversations = self._account(count=1)
        with self.assertRaisesRegex(UserError, "Unknown inbox action"):
            self._act(conversations, "explode")
        with self.assertRaises(AccessError):
            self._act(conversations, "flag", user=self.colleague)

    def test_read_level_member_cannot_change_shared_mail(self):
        account, conversations = self._account(count=1)
        reader = new_test_user(self.env, login="crm_inbox_reader", name="Rita Reader",
                               groups="base.group_user,sales_team.group_sale_salesman")
        account.sudo().write({"account_type": "shared", "member_ids": [
            (0, 0, {"user_id": reader.id, "access_level": "read"})]})
        with self.assertRaises(AccessError):
            self._act(conversations, "read", user=reader)
        self.assertNotIn("\\Seen", next(iter(self._flags(account).values())))

    def test_inline_reply_is_threaded_and_filed_in_sent(self):
        account, conversations = self._account(count=1)
        conv = conversations
        parent = conv.inbox_message_ids
        self.env["crm.inbox.signature"].with_user(self.user).create({
            "name": "Sales", "body": "<p>Sam Sales<br>Acme</p>", "is_main": True})
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        defaults = Compose.inbox_reply_defaults(parent.id, "reply")
        self.assertEqual(defaults["subject"], "Re: Pedido 0")
        self.assertIn("lucia0@iberica.example", defaults["to"])
        self.assertIn("Nos confirma la entrega", defaults["quote"])
        self.assertEqual([s["name"] for s in defaults["signatures"]], ["Sales"])
        self.smtpd.clear()
        result = Compose.inbox_send(parent.id, "reply", {
            "to": defaults["to"], "text": "Hola Lucía,\n\nla entrega es el lunes.",
            "signature_id": defaults["signature_id"]})
        self.assertEqual((result["ok"], result["warning"], result["undo_seconds"]),
                         (True, False, 10))
        self._run_mail_queue()
        self.assertFalse(self.smtpd.messages, "nothing leaves during the undo delay")
        self._run_mail_queue(delay=11)
        received = self.smtpd.wait_for(1)[0]
        sent = email.message_from_bytes(received.data, policy=policy.default)
        self.assertEqual(sent["In-Reply-To"], "<client-0@iberica.example>")
        self.assertEqual(sent["References"].split(), ["<client-0@iberica.example>"])
        text = sent.get_body(("plain",)).get_content()
        self.assertIn("la entrega es el lunes.", text)
        self.assertEqual(text.count("--"), 1, "the signature separator appears once")
        self.assertIn("Sam Sales", text)
        self.assertEqual(len(self.dovecot.messages(account.email, "Sent")), 1)
        copy = conv.inbox_message_ids.sorted("date")[-1]
        self.assertEqual((copy.direction, len(conv.inbox_message_ids)), ("out", 2))

    def test_default_odoo_signature_has_one_separator(self):
        _account, conversations = self._account(count=1)
        self.user.signature = "<p>--<br>Sam Sales</p>"
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        parent = conversations.inbox_message_ids
        defaults = Compose.inbox_reply_defaults(parent.id, "reply")
        self.assertEqual(defaults["signature_text"].count("--"), 1)
        body = Compose.with_context(default_parent_id=parent.id, default_mode="reply").default_get(
            ["body"])["body"]
        self.assertEqual(str(body).count("--"), 1)
        with self.assertRaisesRegex(UserError, "Write your reply"):
            Compose.inbox_send(parent.id, "reply", {"text": "  "})
