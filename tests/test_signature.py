"""Signatures, the primary account, account limits, copy and disconnect."""

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, new_test_user, tagged

from .common import CrmInboxCase


@tagged("post_install", "-at_install")
class TestSignature(CrmInboxCase):

    def _signature(self, user, **vals):
        return self.env["crm.inbox.signature"].with_user(user).create(
            dict({"name": "Sig", "body": "<p>Sam</p>"}, **vals))

    def test_main_signature_inserted_others_selectable(self):
        account = self._connect(self._fresh_account())
        general = self._signature(self.user, name="General", body="<p>GENERAL-SIG</p>",
                                  is_main=True)
        main = self._signature(self.user, name="Formal", account_id=account.id,
                               body="<p>FORMAL-SIG</p>", is_main=True)
        short = self._signature(self.user, name="Short", account_id=account.id,
                                body="<p>SHORT-SIG</p>", is_main=False)
        self.assertTrue(general.is_main, "one main per scope: the general one stays main")
        composer = Form(self.env["crm.inbox.compose"].with_user(self.user)
                        .with_context(default_account_id=account.id))
        self.assertEqual(composer.signature_id, main)
        self.assertIn("FORMAL-SIG", composer.body)
        composer.signature_id = short
        self.assertIn("SHORT-SIG", composer.body)
        self.assertNotIn("FORMAL-SIG", composer.body)
        # a second main signature for the same account replaces the first one
        short.with_user(self.user).is_main = True
        self.assertFalse(main.is_main)
        self.assertTrue(general.is_main)
        # the signature goes out with the email
        composer.to = "kim@client.example"
        composer.subject = "Hello"
        self.smtpd.clear()
        composer.save().action_send()
        self._run_mail_queue()
        self.assertIn(b"SHORT-SIG", self.smtpd.wait_for(1)[0].data)

    def test_signature_sanitized_and_private(self):
        sig = self._signature(self.user, body='<p>ok</p><script>alert(1)</script>'
                                                '<img src="x" onerror="alert(2)">')
        self.assertNotIn("<script", sig.body)
        self.assertNotIn("onerror", sig.body)
        Signature = self.env["crm.inbox.signature"].with_user(self.colleague)
        self.assertFalse(Signature.search([("id", "=", sig.id)]))
        with self.assertRaises(AccessError):
            sig.with_user(self.colleague).read(["body"])
        with self.assertRaises(AccessError):
            sig.with_user(self.colleague).write({"body": "<p>mine now</p>"})

    def test_general_signature_falls_back_to_user_signature(self):
        account = self._connect(self._fresh_account())
        self.user.signature = "<p>USER-PROFILE-SIG</p>"
        composer = Form(self.env["crm.inbox.compose"].with_user(self.user)
                        .with_context(default_account_id=account.id))
        self.assertIn("USER-PROFILE-SIG", composer.body)

    def test_shared_template_placeholders(self):
        admin = new_test_user(self.env, login="sig_admin", name="Sig Admin",
                              groups="base.group_user,crm_inbox.group_crm_inbox_manager")
        self.colleague.partner_id.write({"function": "Sales <b>Rep</b>", "phone": "+1 555"})
        shared = self.env["crm.inbox.account"].with_user(admin).create({
            "email": "team@example.com", "account_type": "shared",
            "signature_template": "<p>{name}, {job_title}, {phone}</p><p>Team</p>",
            "member_ids": [Command.create({"user_id": self.colleague.id,
                                           "access_level": "reply"})],
        })
        form = Form(self.env["crm.inbox.signature"].with_user(self.colleague)
                    .with_context(default_account_id=shared.id))
        self.assertIn("Cole League, Sales &lt;b&gt;Rep&lt;/b&gt;, +1 555", form.body)
        sig = form.save()
        self.assertEqual(sig.user_id, self.colleague)

    def test_primary_account_selected_first(self):
        first = self._connect(self._fresh_account())
        second = self._connect(self._fresh_account())
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        self.assertEqual(Form(Compose).account_id, first)
        self.user.with_user(self.user).write({"crm_inbox_primary_account_id": second.id})
        self.assertEqual(Form(Compose).account_id, second)
        self.assertEqual(self.user._crm_inbox_default_account(), second)
        with self.assertRaises(ValidationError):
            self.colleague.with_user(self.colleague).write(
                {"crm_inbox_primary_account_id": first.id})

    def test_max_accounts_and_integrated_email_setting(self):
        self.env.company.crm_inbox_max_accounts = 2
        self._fresh_account()
        self._fresh_account()
        with self.assertRaises(ValidationError) as caught:
            self._fresh_account()
        self.assertIn("the maximum", str(caught.exception))
        self.assertEqual(self.user.crm_inbox_account_count, 2)
        self.env.company.crm_inbox_max_accounts = 0
        self._fresh_account()
        self.env.company.crm_inbox_enabled = False
        with self.assertRaises(UserError) as caught:
            self._fresh_account()
        self.assertIn("Integrated email is turned off", str(caught.exception))

    def test_create_copy_without_secrets_or_mail(self):
        account = self._connect(self._fresh_account())
        self.dovecot.append(account.email, "INBOX",
                            b"From: a@client.example\r\nSubject: hi\r\n\r\nbody\r\n")
        account._sync()
        self.assertEqual(account.message_count, 1)
        action = account.with_user(self.user).action_create_copy()
        copy = self.env["crm.inbox.account"].browse(action["res_id"])
        self.assertNotEqual(copy, account)
        self.assertEqual((copy.imap_host, copy.imap_port, copy.email),
                         (account.imap_host, account.imap_port, account.email))
        self.assertEqual(copy.state, "draft")
        self.assertFalse(copy.has_imap_password)
        self.assertFalse(copy.folder_ids)
        self.assertEqual(copy.message_count, 0)
        self.assertEqual(copy.user_id, self.user)

    def test_disconnect_keeps_or_deletes_synced_mail(self):
        for choice in ("keep", "delete"):
            with self.subTest(choice=choice):
                account = self._connect(self._fresh_account())
                self.dovecot.append(account.email, "INBOX",
                                    b"From: a@client.example\r\nSubject: hi\r\n\r\nbody\r\n")
                account._sync()
                on_server = len(self.dovecot.messages(account.email, "INBOX"))
                action = account.with_user(self.user).action_disconnect()
                wizard = Form(self.env[action["res_model"]].with_user(self.user)
                              .with_context(**action["context"]))
                wizard.synced_mail = choice
                wizard.save().action_confirm()
                self.assertEqual(account.state, "disconnected")
                account.invalidate_recordset()
                self.assertFalse(account.has_imap_password)
                self.assertEqual(account.message_count, 1 if choice == "keep" else 0)
                self.assertEqual(account._sync(), 0, "no sync once disconnected")
                self.assertEqual(len(self.dovecot.messages(account.email, "INBOX")), on_server,
                                 "the remote mailbox is untouched")
                with self.assertRaises(UserError):
                    account.with_user(self.user).action_sync_now()
        # someone else cannot disconnect it
        other = self._connect(self._fresh_account())
        with self.assertRaises(AccessError):
            other.with_user(self.colleague)._disconnect()
