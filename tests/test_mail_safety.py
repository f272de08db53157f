"""Inbound mail is inert: findings 1-4 of the security review (issue 8).

Each test delivers a real message through Dovecot and syncs it, then looks at
what a display path would send to the browser.
"""

import json
from email.message import EmailMessage

from lxml import html as lxml_html
from odoo import SUPERUSER_ID
from odoo.tests import tagged

from .common import CrmInboxCase

REMOTE = "127.0.0.2"


def _mail(to, subject, html, attachments=(), headers=(), sender="Carla <carla@customer.example>"):
    msg = EmailMessage()
    for name, value in headers:
        msg[name] = value
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash(subject))}@customer.example>"
    msg["Date"] = "Mon, 30 Nov 2026 10:00:00 +0000"
    msg.set_content("plain part")
    msg.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@tagged("post_install", "-at_install")
class TestMailSafety(CrmInboxCase):

    def _deliver(self, account, raw):
        self.dovecot.append(account.email, "INBOX", raw)
        # as the sync cron does (user_root: may write views, so nothing forces text/plain)
        account.with_user(SUPERUSER_ID)._sync()
        return self.env["crm.inbox.message"].search(
            [("account_id", "=", account.id)], order="id desc", limit=1)

    def test_finding1_escaped_leading_text_stays_escaped(self):
        """An HTML body whose text starts with ``&lt;img onerror&gt;`` followed by an
        ``<img>`` must not come out as a live ``<img onerror>`` in body_display."""
        account = self._connect(self._fresh_account(create_partners=False))
        message = self._deliver(account, _mail(
            account.email, "finding 1",
            '<html><body>&lt;img src=x onerror="window.__pwned=1"&gt;'
            '<img src="https://127.0.0.2/a.png"></body></html>'))
        doc = lxml_html.fragment_fromstring(message.body_display, create_parent="div")
        live = [el.tag for el in doc.iter() if el.get("onerror") is not None]
        self.assertEqual(live, [], f"live event handler in body_display: {message.body_display}")

    def test_finding2_no_remote_reference_on_any_display_path(self):
        """CSS url(), media, srcset, poster, background: nothing remote before consent,
        on the message, the contact's and lead's chatter (synced emails), and the reply quote."""
        partner = self.env["res.partner"].create(
            {"name": "Carla", "email": "carla@customer.example"})
        lead = self.env["crm.lead"].create(
            {"name": "Deal", "partner_id": partner.id, "user_id": self.user.id})
        account = self._connect(self._fresh_account(create_partners=False))
        message = self._deliver(account, _mail(
            account.email, "finding 2",
            f'<div style="background-image:url(http://{REMOTE}/css.png)">css</div>'
            f'<table background="http://{REMOTE}/bg.png"><tr><td>t</td></tr></table>'
            f'<video poster="http://{REMOTE}/poster.png" src="http://{REMOTE}/v.mp4"></video>'
            f'<audio src="http://{REMOTE}/a.mp3"></audio>'
            f'<img srcset="http://{REMOTE}/srcset.png 2x" src="http://{REMOTE}/img.png">'))
        self.assertTrue(message.has_remote_content)
        paths = {
            "message": message.body_display,
            "contact chatter": json.dumps(
                partner.with_user(self.user)._crm_inbox_chatter_fetch()["emails"]),
            "lead chatter": json.dumps(
                lead.with_user(self.user)._crm_inbox_chatter_fetch()["emails"]),
            "reply quote": self.env["crm.inbox.compose"].with_user(self.user).with_context(
                default_parent_id=message.id, default_mode="reply",
                default_account_id=account.id).default_get(["body"])["body"],
        }
        for path, value in paths.items():
            self.assertNotIn(REMOTE, str(value or ""), f"remote reference on {path}")
        # after consent: images, and only images
        message.with_user(self.user).action_show_remote_content()
        message.invalidate_recordset()
        shown = message.body_display
        self.assertIn(f"http://{REMOTE}/img.png", shown)
        for other in ("css.png", "bg.png", "poster.png", "v.mp4", "a.mp3", "srcset.png"):
            self.assertNotIn(other, shown)

    def test_finding3_html_and_svg_attachments_stored_as_text(self):
        account = self._connect(self._fresh_account(create_partners=False))
        message = self._deliver(account, _mail(
            account.email, "finding 3", "<p>files</p>", attachments=[
                ("x.html", "text/html", b"<script>window.__pwned=1</script>"),
                ("x.svg", "image/svg+xml",
                 b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=1"/>'),
                ("x.xml", "application/xml", b"<a/>"),
            ]))
        types = {a.name: a.mimetype for a in message.attachment_ids}
        self.assertEqual(types, {"x.html": "text/plain", "x.svg": "text/plain",
                                 "x.xml": "text/plain"})

    def test_finding4_spoofed_sender_flagged_and_never_creates_contacts(self):
        partner = self.env["res.partner"].create(
            {"name": "Carla", "email": "carla@customer.example"})
        account = self._connect(self._fresh_account(create_partners=True))
        forged = [("Authentication-Results",
                   ("mx.example.com; spf=fail smtp.mailfrom=evil.example; dkim=none; "
                   "dmarc=fail (p=reject) header.from=customer.example"))]
        message = self._deliver(account, _mail(account.email, "finding 4", "<p>pay me</p>",
                                               headers=forged))
        self.assertEqual(message.author_id, partner, "linked to the existing contact...")
        self.assertEqual(message.auth_dmarc, "fail")
        self.assertTrue(message.auth_warning, "...but with the warning visible")
        # an unknown forged sender does not become a contact
        self._deliver(account, _mail(account.email, "finding 4b", "<p>hi</p>", headers=forged,
                                     sender="Boss <boss@unknown-forged.example>"))
        self.assertFalse(self.env["res.partner"].search(
            [("email_normalized", "=", "boss@unknown-forged.example")]))
        # a genuine, aligned message carries no warning
        genuine = self._deliver(account, _mail(
            account.email, "finding 4c", "<p>hello</p>", headers=[(
                "Authentication-Results",
                ("mx.example.com; spf=pass smtp.mailfrom=customer.example; "
                "dkim=pass header.d=customer.example; dmarc=pass header.from=customer.example"))]))
        self.assertEqual(genuine.auth_dmarc, "pass")
        self.assertFalse(genuine.auth_warning)
