"""Archived and deleted users: their personal accounts stop syncing and forget their secrets."""

from odoo.tests import new_test_user

from .common import CrmInboxCase


class TestUserLifecycle(CrmInboxCase):

    def _leaver(self, login):
        user = new_test_user(self.env, login=login, name=login.title(), email=f"{login}@example.com",
                             groups="base.group_user,sales_team.group_sale_salesman")
        account = self._connect(self._fresh_account(user=user))
        self._load_demo(user=account.email, count=5)
        account._sync()
        shared = self.env["crm.inbox.account"].sudo().create({
            "email": f"team-{login}@example.com", "account_type": "shared",
            "user_id": self.user.id, "imap_host": self.dovecot.host})
        self.env["crm.inbox.account.member"].sudo().create(
            {"account_id": shared.id, "user_id": user.id, "access_level": "reply"})
        return user, account.sudo(), shared

    def _secrets(self, account):
        return self.env["crm.inbox.account.secret"].sudo().search([("account_id", "=", account.id)])

    def test_archiving_pauses_sync_and_drops_secrets(self):
        user, account, shared = self._leaver("leaver")
        self.assertTrue(self._secrets(account))
        messages = self.env["crm.inbox.message"].sudo().search_count(
            [("account_id", "=", account.id)])
        self.assertEqual(messages, 5)
        user.active = False
        self.assertEqual(account.state, "disconnected")
        self.assertFalse(self._secrets(account))
        self.assertFalse(shared.member_ids.filtered(lambda m: m.user_id == user))
        # the cron skips it; the synced mail is kept
        self.dovecot.append(account.email, "INBOX", b"Subject: late\r\nMessage-ID: <late@x>\r\n\r\nx")
        self.env["crm.inbox.account"]._cron_sync_accounts()
        self.assertEqual(self.env["crm.inbox.message"].sudo().search_count(
            [("account_id", "=", account.id)]), messages)
        # re-activated, the user connects again (nothing syncs by itself)
        user.active = True
        self.assertEqual(account.state, "disconnected")

    def test_deleted_user_mail_kept_archived(self):
        user, account, _shared = self._leaver("gone")
        self.env.company.crm_inbox_deleted_user_mail = "archive"
        user.unlink()
        account = account.with_context(active_test=False).exists()
        self.assertTrue(account)
        self.assertFalse(account.active)
        self.assertEqual(account.state, "disconnected")
        self.assertEqual(account.user_id, self.env.ref("base.user_root"))
        self.assertFalse(self._secrets(account))
        self.assertEqual(self.env["crm.inbox.message"].sudo().search_count(
            [("account_id", "=", account.id)]), 5)

    def test_deleted_user_mail_deleted(self):
        user, account, _shared = self._leaver("purged")
        self.env.company.crm_inbox_deleted_user_mail = "delete"
        account_id = account.id
        user.unlink()
        self.assertFalse(self.env["crm.inbox.account"].sudo().with_context(
            active_test=False).browse(account_id).exists())
        self.assertFalse(self.env["crm.inbox.message"].sudo().search_count(
            [("account_id", "=", account_id)]))
