"""Forwarding mode: a shared mailbox fed through Odoo's mail gateway (real servers).

The fixture aiosmtpd server plays the MTA of the alias domain: it accepts mail for the
generated receiving address (RCPT TO) and pipes it into Odoo's gateway over XML-RPC with a
``Delivered-To`` field, as ``odoo-mailgate.py`` does (``testkit.mail_servers.MailgatePipe``).
It also plays the provider's forwarding rule (support@ → the receiving address) for the
"Send a test email" round trip.
"""

import email
import json
import smtplib
from email import policy

from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged

from ..testkit.mail_servers import MailgatePipe
from .common import CrmInboxHttpCase

SUPPORT = "support@example.com"
SUPPORT_PASSWORD = "support-pass"
CUSTOMER = "lucia@iberica.example"


def customer_mail(message_id="<order-289@iberica.example>", subject="Pedido 289", extra=b"",
                  sender=CUSTOMER, body=b"Buenos dias, nos confirman la entrega?"):
    return (
        b"From: \"Fern\xc3\xa1ndez, Luc\xc3\xada\" <" + sender.encode() + b">\r\n"
        b"To: Support <" + SUPPORT.encode() + b">\r\n"
        b"Subject: " + subject.encode() + b"\r\n"
        b"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: " + message_id.encode() + b"\r\n" + extra +
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + b"\r\n"
    )


