"""Chromium tours of the lead's chatter with synced emails (issue 13).

The README's demo mailbox (``testkit.demo_mail``, 200 messages) is APPENDed to a real
Dovecot and synced; the lead "Northwind Traders: annual supply contract" gets a log note
dated between two of its emails. In headless Chromium:

1. the salesperson sees the emails interleaved by date with the note, bodies in the
   sandboxed frame, and replies from the chatter: the reply reaches aiosmtpd with its
   threading headers and, after the next sync, is in the same chatter once;
2. a colleague at the "subject and metadata" level sees subjects, participants and
   dates, no body; with the level "none", no email at all.
"""

import json
from datetime import UTC, datetime, timedelta

from odoo.tests import HttpCase, new_test_user, tagged

from ..engine.mime import Address
from ..testkit.demo_mail import demo_mailbox
from .common import (
    COLLEAGUE,
    COLLEAGUE_PASSWORD,
    OWNER,
    OWNER_PASSWORD,
    MailServersMixin,
    start_mail_servers,
)
from .test_chatter import make_email

NORTHWIND = "Northwind Traders: annual supply contract"
SARAH = "sarah.oconnor@northwind-traders.co.uk"
NOTE = "Called Sarah about the volumes"


@tagged("post_install", "-at_install")
class TestChatterTour(HttpCase):

    _create_account = MailServersMixin.__dict__["_create_account"]
    _run_mail_queue = MailServersMixin._run_mail_queue

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        users = {OWNER: OWNER_PASSWORD, COLLEAGUE: COLLEAGUE_PASSWORD}
        start_mail_servers(cls, users)
        cls.env["ir.config_parameter"].sudo().set_param("crm_inbox.allow_private_hosts", "True")
        cls.user = new_test_user(
            cls.env, login="chatter_sales", name="Sam Sales", email=OWNER,
            groups="base.group_user,sales_team.group_sale_salesman")
        cls.colleague = new_test_user(
            cls.env, login="chatter_colleague", name="Cole League", email=COLLEAGUE,
            groups="base.group_user,sales_team.group_sale_salesman_all_leads")
        for message in demo_mailbox(owner=OWNER, count=200):
            cls.dovecot.append(OWNER, message.folder, message.raw, message.flags,
                               message.msg_time)
        cls.lead = cls.env["crm.lead"].create({
            "name": NORTHWIND, "email_from": SARAH, "type": "opportunity",
            "user_id": cls.user.id})
        cls.account = cls._create_account(user=cls.user)
        cls.account.action_test_connection()
        for _run in range(20):
            cls.account._sync()
            if not cls.account._sync_unfinished():
                break
        emails = cls.env["crm.inbox.message"].search(
            [("conversation_id.lead_ids", "=", cls.lead.id)], order="date desc")
        assert len(emails) >= 3, f"{len(emails)} Northwind emails"
        cls.emails = emails
        # a log note between the two newest emails
        note = cls.lead.with_user(cls.user).message_post(
            body=NOTE, message_type="comment", subtype_xmlid="mail.mt_note")
        note.sudo().date = emails[1].date + (emails[0].date - emails[1].date) / 2
        assert emails[1].date < note.date < emails[0].date

    def test_lead_chatter_reply_and_sync(self):
        url = f"/odoo/crm.lead/{self.lead.id}"
        self.start_tour(url, "crm_inbox_chatter_lead_tour", login="chatter_sales", timeout=120)
        self._run_mail_queue()
        received = self.smtpd.wait_for(1, timeout=10)
        self.assertEqual(len(received), 1)
        raw = received[0].data
        self.assertIn(b"[chatter tour]", raw)
        self.assertIn(b"In-Reply-To: ", raw)
        reply = self.env["crm.inbox.message"].search([("subject", "ilike", "[chatter tour]")])
        self.assertEqual(len(reply), 1)
        self.assertEqual(reply.direction, "out")
        self.assertIn(self.lead, reply.conversation_id.lead_ids)
        self.account._sync()
        reply = self.env["crm.inbox.message"].search([("subject", "ilike", "[chatter tour]")])
        self.assertEqual(len(reply), 1, "the sync recognised the sent copy (no duplicate)")
        self.assertTrue(reply.imap_uid, "the copy has its UID in Sent after the sync")
        self.start_tour(url, "crm_inbox_chatter_after_sync_tour", login="chatter_sales",
                        timeout=60)

    def test_colleague_levels_in_the_chatter(self):
        self.assertEqual(self.account.contact_visibility, "metadata")
        url = f"/odoo/crm.lead/{self.lead.id}"
        self.start_tour(url, "crm_inbox_chatter_metadata_tour", login="chatter_colleague",
                        timeout=60)
        self.account.contact_visibility = "none"
        self.start_tour(url, "crm_inbox_chatter_none_tour", login="chatter_colleague",
                        timeout=60)


