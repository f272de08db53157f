"""Chromium tours of the CRM Inbox mail client (static/tests/tours/inbox_client_tours.js)
against a real Dovecot and aiosmtpd: what the tours do in the browser is checked on the
servers afterwards (SMTP envelope and headers, IMAP folders and flags)."""

import email
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from unittest.mock import patch

from odoo.sql_db import TestCursor
from odoo.tests import HttpCase, tagged

from .common import CrmInboxCase

try:
    from odoo.addons.bus.models.bus import channel_with_db, dispatch, hashable
    from odoo.addons.bus.websocket import WebsocketConnectionHandler
except ImportError:  # pragma: no cover - bus is a dependency of mail
    dispatch = None

LUCIA = "Lucía Fernández <lucia@iberica.example>"
NOW = datetime.now(UTC).replace(microsecond=0)


def _mail(sender, to, subject, text, days_ago, msgid, refs=(), pdf=None):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = msgid
    msg["Date"] = format_datetime(NOW - timedelta(days=days_ago))
    if refs:
        msg["In-Reply-To"] = refs[-1]
        msg["References"] = " ".join(refs)
    msg.set_content(text)
    if pdf:
        msg.add_attachment(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
                           maintype="application", subtype="pdf", filename=pdf)
    return msg.as_bytes(policy=policy.SMTP)