@tagged("post_install", "-at_install")
class TestForwarding(CrmInboxHttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        domain = cls.env["mail.alias.domain"].create({"name": "alias.example.com"})
        cls.env.company.alias_domain_id = domain
        cls.smtpd.users[SUPPORT] = SUPPORT_PASSWORD
        cls.customer = cls.env["res.partner"].create({"name": "Lucía Fernández",
                                                      "email": CUSTOMER})

    def setUp(self):
        super().setUp()
        self.pipe = MailgatePipe(self.base_url(), self.env.cr.dbname, 2, "admin")
        self.smtpd.on_message = self.pipe.forward
        self.addCleanup(setattr, self.smtpd, "on_message", None)
        self.smtpd.clear()
        self.account = self.env["crm.inbox.account"].sudo().create({
            "email": SUPPORT, "name": "Support", "account_type": "shared",
            "connection_type": "forwarding", "user_id": self.user.id,
            "smtp_host": self.smtpd.host, "smtp_port": self.smtpd.port,
            "smtp_security": "none", "smtp_username": SUPPORT,
            "smtp_password": SUPPORT_PASSWORD,
        }).with_user(self.user)
        self.account.action_test_connection()
        self.alias = self.account.sudo().forward_address
        # the MTA of the alias domain delivers the receiving address locally
        self.pipe.rules[self.alias] = self.alias

    def _send_to_alias(self, raw, sender=CUSTOMER):
        """Submit *raw* to the fixture MTA with the receiving address as the only RCPT TO."""
        self.env.flush_all()
        with smtplib.SMTP(self.smtpd.host, self.smtpd.port, timeout=30) as smtp:
            smtp.login(SUPPORT, SUPPORT_PASSWORD)
            smtp.sendmail(sender, [self.alias], raw)
        self.env.invalidate_all()

    def _messages(self):
        return self.env["crm.inbox.message"].sudo().search([("account_id", "=", self.account.id)])

    def test_setup_creates_the_receiving_address_on_the_alias_domain(self):
        self.assertEqual(self.account.state, "connected")
        self.assertRegex(self.alias, r"^support-[0-9a-f]{6}@alias\.example\.com$")
        folders = self.account.sudo().folder_ids
        self.assertEqual(set(folders.mapped("special_use")), {"\\Inbox", "\\Sent", "\\Archive"})
        # the mail client lists them (they are not synced, but they hold the mail)
        sidebar = self.env["crm.inbox.conversation"].with_user(self.user).inbox_sidebar()
        support = next(a for a in sidebar["accounts"] if a["id"] == self.account.id)
        self.assertEqual({f["role"] for f in support["folders"]}, {"inbox", "sent", "archive"})
        self.assertTrue(all(folders.mapped("is_local")))
        self.assertFalse(any(folders.mapped("sync_enabled")))
        # no IMAP server: the scheduled sync leaves it alone
        self.assertEqual(self.account._sync(), 0)
        self.assertEqual(self.account.state, "connected")

    def test_forwarding_is_for_shared_accounts(self):
        with self.assertRaises(ValidationError):
            self.env["crm.inbox.account"].with_user(self.user).create({
                "email": "me@example.com", "connection_type": "forwarding"})

    def test_forwarded_mail_lands_once_on_the_contact(self):
        raw = customer_mail()
        self._send_to_alias(raw)
        self.assertEqual(len(self.pipe.results), 1, self.pipe.results)
        conversation_id = self.pipe.results[0][1]
        message = self._messages()
        self.assertEqual(len(message), 1)
        self.assertEqual(message.conversation_id.id, conversation_id)
        self.assertEqual(message.author_id, self.customer)
        self.assertIn(self.customer, message.conversation_id.partner_ids)
        self.assertFalse(message.imap_uid)
        self.assertTrue(message.delivery_key.startswith("sha256:"))
        self.assertEqual(message.folder_id.special_use, "\\Inbox")
        # nothing posted on any record by Odoo's routing
        self.assertFalse(self.env["mail.message"].sudo().search(
            [("message_id", "=", "<order-289@iberica.example>")]))
        # the same bytes again, and the same message with other trace fields: nothing new
        self._send_to_alias(raw)
        self.pipe.deliver(b"Received: from relay2\r\n" + raw, self.alias)
        self.env.invalidate_all()
        self.assertEqual(len(self._messages()), 1)
        self.assertEqual([r for _t, r in self.pipe.results], [conversation_id] * 3)
        # the colleague who is not a member sees nothing of it
        self.assertFalse(self.env["crm.inbox.message"].with_user(self.colleague).search(
            [("account_id", "=", self.account.id)]))

    def test_kept_beside_a_synced_copy_and_an_odoo_message(self):
        personal = self._connect(self._fresh_account())
        raw = customer_mail(message_id="<both@iberica.example>")
        self.dovecot.append(personal.email, "INBOX", raw)
        personal._sync()
        # Odoo's database-wide Message-ID check would drop it: it comes before that check
        self.env["mail.message"].create({
            "model": "res.partner", "res_id": self.customer.id, "message_type": "email",
            "message_id": "<both@iberica.example>", "body": "posted elsewhere"})
        self._send_to_alias(raw)
        copies = self.env["crm.inbox.message"].sudo().search(
            [("message_id", "=", "<both@iberica.example>")])
        self.assertEqual(copies.account_id, personal | self.account)

    def test_reply_goes_out_through_smtp_from_the_support_address(self):
        self._send_to_alias(customer_mail())
        incoming = self._messages()
        self.smtpd.clear()
        action = incoming.conversation_id.with_user(self.user).action_reply()
        composer = Form(self.env["crm.inbox.compose"].with_user(self.user)
                        .with_context(**action["context"]))
        self.assertIn(CUSTOMER, composer.to)
        composer.body = "<p>Confirmado, sale el lunes.</p>"
        composer.save().action_send()
        self._run_mail_queue()
        received = self.smtpd.wait_for(1)[0]
        sent = email.message_from_bytes(received.data, policy=policy.default)
        self.assertEqual(sent["From"].addresses[0].addr_spec, SUPPORT)
        self.assertEqual(sent["In-Reply-To"], "<order-289@iberica.example>")
        self.assertEqual(received.rcpt_tos, [CUSTOMER])
        self.assertEqual(received.auth_login, SUPPORT)
        # the copy is in the Odoo-only Sent folder, in the same conversation
        conversation = incoming.conversation_id
        self.assertEqual(len(conversation.inbox_message_ids), 2)
        copy = conversation.inbox_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(copy.folder_id.special_use, "\\Sent")
        self.assertTrue(copy.is_read)
        # the customer's answer, forwarded again, joins the conversation
        answer = customer_mail(message_id="<order-289-b@iberica.example>",
                               subject="Re: Pedido 289",
                               extra=b"In-Reply-To: " + copy.message_id.encode() + b"\r\n")
        self._send_to_alias(answer)
        self.assertEqual(len(conversation.inbox_message_ids), 3)
        # archived in Odoo only (no IMAP server): it moves to the account's Archive folder
        conversation.with_user(self.user).inbox_action(conversation.ids, "archive")
        received = conversation.inbox_message_ids.filtered(lambda m: m.direction == "in")
        self.assertEqual(set(received.folder_id.mapped("special_use")), {"\\Archive"})

    def test_send_a_test_email_round_trip(self):
        self.pipe.rules[SUPPORT] = self.alias  # the provider's forwarding rule
        self.account.action_send_forwarding_test()
        self.env.invalidate_all()
        self.assertEqual(self.account.forward_test_state, "ok")
        self.assertTrue(self.account.forward_test_date)
        received = self.smtpd.messages[0]
        self.assertEqual(received.rcpt_tos, [SUPPORT])
        self.assertEqual(received.auth_login, SUPPORT)
        self.assertIn(b"\r\nAuto-Submitted: auto-generated\r\n", received.data,
                      "sent by a program (RFC 3834 section 5)")
        self.assertFalse(self._messages(), "the test email is not a conversation")

    def test_loops_never_start_a_conversation(self):
        self._send_to_alias(customer_mail())
        first = self._messages()
        auto = customer_mail(message_id="<auto-1@iberica.example>", subject="Fuera de oficina",
                             extra=b"Auto-Submitted: auto-replied\r\n")
        bounce = (b"From: MAILER-DAEMON@mx.iberica.example\r\nTo: support@example.com\r\n"
                  b"Subject: Undelivered\r\nMessage-ID: <dsn-1@mx.iberica.example>\r\n"
                  b"Content-Type: multipart/report; report-type=delivery-status; "
                  b"boundary=b\r\n\r\n--b\r\n\r\nfailed\r\n--b--\r\n")
        own = customer_mail(message_id="<own-1@example.com>", sender=SUPPORT)
        for raw in (auto, bounce, own):
            self._send_to_alias(raw)
        self.assertEqual(self._messages(), first)
        # an automatic reply that answers a conversation joins it
        answer = customer_mail(
            message_id="<auto-2@iberica.example>", subject="Re: Pedido 289",
            extra=b"Auto-Submitted: auto-replied\r\nIn-Reply-To: <order-289@iberica.example>\r\n")
        self._send_to_alias(answer)
        self.assertEqual(len(first.conversation_id.inbox_message_ids), 2)
        self.assertEqual(len(self.env["crm.inbox.conversation"].sudo().search(
            [("account_id", "=", self.account.id)])), 1)

    def test_malformed_mail_is_kept_raw(self):
        raw = (b"From: " + CUSTOMER.encode() + b"\r\nTo: " + SUPPORT.encode() + b"\r\n"
               b"Subject: broken\r\nMessage-ID: <bad@iberica.example>\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=never\r\n\r\n\xff\xfe no boundary\r\n")
        self._send_to_alias(raw)
        message = self._messages()
        self.assertEqual(len(message), 1)
        self.assertTrue(message.is_malformed)
        self.assertTrue(message.parse_warning)

    def test_setup_wizard_forwarding_steps(self):
        self.user.groups_id += self.env.ref("crm_inbox.group_crm_inbox_manager")
        self.smtpd.users["help@example.com"] = "help-pass"
        Setup = self.env["crm.inbox.account.setup"].with_user(self.user)
        wizard = Setup.create({"email": "help@example.com", "account_type": "shared"})
        wizard.action_detect()  # nothing found on loopback DNS: the advanced step
        wizard.action_show_forwarding()
        self.assertEqual(wizard.step, "forwarding")
        wizard.write({"smtp_host": self.smtpd.host, "smtp_port": self.smtpd.port,
                      "smtp_security": "none", "smtp_password": "wrong"})
        wizard.action_connect_forwarding()
        self.assertEqual(wizard.step, "forwarding")
        self.assertIn("help@example.com", wizard.error_message)
        self.assertFalse(wizard.account_id, "nothing is saved on failure")
        wizard.smtp_password = "help-pass"
        wizard.action_connect_forwarding()
        self.assertEqual(wizard.step, "forwarding_done", wizard.error_message)
        account = wizard.account_id
        self.assertEqual(account.connection_type, "forwarding")
        self.assertRegex(wizard.forward_address, r"^help-[0-9a-f]{6}@alias\.example\.com$")
        self.assertFalse(account.sudo().smtp_same_credentials)
        self.pipe.rules["help@example.com"] = wizard.forward_address
        wizard.action_send_forwarding_test()
        self.env.invalidate_all()
        self.assertEqual(wizard.forward_test_state, "ok")

    def test_gmail_forwarding_confirmation_is_kept(self):
        raw = (b"From: Gmail Team <forwarding-noreply@google.com>\r\n"
               b"To: " + self.alias.encode() + b"\r\n"
               b"Subject: (#123456789) Gmail Forwarding Confirmation\r\n"
               b"Auto-Submitted: auto-generated\r\nMessage-ID: <fwd-confirm@google.com>\r\n\r\n"
               b"Confirmation code: 123456789\r\n")
        self._send_to_alias(raw)
        message = self._messages()
        self.assertEqual(len(message), 1)
        self.assertIn("123456789", message.body_text)

    def test_forwarded_mail_notifies_the_open_clients(self):
        Bus = self.env["bus.bus"].sudo()
        self.env.cr.precommit.run()
        Bus.search([]).unlink()
        self._send_to_alias(customer_mail(message_id="<bus-fwd@iberica.example>"))
        self.env.cr.precommit.run()  # what the gateway's commit does
        channel = json.dumps([self.env.cr.dbname, "res.partner", self.user.partner_id.id],
                             separators=(",", ":"))
        payloads = [json.loads(r.message)["payload"] for r in Bus.search([("channel", "=", channel)])
                    if json.loads(r.message)["type"] == "crm_inbox/new_mail"]
        self.assertEqual(payloads, [{"account_id": self.account.id,
                                     "conversation_ids": self._messages().conversation_id.ids}])
