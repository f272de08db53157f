"""Sending through the user's mailbox on Odoo's mail queue (issue 14), against a real
Dovecot and aiosmtpd: the hidden server of each account, the chatter's Send message, the
exact-match rule, TLS verification, the composer's undo / send later, failures."""

import email
import email.utils
from datetime import UTC, timedelta
from email import policy

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import email_normalize

from ..testkit.mail_servers import SMTPTestServer, free_port
from .common import CrmInboxCase

INCOMING = (
    b"From: Greta Green <greta@client.example>\r\n"
    b"To: {to}\r\n"
    b"Subject: Prices for 2027\r\n"
    b"Message-ID: <prices-1@client.example>\r\n"
    b"Date: Tue, 17 Nov 2026 09:30:00 +0100\r\n"
    b"\r\n"
    b"Could you send the new prices?\r\n"
)


def parse(received):
    return email.message_from_bytes(received.data, policy=policy.default)


@tagged("post_install", "-at_install")
class TestAccountMailServer(CrmInboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls.env["res.partner"].create(
            {"name": "Greta Green", "email": "greta@client.example"})

    def _account_of_user(self, user=None, **values):
        """A connected account whose address is also the user's own address."""
        user = user or self.user
        account = self._connect(self._fresh_account(user=user, **values))
        user.partner_id.email = account.email
        return account

    def _server(self, account):
        return self.env["ir.mail_server"].sudo().with_context(active_test=False).search(
            [("crm_inbox_account_id", "=", account.id)])

    def _move_smtp(self, account, **values):
        """Point the account's SMTP elsewhere, keeping it connected with its password
        (a change of endpoint drops it in the UI)."""
        account.sudo().write(values)
        account.sudo().write({"state": "connected"})
        account.with_user(self.user).imap_password = self.smtpd.users[account.email]
        account.sudo().write({"state": "connected"})

    def _sent_folder(self, account):
        return self.dovecot.messages(account.email, "Sent")

    # ------------------------------------------------------------------
    def test_hidden_server_follows_the_account(self):
        account = self._fresh_account()
        self.assertFalse(self._server(account).active, "not connected: no active server")
        self._connect(account)
        server = self._server(account)
        self.assertTrue(server.active)
        self.assertEqual(server.from_filter, email_normalize(account.email))
        self.assertEqual((server.smtp_host, server.smtp_port), (account.smtp_host,
                                                                 account.smtp_port))
        self.assertFalse(server.smtp_pass, "the password is never copied to smtp_pass")
        self.assertEqual(account.mail_server_id, server)
        # invisible in the generic list (and in the server pickers), for admins too
        Server = self.env["ir.mail_server"].with_user(self.env.ref("base.user_admin"))
        self.assertNotIn(server, Server.search([]))
        self.assertIn(server, Server.sudo().search([]))
        # archived and disconnected accounts: archived server
        account.with_user(self.user).active = False
        self.assertFalse(server.active)
        account.with_user(self.user).active = True
        self.assertTrue(server.active)
        account.sudo()._disconnect()
        self.assertFalse(server.active)
        account.sudo().unlink()
        self.assertFalse(server.exists())

    def test_chatter_send_message_goes_through_the_mailbox(self):
        account = self._account_of_user()
        lead = self.env["crm.lead"].create({
            "name": "2027 prices", "partner_id": self.customer.id, "user_id": self.user.id})
        lead.message_subscribe(partner_ids=[self.colleague.partner_id.id])
        self.smtpd.clear()
        posted = lead.with_user(self.user).message_post(
            body="<p>Here are the 2027 prices.</p>", subject="2027 prices",
            message_type="comment", subtype_xmlid="mail.mt_comment",
            partner_ids=[self.customer.id])
        self._run_mail_queue()
        # one SMTP transaction through the account: to the customer only (the internal
        # follower is notified the Odoo way, not through the customer-facing mailbox)
        [received] = self.smtpd.wait_for(1)
        self.assertEqual(received.auth_login, account.email)
        self.assertEqual(received.mail_from, account.email)
        self.assertEqual(received.rcpt_tos, ["greta@client.example"])
        sent = parse(received)
        self.assertEqual(sent["From"].addresses[0].addr_spec, account.email)
        self.assertEqual([a.addr_spec for a in sent["Reply-To"].addresses], [account.email])
        self.assertEqual(sent["Message-ID"], posted.message_id)
        # the copy is in Sent once, in a conversation linked to the lead
        self.assertEqual(len(self._sent_folder(account)), 1)
        copy = self.env["crm.inbox.message"].search([("message_id", "=", posted.message_id)])
        self.assertEqual((len(copy), copy.direction), (1, "out"))
        self.assertIn(lead, copy.conversation_id.lead_ids)
        account._sync()
        copies = self.env["crm.inbox.message"].search([("message_id", "=", posted.message_id)])
        self.assertEqual(copies, copy, "the sync recognises the copy by Message-ID")
        self.assertTrue(copy.imap_uid)
        # the customer answers the Reply-To: after the next sync, on the same lead
        reply_to = sent["Reply-To"].addresses[0].addr_spec
        answer = (f"From: Greta Green <greta@client.example>\r\nTo: {reply_to}\r\n"
                  f"Subject: Re: 2027 prices\r\nMessage-ID: <answer-1@client.example>\r\n"
                  f"In-Reply-To: {posted.message_id}\r\nReferences: {posted.message_id}\r\n"
                  "Date: Wed, 18 Nov 2026 10:00:00 +0100\r\n\r\nThanks, ordered.\r\n").encode()
        self.dovecot.append(reply_to, "INBOX", answer)
        account._sync()
        incoming = self.env["crm.inbox.message"].search(
            [("message_id", "=", "<answer-1@client.example>")])
        self.assertEqual(incoming.conversation_id, copy.conversation_id)
        self.assertIn(lead, incoming.conversation_id.lead_ids)

    def test_other_users_and_odoobot_never_use_an_account_server(self):
        first = self._account_of_user()
        second = self._account_of_user(user=self.colleague)
        # no generic server at all (the command-line server is the fallback)
        self.env["ir.mail_server"].sudo().search(
            [("crm_inbox_account_id", "=", False)]).unlink()
        third = new_test_user(self.env, login="crm_inbox_third", name="Third User",
                              email="third@example.com",
                              groups="base.group_user,sales_team.group_sale_salesman_all_leads")
        Server = self.env["ir.mail_server"].sudo()
        account_servers = self._server(first) | self._server(second)
        for address in ("third@example.com", "nobody@example.com",
                        self.env.ref("base.partner_root").email or "",
                        Server._get_default_from_address() or "", "", "not an address"):
            with self.subTest(address=address):
                server, _from = Server._find_mail_server(address)
                self.assertNotIn(server or Server, account_servers)
        self.assertEqual(Server._find_mail_server(first.email.upper())[0], self._server(first))
        partner = self.env["crm.lead"].create({"name": "Someone else's lead"})
        self.smtpd.clear()
        partner.with_user(third).message_post(
            body="<p>from the third user</p>", message_type="comment",
            subtype_xmlid="mail.mt_comment", partner_ids=[self.customer.id])
        # even with a salesperson's address as From, someone else's mail stays out
        partner.with_user(third).message_post(
            body="<p>spoofed</p>", message_type="comment", subtype_xmlid="mail.mt_comment",
            partner_ids=[self.customer.id], email_from=first.email)
        partner.with_user(self.env.ref("base.user_root")).message_post(
            body="<p>OdooBot</p>", message_type="comment", subtype_xmlid="mail.mt_comment",
            author_id=self.env.ref("base.partner_root").id, partner_ids=[self.customer.id])
        self.env["mail.mail"].sudo().create({
            "email_from": self.env.ref("base.partner_root").email_formatted,
            "email_to": "greta@client.example", "subject": "bot", "body_html": "<p>x</p>",
        })
        self._run_mail_queue()
        self.assertFalse(self.smtpd.messages, "nothing left through a salesperson's mailbox")
        self.assertFalse(self._sent_folder(first) or self._sent_folder(second))

    def test_account_servers_verify_certificates(self):
        account = self._account_of_user()
        # implicit TLS with the test server's self-signed certificate, not allowed
        self._move_smtp(account, smtp_security="ssl", smtp_port=self.smtpd.ssl_port)
        self.smtpd.clear()
        self.customer.with_user(self.user).message_post(
            body="<p>over TLS</p>", message_type="comment", subtype_xmlid="mail.mt_comment",
            partner_ids=[self.customer.id])
        self._run_mail_queue()
        self.assertFalse(self.smtpd.messages)
        mail = self.env["mail.mail"].sudo().search(
            [("email_from", "ilike", account.email), ("state", "=", "exception")])
        self.assertTrue(mail, "the mail failed, it did not go out unverified")
        self.assertIn("certificate", mail.failure_reason.lower())

    def test_user_without_account_sends_as_before(self):
        self._account_of_user()
        lead = self.env["crm.lead"].create({"name": "No mailbox",
                                            "user_id": self.colleague.id})
        self.smtpd.clear()
        message = lead.with_user(self.colleague).message_post(
            body="<p>as before</p>", message_type="comment", subtype_xmlid="mail.mt_comment",
            partner_ids=[self.customer.id])
        self._run_mail_queue()
        self.assertFalse(self.smtpd.messages)
        notification = message.notification_ids.filtered(
            lambda n: n.res_partner_id == self.customer)
        self.assertEqual(notification.notification_status, "sent")
        reply_to = self.env["mail.mail"].sudo().search([("mail_message_id", "=", message.id)])
        self.assertFalse(reply_to, "sent by Odoo's default path and auto-deleted")

    # ------------------------------------------------------------------
    # the crm_inbox composer on the queue
    # ------------------------------------------------------------------
    def _incoming(self, account):
        self.dovecot.append(account.email, "INBOX",
                            INCOMING.replace(b"{to}", account.email.encode()))
        account._sync()
        return self.env["crm.inbox.message"].search(
            [("account_id", "=", account.id), ("message_id", "=", "<prices-1@client.example>")])

    def _send(self, parent, text="Here they are.", **values):
        return self.env["crm.inbox.compose"].with_user(self.user).inbox_send(
            parent.id, "reply", dict(values, text=text))

    def test_undo_send_restores_the_draft_and_sends_nothing(self):
        account = self._account_of_user()
        parent = self._incoming(account)
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        self.smtpd.clear()
        result = self._send(parent, text="First try", cc="boss@client.example")
        self.assertEqual(result["undo_seconds"], 10)
        mail = self.env["mail.mail"].sudo().browse(result["mail_id"])
        self.assertEqual((mail.state, mail.crm_inbox_account_id), ("outgoing", account))
        self.assertTrue(mail.message_id, "the Message-ID is fixed at Send")
        self._run_mail_queue()
        self.assertFalse(self.smtpd.messages, "not during the undo delay")
        draft = Compose.inbox_undo_send(result["mail_id"])
        self.assertEqual((draft["text"], draft["cc"], draft["message_id"], draft["mode"]),
                         ("First try", "boss@client.example", parent.id, "reply"))
        self.assertFalse(mail.exists())
        self._run_mail_queue(delay=11)
        self.assertFalse(self.smtpd.messages, "undone: nothing sent")
        with self.assertRaisesRegex(UserError, "not in your outbox"):
            Compose.inbox_undo_send(result["mail_id"])
        # sent again: once after the delay
        result = self._send(parent, text="Second try")
        self.assertTrue(Compose.inbox_release(result["mail_id"]) is False, "not due yet")
        self._run_mail_queue(delay=11)
        [received] = self.smtpd.wait_for(1)
        sent = parse(received)
        self.assertEqual(sent["Message-ID"], self.env["crm.inbox.message"].search(
            [("account_id", "=", account.id), ("direction", "=", "out")]).message_id)
        self.assertEqual(sent["In-Reply-To"], "<prices-1@client.example>")
        self._run_mail_queue(delay=30)
        self.assertEqual(len(self.smtpd.messages), 1, "once")
        self.assertEqual(len(self._sent_folder(account)), 1)
        self.assertEqual(len(parent.conversation_id.inbox_message_ids), 2)
        with self.assertRaisesRegex(UserError, "not in your outbox"):
            Compose.inbox_undo_send(result["mail_id"])
        # someone else cannot undo or see the user's mail
        other = self._send(parent, text="Third")
        with self.assertRaisesRegex(UserError, "not in your outbox"):
            self.env["crm.inbox.compose"].with_user(self.colleague).inbox_undo_send(
                other["mail_id"])

    def test_send_later_goes_out_then_and_not_before(self):
        account = self._account_of_user()
        parent = self._incoming(account)
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        at = fields.Datetime.now() + timedelta(minutes=2)
        with self.assertRaisesRegex(UserError, "future"):
            self._send(parent, scheduled_at="2020-01-01 08:00:00")
        result = self._send(parent, text="Later", scheduled_at=fields.Datetime.to_string(at))
        cancelled = self._send(parent, text="Never",
                               scheduled_at=fields.Datetime.to_string(at))
        self.assertEqual(result["undo_seconds"], 0)
        self.assertEqual(result["scheduled_at"], fields.Datetime.to_string(at))
        outbox = self.env["mail.mail"]._crm_inbox_outbox(parent.conversation_id)
        self.assertEqual([o["id"] for o in outbox], [result["mail_id"], cancelled["mail_id"]])
        self.assertTrue(Compose.inbox_cancel_send(cancelled["mail_id"]))
        self.smtpd.clear()
        self._run_mail_queue(at=at - timedelta(seconds=1))
        self.assertFalse(self.smtpd.messages, "not before T")
        self._run_mail_queue(at=at + timedelta(seconds=1))
        [received] = self.smtpd.wait_for(1)
        self.assertIn("Later", parse(received).get_body(("plain",)).get_content())
        self.assertEqual(self.env["mail.mail"].sudo().browse(cancelled["mail_id"]).state,
                         "cancel")
        self._run_mail_queue(at=at + timedelta(minutes=5))
        self.assertEqual(len(self.smtpd.messages), 1, "the cancelled one never leaves")

    def test_permanent_failure_shows_the_reason_and_keeps_the_draft(self):
        account = self._account_of_user()
        parent = self._incoming(account)
        self.smtpd.refused_recipients.add("greta@client.example")
        self.addCleanup(self.smtpd.refused_recipients.discard, "greta@client.example")
        self.smtpd.clear()
        result = self._send(parent, text="Refused?")
        self._run_mail_queue(delay=11)
        mail = self.env["mail.mail"].sudo().browse(result["mail_id"])
        self.assertEqual(mail.state, "exception")
        self.assertIn("550", mail.failure_reason)
        [entry] = self.env["mail.mail"]._crm_inbox_outbox(parent.conversation_id)
        self.assertEqual((entry["state"], entry["reason"]), ("exception", mail.failure_reason))
        self.assertFalse(self._sent_folder(account))
        # Edit and resend: the draft comes back
        draft = self.env["crm.inbox.compose"].with_user(self.user).inbox_undo_send(mail.id)
        self.assertEqual(draft["text"], "Refused?")

    def test_server_down_keeps_the_mail_queued_until_it_is_back(self):
        down = SMTPTestServer(dict(self.smtpd.users))
        port = free_port()
        account = self._account_of_user()
        parent = self._incoming(account)
        self._move_smtp(account, smtp_port=port)
        down.users[account.email] = self.smtpd.users[account.email]
        result = self._send(parent, text="Are you there?")
        mail = self.env["mail.mail"].sudo().browse(result["mail_id"])
        self._run_mail_queue(delay=11)
        self.assertEqual(mail.state, "outgoing", "queued, not failed")
        self.assertIn("refused the connection", mail.failure_reason)
        self._run_mail_queue(delay=60)
        self.assertEqual(mail.state, "outgoing")
        down.start(port=port)
        self.addCleanup(down.stop)
        self._run_mail_queue(delay=180)
        self.assertEqual(len(down.wait_for(1)), 1)
        self.assertFalse(mail.exists(), "sent (and removed from the queue)")
        self._run_mail_queue(delay=240)
        self.assertEqual(len(down.messages), 1, "once")

    def test_refused_login_keeps_the_mail_until_reconnected(self):
        account = self._account_of_user()
        parent = self._incoming(account)
        result = self._send(parent, text="Login?")
        password = self.smtpd.users[account.email]
        self.smtpd.users[account.email] = "changed-on-the-server"
        self.smtpd.clear()
        self._run_mail_queue(delay=11)
        mail = self.env["mail.mail"].sudo().browse(result["mail_id"])
        self.assertEqual(account.state, "auth_failed")
        self.assertEqual(mail.state, "outgoing")
        self._run_mail_queue(delay=60)
        self.assertEqual(mail.state, "outgoing", "held while the login is refused")
        self.smtpd.users[account.email] = password
        account.sudo().state = "connected"
        self._run_mail_queue(delay=120)
        self.assertEqual(len(self.smtpd.wait_for(1)), 1)

    def test_scheduled_mail_cancelled_when_they_reply_first(self):
        account = self._account_of_user()
        parent = self._incoming(account)
        at = fields.Datetime.now() + timedelta(hours=20)
        kept = self._send(parent, text="Kept", scheduled_at=fields.Datetime.to_string(at))
        result = self._send(parent, text="Only if silent", cancel_on_reply=True,
                            scheduled_at=fields.Datetime.to_string(at))
        answer = (b"From: Greta Green <greta@client.example>\r\nTo: " + account.email.encode()
                  + b"\r\nSubject: Re: Prices for 2027\r\nMessage-ID: <prices-2@client.example>"
                  b"\r\nIn-Reply-To: <prices-1@client.example>\r\n"
                  b"Date: " + email.utils.format_datetime(
                      fields.Datetime.now().replace(tzinfo=UTC)
                      + timedelta(minutes=1)).encode()
                  + b"\r\n\r\nNever mind, found them.\r\n")
        self.dovecot.append(account.email, "INBOX", answer)
        account._sync()
        Mail = self.env["mail.mail"].sudo()
        self.assertEqual(Mail.browse(result["mail_id"]).state, "cancel")
        self.assertEqual(Mail.browse(kept["mail_id"]).state, "outgoing")

    def test_drafts_survive_and_stay_private(self):
        account = self._account_of_user()
        parent = self._incoming(account)
        conversation = parent.conversation_id
        Draft = self.env["crm.inbox.draft"].with_user(self.user)
        self.assertFalse(Draft._transient, "a persistent model, not vacuumed")
        attachment = self.env["ir.attachment"].with_user(self.user).create(
            {"name": "prices.txt", "raw": b"2027 prices"})
        Draft.inbox_save_draft(conversation.id, {
            "message_id": parent.id, "mode": "reply_all", "to": "greta@client.example",
            "text": "Dear Greta,", "attachment_ids": [attachment.id]})
        Draft.inbox_save_draft(conversation.id, {"text": "Dear Greta, here"})
        saved = Draft.inbox_load_draft(conversation.id)
        self.assertEqual((saved["text"], saved["mode"], saved["to"], saved["message_id"]),
                         ("Dear Greta, here", "reply_all", "greta@client.example", parent.id))
        self.assertEqual([a["name"] for a in saved["attachments"]], ["prices.txt"])
        self.assertEqual(Draft.search_count([]), 1, "one draft per conversation")
        # private to its author, also for an inbox administrator
        other = self.env["crm.inbox.draft"].with_user(self.colleague)
        self.assertFalse(other.search([]))
        self.assertFalse(other.inbox_load_draft(conversation.id))
        # sending hands the draft to the queued mail (Undo gives it back)
        result = self._send(parent, text="Dear Greta, here")
        self.assertFalse(Draft.inbox_load_draft(conversation.id))
        draft = self.env["crm.inbox.compose"].with_user(self.user).inbox_undo_send(
            result["mail_id"])
        self.assertEqual((draft["text"], draft["conversation_id"]),
                         ("Dear Greta, here", conversation.id))

    def test_templates_rendered_against_the_lead_and_saved_from_the_box(self):
        account = self._account_of_user()
        lead = self.env["crm.lead"].create({
            "name": "2027 prices", "partner_id": self.customer.id,
            "email_from": "greta@client.example", "user_id": self.user.id})
        parent = self._incoming(account)
        self.assertIn(lead, parent.conversation_id.lead_ids)
        pricelist = self.env["ir.attachment"].create({
            "name": "pricelist.txt", "raw": b"2027 pricelist", "res_model": "mail.template"})
        template = self.env["mail.template"].create({
            "name": "Prices", "model_id": self.env["ir.model"]._get_id("crm.lead"),
            "subject": "Prices for {{ object.partner_id.name }}",
            "body_html": '<p>Dear <t t-out="object.partner_id.name"/>,</p>'
                         "<p>here are the prices.</p>",
            "attachment_ids": [(6, 0, pricelist.ids)]})
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        self.assertIn(template.id, [t["id"] for t in Compose.inbox_templates(parent.id)])
        rendered = Compose.inbox_render_template(parent.id, template.id)
        self.assertEqual(rendered["subject"], "Prices for Greta Green")
        self.assertIn("Dear Greta Green,", rendered["text"])
        [copy] = rendered["attachments"]
        self.assertEqual(copy["name"], "pricelist.txt")
        self.assertNotEqual(copy["id"], pricelist.id, "a copy goes with the mail")
        self.user.signature = "<p>Sam Sales, Acme sales</p>"
        self.smtpd.clear()
        self._send(parent, text=rendered["text"], attachment_ids=[copy["id"]])
        self._run_mail_queue(delay=11)
        sent = parse(self.smtpd.wait_for(1)[0])
        text = sent.get_body(("plain",)).get_content()
        self.assertIn("Dear Greta Green,", text)
        self.assertIn("Sam Sales, Acme sales", text, "with the user's signature")
        self.assertEqual({p.get_filename(): p.get_content() for p in sent.iter_attachments()},
                         {"pricelist.txt": "2027 pricelist"})
        # the box saved as a template, for this kind of record
        saved = Compose.inbox_save_template(parent.id, "Short answer", "Re: prices",
                                            "Hello <b>Greta</b>\n\nSee you")
        new = self.env["mail.template"].browse(saved["id"])
        self.assertEqual(new.model, "crm.lead")
        self.assertIn("<p>Hello &lt;b&gt;Greta&lt;/b&gt;</p>", str(new.body_html))
        self.assertIn(new.id, [t["id"] for t in Compose.inbox_templates(parent.id)])
