from odoo.tests import tagged

from .common import CrmInboxCase


def _raw(n, to):
    return (f"From: Client {n} <client{n}@client.example>\r\nTo: {to}\r\n"
            f"Subject: Message {n}\r\nMessage-ID: <two-way-{n}@client.example>\r\n"
            f"Date: Thu, 19 Nov 2026 10:{n:02d}:00 +0000\r\n\r\nBody {n}\r\n").encode()


@tagged("post_install", "-at_install")
class TestTwoWay(CrmInboxCase):

    def _account(self, count=3):
        account = self._connect(self._fresh_account())
        for n in range(count):
            self.dovecot.append(account.email, "INBOX", _raw(n, account.email))
        account._sync()
        messages = self.env["crm.inbox.message"].search(
            [("account_id", "=", account.id)], order="imap_uid")
        self.assertEqual(len(messages), count)
        return account, messages

    def _server_flags(self, account, folder="INBOX"):
        return {uid: set(flags) for uid, flags in self.dovecot.flags(account.email, folder).items()}

    def test_read_and_flag_in_odoo_are_written_to_the_server(self):
        account, messages = self._account()
        first = messages[0].with_user(self.user)
        first.action_mark_read()
        first.action_flag()
        flags = self._server_flags(account)[first.imap_uid]
        self.assertTrue({"\\Seen", "\\Flagged"} <= flags)
        first.action_mark_unread()
        self.assertNotIn("\\Seen", self._server_flags(account)[first.imap_uid])
        account._sync()
        self.assertFalse(first.is_read)
        self.assertTrue(first.is_flagged)

    def test_changes_by_another_client_are_mirrored(self):
        account, messages = self._account()
        first, second, third = messages
        self.dovecot.set_flags(account.email, "INBOX", [first.imap_uid], ["\\Seen", "\\Flagged"])
        self.dovecot.expunge(account.email, "INBOX", [second.imap_uid])
        self.dovecot.move(account.email, "INBOX", [third.imap_uid], "Archive")
        account._sync()
        self.assertTrue(first.is_read and first.is_flagged)
        self.assertFalse(second.exists(), "expunged on the server, gone in Odoo")
        self.assertFalse(third.exists(), "moved to a folder that is not synced")
        archive = account._get_folder("\\Archive")
        archive.sync_enabled = True
        account._sync()
        moved = self.env["crm.inbox.message"].search([("folder_id", "=", archive.id)])
        self.assertEqual(moved.message_id, "<two-way-2@client.example>")
        self.assertEqual(self.env["crm.inbox.message"].search_count(
            [("account_id", "=", account.id)]), 2)

    def test_no_change_resync_uses_highestmodseq(self):
        account, _messages = self._account()
        inbox = account._get_folder("\\Inbox")
        self.assertTrue(inbox.highest_modseq or account._sync() == 0)
        account._sync()
        modseq = inbox.highest_modseq
        self.assertTrue(modseq, "Dovecot offers CONDSTORE")
        self.assertEqual(account._sync(), 0)
        self.assertEqual(inbox.highest_modseq, modseq)

    def test_move_archive_and_delete_from_odoo(self):
        account, messages = self._account()
        first, second, third = messages.with_user(self.user)
        first.action_archive_mail()
        self.assertEqual(first.folder_id, account._get_folder("\\Archive"))
        archived = self.dovecot.messages(account.email, "Archive")
        self.assertEqual(len(archived), 1)
        self.assertIn(b"two-way-0", next(iter(archived.values())))
        self.assertEqual(first.imap_uid, next(iter(archived)))
        second.action_delete_mail()
        self.assertFalse(second.exists())
        self.assertEqual(len(self.dovecot.messages(account.email, "Trash")), 1)
        # Trash synced later: the deleted message is not imported again (tombstone)
        trash = account._get_folder("\\Trash")
        trash.write({"sync_enabled": True})
        account._sync()
        self.dovecot.append(account.email, "Trash", _raw(1, account.email))
        account._sync()
        self.assertFalse(self.env["crm.inbox.message"].search(
            [("message_id", "=", "<two-way-1@client.example>")]))
        self.assertEqual(len(self.dovecot.messages(account.email, "INBOX")), 1)
        self.assertTrue(third.exists())