PAGING_JS = r"""
(async () => {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    async function waitFor(fn, what, timeout = 20000) {
        const start = Date.now();
        while (Date.now() - start < timeout) {
            const value = fn();
            if (value) {
                return value;
            }
            await sleep(50);
        }
        throw new Error("timeout waiting for " + what);
    }
    const items = () => [...document.querySelectorAll(
        ".o-mail-Chatter .o-mail-Thread .o_crm_inbox_chatter_email, " +
        ".o-mail-Chatter .o-mail-Thread .o-mail-Message:not(.o_crm_inbox_chatter_email)")];
    // the hour tag (hNNNN) of each item, top to bottom; untagged: Odoo's own messages
    const hours = () => items().map((el) => {
        const match = /h(\d{4})/.exec(el.querySelector(".o_crm_inbox_email_subject, .o-mail-Message-body")?.textContent || "");
        return match ? { kind: el.matches(".o_crm_inbox_chatter_email") ? "e" : "m", hour: Number(match[1]) } : null;
    }).filter(Boolean);
    function check(step) {
        const seen = hours();
        for (let i = 1; i < seen.length; i++) {
            if (seen[i].hour >= seen[i - 1].hour) {
                throw new Error(`step ${step}: h${seen[i].hour} (${seen[i].kind}) below h${seen[i - 1].hour} (${seen[i - 1].kind})`);
            }
        }
        // gap-free: every tagged item newer than the oldest shown is shown
        const oldest = seen.length ? seen.at(-1).hour : Infinity;
        const expected = __ALL__.filter((h) => h >= oldest).length;
        if (seen.length !== expected) {
            throw new Error(`step ${step}: ${seen.length} items shown down to h${oldest}, ${expected} exist`);
        }
        return seen.length;
    }
    await waitFor(() => document.querySelector(".o-mail-Chatter .o_crm_inbox_chatter_email"), "emails");
    let step = 0;
    check(step);
    while (true) {
        const more = [...document.querySelectorAll(".o-mail-Chatter .o-mail-Thread button")]
            .find((b) => b.textContent.includes("Load More"));
        if (!more) {
            break;
        }
        const before = items().length;
        more.scrollIntoView();
        more.click();
        await waitFor(() => items().length > before, `page ${step + 2}`);
        await sleep(150);
        step++;
        check(step);
        if (step > 60) {
            throw new Error("too many pages");
        }
    }
    const total = check(step);
    const emails = new Set([...document.querySelectorAll(".o_crm_inbox_chatter_email")]
        .map((el) => el.dataset.crmInboxEmailId));
    if (total !== __ALL__.length || emails.size !== 200) {
        throw new Error(`at the end: ${total} items, ${emails.size} distinct emails`);
    }
    console.log(`chatter paging: ${step + 1} pages, ${total} items in date order`);
})().then(() => console.log("test successful"), (e) => console.error("chatter paging: " + (e.stack || e)));
"""


@tagged("post_install", "-at_install")
class TestChatterPagingBrowser(HttpCase):
    """200 synced emails and 200 notes paged through the lead's chatter in Chromium."""

    _create_account = MailServersMixin.__dict__["_create_account"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        start_mail_servers(cls, {OWNER: OWNER_PASSWORD})
        cls.env["ir.config_parameter"].sudo().set_param("crm_inbox.allow_private_hosts", "True")
        cls.user = new_test_user(
            cls.env, login="chatter_pager_ui", name="Paula Pager", email=OWNER,
            groups="base.group_user,sales_team.group_sale_salesman")

    def test_200_emails_200_notes_page_without_gap_or_duplicate(self):
        client = Address("Pat Pages", "pat@pages.example")
        lead = self.env["crm.lead"].create({"name": "Paged deal", "email_from": client.email,
                                            "user_id": self.user.id})
        account = self._create_account(user=self.user)
        account.action_test_connection()
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)
        # clustered: more emails than a page between two notes, notes only, older emails
        email_hours = [*range(50), *range(300, 400), *range(700, 750)]
        note_hours = [*range(100, 110), *range(450, 640), 760]
        for hour in email_hours:
            self.dovecot.append(OWNER, "INBOX", make_email(
                OWNER, f"Order h{hour:04d}", f"body {hour}",
                start + timedelta(hours=hour), sender=client))
        for _run in range(20):
            account._sync()
            if not account._sync_unfinished():
                break
        for hour in note_hours:
            note = lead.message_post(body=f"Note h{hour:04d}", message_type="comment",
                                     subtype_xmlid="mail.mt_note")
            note.date = (start + timedelta(hours=hour)).replace(tzinfo=None)
        self.assertEqual(lead.with_user(self.user).crm_inbox_email_count, 200)
        code = PAGING_JS.replace("__ALL__", json.dumps(sorted(email_hours + note_hours)))
        self.browser_js(f"/odoo/crm.lead/{lead.id}", code, login="chatter_pager_ui",
                        timeout=300)
