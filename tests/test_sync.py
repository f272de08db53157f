import time

from odoo import fields, sql_db
from odoo.tests import tagged

from ..testkit.demo_mail import demo_mailbox
from .common import CrmInboxCase


@tagged("post_install", "-at_install")
class TestSync(CrmInboxCase):

    def _synced_demo(self, count=200):
        account = self._connect(self._fresh_account())
        demo = demo_mailbox(owner=account.email, count=count)
        for message in demo:
            self.dovecot.append(account.email, message.folder, message.raw, message.flags,
                                message.msg_time)
        return account, demo

    def test_demo_mailbox_syncs_exactly_once(self):
        """200 varied messages sync to exactly 200 rows; a second sync adds none;
        the server's \\Seen flags are untouched."""
        account, _demo = self._synced_demo(200)
        before = {f: self.dovecot.flags(account.email, f) for f in ("INBOX", "Sent")}
        queries = sql_db.sql_counter
        started = time.perf_counter()
        new = account._sync()
        elapsed = time.perf_counter() - started
        queries = sql_db.sql_counter - queries
        Message = self.env["crm.inbox.message"]
        self.assertEqual(new, 200)
        self.assertEqual(Message.search_count([("account_id", "=", account.id)]), 200)
        self.assertEqual(account.state, "connected", account.last_error)
        self.assertEqual(account._sync(), 0, "a second sync adds nothing")
        self.assertEqual(Message.search_count([("account_id", "=", account.id)]), 200)
        after = {f: self.dovecot.flags(account.email, f) for f in ("INBOX", "Sent")}
        self.assertEqual(before, after, "syncing must not change server flags")
        # what the server says is read is read in Odoo, and only that
        seen = sum("\\Seen" in flags for folder in after.values() for flags in folder.values())
        self.assertEqual(Message.search_count([("account_id", "=", account.id),
                                               ("is_read", "=", True)]), seen)
        # the malformed one is stored raw with a warning
        malformed = Message.search([("account_id", "=", account.id), ("is_malformed", "=", True)])
        self.assertTrue(malformed)
        self.assertTrue(malformed.attachment_ids.filtered(lambda a: a.name.endswith(".eml")))
        # threads: fewer conversations than messages, every message threaded
        conversations = self.env["crm.inbox.conversation"].search([("account_id", "=", account.id)])
        self.assertLess(len(conversations), 200)
        self.assertFalse(Message.search_count([("account_id", "=", account.id),
                                               ("conversation_id", "=", False)]))
        # attachments stored as ir.attachment
        self.assertTrue(Message.search_count([("account_id", "=", account.id),
                                              ("attachment_count", ">", 0)]))
        # figures for the test log  # pylint: disable-next=print-used
        print(f"crm_inbox: first sync of {new} demo messages took {elapsed:.2f} s "
              f"({new / elapsed:.0f} messages/s, {queries / new:.1f} SQL queries/message)")

    def test_html_is_sanitized_and_remote_images_blocked(self):
        account, _demo = self._synced_demo(60)
        account._sync()
        messages = self.env["crm.inbox.message"].search([
            ("account_id", "=", account.id), ("body_html", "ilike", "tracker.example.net")])
        self.assertTrue(messages, "the demo has HTML mail with a remote image")
        for message in messages:
            self.assertNotIn("<script", message.body_html or "")
            self.assertNotRegex(message.body_display, r'\ssrc="https://tracker')
            self.assertTrue(message.has_remote_content)
        message = messages[0]
        message.action_show_remote_content()
        self.assertIn("tracker.example.net", message.body_display)

    def test_uidvalidity_change_resyncs_without_duplicates(self):
        account, _demo = self._synced_demo(30)
        account._sync()
        Message = self.env["crm.inbox.message"]
        count = Message.search_count([("account_id", "=", account.id)])
        inbox = account._get_folder("\\Inbox")
        old = inbox.uidvalidity
        self.dovecot.reset_uidvalidity(account.email, "INBOX")
        account._sync()
        self.assertNotEqual(inbox.uidvalidity, old)
        self.assertEqual(Message.search_count([("account_id", "=", account.id)]), count)
        self.assertFalse(Message.search_count([("folder_id", "=", inbox.id),
                                               ("uidvalidity", "!=", inbox.uidvalidity)]))

    def test_new_mail_is_synced_incrementally(self):
        account, _demo = self._synced_demo(10)
        account._sync()
        raw = (b"From: Ann <ann@client.example>\r\nTo: " + account.email.encode() +
               b"\r\nSubject: Follow-up\r\nMessage-ID: <follow-up-1@client.example>\r\n"
               b"Date: Mon, 16 Nov 2026 10:00:00 +0000\r\n\r\nAny news?\r\n")
        self.dovecot.append(account.email, "INBOX", raw)
        self.assertEqual(account._sync(), 1)
        message = self.env["crm.inbox.message"].search(
            [("message_id", "=", "<follow-up-1@client.example>")])
        self.assertEqual(message.author_id.email, "ann@client.example")
        self.assertFalse(message.is_read)

    def test_automatic_mail_is_marked_at_sync(self):
        account, _demo = self._synced_demo(5)
        account._sync()
        head = (b"From: Ann <ann@client.example>\r\nTo: " + account.email.encode() +
                b"\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n")
        self.dovecot.append(account.email, "INBOX", head + (
            b"Subject: Out of office\r\nMessage-ID: <ooo-1@client.example>\r\n"
            b"Auto-Submitted: auto-replied\r\n\r\nI am away.\r\n"))
        self.dovecot.append(account.email, "INBOX", head + (
            b"Subject: Real answer\r\nMessage-ID: <real-1@client.example>\r\n"
            b"Auto-Submitted: no\r\n\r\nYes.\r\n"))
        self.assertEqual(account._sync(), 2)
        Message = self.env["crm.inbox.message"]
        self.assertEqual(Message.search(
            [("message_id", "=", "<ooo-1@client.example>")]).automatic_kind, "auto_reply")
        self.assertFalse(Message.search(
            [("message_id", "=", "<real-1@client.example>")]).automatic_kind)

    def test_trash_and_junk_skip_history_on_first_sync(self):
        account = self._connect(self._fresh_account())
        trash = account._get_folder("\\Trash")
        self.assertTrue(trash and not trash.sync_enabled, "Trash is listed, off by default")
        inbox = account._get_folder("\\Inbox")
        self.assertTrue(inbox.sync_enabled and account._get_folder("\\Sent").sync_enabled)
        raw = (b"From: spam@bad.example\r\nSubject: old trash\r\nMessage-ID: <t1@bad.example>"
               b"\r\n\r\nx\r\n")
        self.dovecot.append(account.email, trash.name, raw)
        trash.sync_enabled = True
        account._sync()
        Message = self.env["crm.inbox.message"]
        self.assertFalse(Message.search_count([("folder_id", "=", trash.id)]),
                         "old Trash content is not imported")
        self.dovecot.append(account.email, trash.name, raw.replace(b"t1@", b"t2@"))
        account._sync()
        self.assertEqual(Message.search_count([("folder_id", "=", trash.id)]), 1,
                         "new Trash content is")

    def test_concurrent_sync_is_refused_by_the_lease(self):
        account = self._connect(self._fresh_account())
        token = account._acquire_lease()
        self.assertTrue(token)
        self.assertIsNone(account._acquire_lease(), "a second run must not start")
        self.assertEqual(account._sync(), 0)
        account._release_lease(token)
        self.assertTrue(account._acquire_lease())

    def test_cron_survives_a_failing_account(self):
        good, _demo = self._synced_demo(5)
        bad = self._connect(self._fresh_account())
        self.dovecot.set_password(bad.email, "changed-on-the-server")
        self.env["crm.inbox.account"]._cron_sync_accounts()
        self.assertEqual(bad.state, "auth_failed")
        self.assertIn("rejected", bad.last_error)
        self.assertTrue(bad.activity_ids, "the owner gets an activity")
        self.assertEqual(good.state, "connected")
        self.assertEqual(good.message_count, 5)
        # the paused account is not retried by the cron
        self.env["crm.inbox.account"]._cron_sync_accounts()
        self.assertEqual(len(bad.activity_ids), 1)

    def test_same_message_in_two_accounts_is_kept_for_each(self):
        raw = (b"From: Zed <zed@client.example>\r\nTo: a@example.com, b@example.com\r\n"
               b"Subject: Both\r\nMessage-ID: <both-1@client.example>\r\n\r\nhello\r\n")
        first = self._connect(self._fresh_account())
        second = self._connect(self._fresh_account(user=self.colleague))
        for account in (first, second):
            self.dovecot.append(account.email, "INBOX", raw)
            account._sync()
        copies = self.env["crm.inbox.message"].sudo().search(
            [("message_id", "=", "<both-1@client.example>")])
        self.assertEqual(copies.account_id, first | second)

    def test_cron_respects_each_account_sync_interval(self):
        account, _demo = self._synced_demo(3)
        account._sync()
        account.sync_interval = 60
        raw = (b"From: x@client.example\r\nSubject: later\r\nMessage-ID: <later@client.example>"
               b"\r\n\r\nx\r\n")
        self.dovecot.append(account.email, "INBOX", raw)
        self.env["crm.inbox.account"]._cron_sync_accounts()
        self.assertEqual(account.message_count, 3, "synced less than 60 minutes ago: not due")
        # due: what the scheduler reads is the next attempt (models/crm_inbox_account_runner.py)
        account.sudo().sync_next_attempt = fields.Datetime.subtract(fields.Datetime.now(), hours=1)
        self.env["crm.inbox.account"]._cron_sync_accounts()
        account.invalidate_recordset(["message_count"])
        self.assertEqual(account.message_count, 4)

    def test_sync_now_is_bounded_and_the_rest_goes_to_the_background(self):
        account, _demo = self._synced_demo(120)
        self.env["ir.config_parameter"].sudo().set_param("crm_inbox.sync_now_time_budget", "0.001")
        result = account.with_user(self.user).action_sync_now()
        self.assertIn("background", result["params"]["message"])
        Message = self.env["crm.inbox.message"]
        partial = Message.search_count([("account_id", "=", account.id)])
        self.assertLess(partial, 120)
        self.assertFalse(account.sudo()._get_folder("\\Inbox").sync_complete)
        account._sync()
        self.assertEqual(Message.search_count([("account_id", "=", account.id)]), 120)