class InboxClientCase(HttpCase, CrmInboxCase):
    """An HttpCase with the fixture servers of CrmInboxCase and a small mailbox of the
    owner: a three-email thread with quoted history (two from Lucía, our reply in
    Sent), then Facture, Rechnung, Angebot and Muestra, newest first."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user.sudo().signature = "<p>--<br>Sam Sales</p>"
        cls.lucia = cls.env["res.partner"].create(
            {"name": "Lucía Fernández", "email": "lucia@iberica.example"})

    def _mailbox(self):
        account = self._connect(self._fresh_account(name="Sales mailbox"))
        self.box = box = account.email
        ids = [make_msgid(domain="iberica.example") for _i in range(3)]
        self.thread_ids = ids
        inbox = [
            _mail(LUCIA, box, "Pedido 289: confirmación de entrega",
                  "Buenos días:\n¿Nos confirma la fecha de entrega del pedido 289?\n\n"
                  "Saludos,\nLucía", 3, ids[0]),
            _mail(LUCIA, box, "Re: Pedido 289: confirmación de entrega",
                  "Muchas gracias por la respuesta. Lo revisamos y le decimos.\n\n"
                  "On Sat, Nov 28, 2026 at 10:00 AM Sam Sales <sales@example.com> wrote:\n"
                  "> Dear Lucía,\n> Delivery is planned for Monday.\n", 0.01, ids[2],
                  refs=ids[:2], pdf="pedido-289.pdf"),
            _mail("Marc Lefèvre <marc@lefevre.example>", box, "Facture n° 1182",
                  "Bonjour, voici la facture.", 0.5, make_msgid()),
            _mail("Anna Schmidt <anna@schmidt.example>", box, "Rechnung 4471",
                  "Hallo, die Lieferung nach Neuseeland ist unterwegs.", 1, make_msgid()),
            _mail("Jan de Vries <jan@vries.example>", box, "Angebot 77",
                  "Guten Tag, anbei das Angebot.", 1.5, make_msgid()),
            _mail("Pia Rossi <pia@rossi.example>", box, "Muestra gratuita",
                  "Ciao!", 2, make_msgid()),
        ]
        for raw in inbox:
            self.dovecot.append(box, "INBOX", raw)
        self.dovecot.append(box, "Sent", _mail(
            f"Sam Sales <{box}>", LUCIA, "Re: Pedido 289: confirmación de entrega",
            "Dear Lucía,\nDelivery is planned for Monday.\n\n"
            "On Thu, Nov 26, 2026 Lucía Fernández wrote:\n> Buenos días:\n", 2.5, ids[1],
            refs=ids[:1]), flags=["\\Seen"])
        account._sync()
        self.assertEqual(self.env["crm.inbox.conversation"].search_count(
            [("account_id", "=", account.id)]), 5)
        return account

    def _conversation(self, account, subject):
        return self.env["crm.inbox.conversation"].search(
            [("account_id", "=", account.id), ("name", "ilike", subject)])

    def _server(self, folder):
        """``{subject: set of flags}`` of a Dovecot folder of the owner."""
        flags = self.dovecot.flags(self.box, folder)
        result = {}
        for uid, raw in self.dovecot.messages(self.box, folder).items():
            subject = email.message_from_bytes(raw, policy=policy.default)["Subject"]
            result[str(subject)] = set(flags.get(uid, ()))
        return result


@tagged("post_install", "-at_install")
class TestInboxClientUi(InboxClientCase):

    def test_open_read_and_reply_inline(self):
        account = self._mailbox()
        self.smtpd.clear()
        self.start_tour("/odoo", "crm_inbox_client_tour", login="crm_inbox_sales", timeout=180)
        self._run_mail_queue(delay=11)
        received = self.smtpd.wait_for(1)[0]
        sent = email.message_from_bytes(received.data, policy=policy.default)
        self.assertEqual(received.rcpt_tos, ["lucia@iberica.example"])
        self.assertEqual(sent["In-Reply-To"], self.thread_ids[2])
        self.assertEqual(sent["References"].split(), self.thread_ids)
        body = sent.get_body(("plain",)).get_content()
        self.assertIn("la entrega es el lunes 7.", body)
        self.assertEqual(body.count("--"), 1, body)
        # the file dropped on the reply box
        files = {part.get_filename(): part.get_content() for part in sent.iter_attachments()}
        self.assertEqual(files, {"delivery-notes.txt": "Delivery notes: Monday 7"})
        self.assertIn("Re: Pedido 289: confirmación de entrega", self._server("Sent"))
        thread = self._conversation(account, "Pedido 289")
        self.assertEqual(len(thread.inbox_message_ids), 4)
        # opened: the newest unread email was marked read, on the server too
        self.assertIn("\\Seen", self._server("INBOX")["Re: Pedido 289: confirmación de entrega"])

    def test_every_action_from_its_shortcut(self):
        account = self._mailbox()
        account.sudo().write({"account_type": "shared", "member_ids": [
            (0, 0, {"user_id": self.colleague.id, "access_level": "reply"})]})
        self.start_tour("/odoo/crm-inbox", "crm_inbox_client_keys_tour",
                        login="crm_inbox_sales", timeout=240)
        archive = self._server("Archive")
        # flagged with s, read on opening, then unread again with u
        self.assertIn("\\Flagged", archive["Facture n° 1182"])
        self.assertNotIn("\\Seen", archive["Facture n° 1182"])
        self.assertIn("Rechnung 4471", self._server("Junk"))
        self.assertIn("Angebot 77", self._server("Trash"))
        inbox = self._server("INBOX")
        self.assertNotIn("Facture n° 1182", inbox)
        self.assertNotIn("Angebot 77", inbox)
        self.assertFalse(self._conversation(account, "Angebot 77"))
        self.assertEqual(self._conversation(account, "Muestra").user_id, self.colleague)
        # the last step flagged the selected conversation from the toolbar button
        self.assertIn("\\Flagged", inbox["Muestra gratuita"])
        # bulk: both flagged (the newest email of each)
        self.assertIn("\\Flagged", inbox["Re: Pedido 289: confirmación de entrega"])
        account._sync()
        self.assertTrue(self._conversation(account, "Muestra").is_flagged)
        self.assertTrue(self._conversation(account, "Pedido 289").is_flagged)

    def test_url_reopens_the_conversation(self):
        account = self._mailbox()
        thread = self._conversation(account, "Pedido 289")
        self.start_tour(f"/odoo/crm-inbox/{thread.id}", "crm_inbox_client_url_tour",
                        login="crm_inbox_sales", timeout=120)


@tagged("post_install", "-at_install")
class TestInboxClientLive(InboxClientCase):
    """New mail stored by a sync reaches the open client through the bus.

    Odoo turns the websocket off in tests and a test cursor drops post-commit hooks
    (where bus.bus sends NOTIFY): the test allows the websocket, as bus's own
    WebsocketCase does, and hands each commit's bus channels to the websockets
    subscribed to them, as WebsocketCase.trigger_notification_dispatching does."""

    @contextmanager
    def _bus_in_tests(self):
        original = TestCursor.commit

        def commit(cursor):
            channels = list(cursor.postcommit.data.get("bus.bus.channels", ()))
            original(cursor)
            for channel in channels:
                for websocket in list(dispatch._channels_to_ws.get(hashable(channel), ())):
                    websocket.trigger_notification_dispatching()

        with patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True), \
                patch.object(TestCursor, "commit", commit):
            yield

    def test_new_mail_appears_without_reload(self):
        if dispatch is None:
            self.skipTest("bus not importable")
        account = self._mailbox()
        self.dovecot.append(self.box, "INBOX", _mail(
            "田中 愛子 <aiko@tanaka.example>", self.box, "新しい注文", "よろしくお願いします。",
            0, make_msgid()))
        self.assertTrue(channel_with_db)
        with self._bus_in_tests():
            self.start_tour("/odoo/crm-inbox", "crm_inbox_client_live_tour",
                            login="crm_inbox_sales", timeout=120)
        self.assertTrue(self._conversation(account, "新しい注文"))


@tagged("post_install", "-at_install")
class TestInboxClientMobile(InboxClientCase):
    browser_size = "375x740"
    touch_enabled = True

    def test_phone_shows_list_then_thread(self):
        self._mailbox()
        self.start_tour("/odoo/crm-inbox", "crm_inbox_client_mobile_tour",
                        login="crm_inbox_sales", timeout=120)
