"""Errors keep their scope: a folder gone ends that folder, not the account; an account
with nothing listed lists its folders; contacts with non-ASCII addresses match."""

import time

from odoo.tests import tagged

from .common import CrmInboxCase


def _raw(n, sender=b"client@example.org", to=b"box@example.com"):
    return (b"From: " + sender + b"\r\nTo: " + to + b"\r\nSubject: Note %d\r\n"
            b"Message-ID: <scope-%d@example.org>\r\n"
            b"Date: Wed, 18 Nov 2026 08:00:00 +0000\r\n\r\nHello.\r\n") % (n, n)


@tagged("post_install", "-at_install")
class TestSyncScopes(CrmInboxCase):

    def test_folder_deleted_on_server_leaves_other_folders_syncing(self):
        account = self._fresh_account()
        self.dovecot.create_folder(account.email, "Projects")
        self.dovecot.append(account.email, "Projects", _raw(1))
        self._connect(account)
        projects = account.folder_ids.filtered(lambda f: f.name == "Projects")
        projects.sync_enabled = True
        account._sync()
        self.assertEqual(projects.message_count, 1)
        self.dovecot.delete_folder(account.email, "Projects")
        self.dovecot.append(account.email, "INBOX", _raw(2))
        account._sync()
        self.assertEqual(account.state, "connected", account.last_error)
        inbox = account.folder_ids.filtered(lambda f: f.special_use == "\\Inbox")
        self.assertEqual(inbox.message_count, 1, "the Inbox still syncs")
        self.assertFalse(projects.present_on_server)
        self.assertIn("Projects", projects.sync_error or "")
        self.assertEqual(projects.message_count, 1, "mail of a gone folder is kept")
        # the folder comes back: it syncs again and its mark is cleared (one second later, so
        # that Dovecot's time-based UIDVALIDITY of the new folder differs from the old one)
        time.sleep(1.1)
        self.dovecot.create_folder(account.email, "Projects")
        self.dovecot.append(account.email, "Projects", _raw(3))
        account._sync()
        self.assertTrue(projects.present_on_server)
        self.assertFalse(projects.sync_error)
        self.assertEqual(projects.message_count, 1, "the old copy went with the old folder")
        self.assertEqual(projects.message_ids.subject, "Note 3")

    def test_account_without_folders_lists_them_before_syncing(self):
        account = self._fresh_account()
        self.dovecot.append(account.email, "INBOX", _raw(4))
        account.sudo().state = "connected"  # e.g. a sign-in finished, folders never listed
        self.assertFalse(account.folder_ids)
        self.assertEqual(account._sync(), 1)
        self.assertEqual(account.state, "connected")
        self.assertTrue(account.folder_ids.filtered(lambda f: f.special_use == "\\Inbox"))

    def test_account_with_no_folder_selected_says_so(self):
        account = self._connect(self._fresh_account())
        account.folder_ids.sync_enabled = False
        account._sync()
        self.assertEqual(account.state, "error")
        self.assertIn("folder", account.last_error)
        self.assertIn("Sync", account.last_error)

    def test_contact_with_non_ascii_address_matches(self):
        partner = self.env["res.partner"].create(
            {"name": "Élodie Durand", "email": "Élodie.Durand@Acme.example"})
        self.assertEqual(partner.email_normalized, "Élodie.Durand@acme.example")
        account = self._connect(self._fresh_account(create_partners=False))
        raw = _raw(5, sender="Élodie Durand <Élodie.Durand@ACME.example>".encode(),
                   to=account.email.encode())
        self.dovecot.append(account.email, "INBOX", raw)
        account._sync()
        message = self.env["crm.inbox.message"].search([("account_id", "=", account.id)])
        self.assertEqual(message.author_id, partner)

    def test_dotless_domain_contact_matches(self):
        partner = self.env["res.partner"].create({"name": "Ops", "email": "Ops@Intranet"})
        account = self._connect(self._fresh_account(create_partners=False))
        self.dovecot.append(account.email, "INBOX",
                            _raw(6, sender=b"ops@intranet", to=account.email.encode()))
        account._sync()
        message = self.env["crm.inbox.message"].search([("account_id", "=", account.id)])
        self.assertEqual(message.author_id, partner)
