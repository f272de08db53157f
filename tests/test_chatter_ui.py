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

from odoo.tests import HttpCase, new_test_user, tagged

from ..testkit.demo_mail import demo_mailbox
from ..testkit.mail_servers import DovecotServer, SMTPTestServer
from .common import COLLEAGUE, COLLEAGUE_PASSWORD, OWNER, OWNER_PASSWORD, CrmInboxCase

NORTHWIND = "Northwind Traders: annual supply contract"
SARAH = "sarah.oconnor@northwind-traders.co.uk"
NOTE = "Called Sarah about the volumes"


@tagged("post_install", "-at_install")
class TestChatterTour(HttpCase):

    _create_account = CrmInboxCase.__dict__["_create_account"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        users = {OWNER: OWNER_PASSWORD, COLLEAGUE: COLLEAGUE_PASSWORD}
        cls.dovecot = DovecotServer(users=users)
        cls.dovecot.start()
        cls.addClassCleanup(cls.dovecot.stop)
        cls.smtpd = SMTPTestServer(users=users)
        cls.smtpd.start()
        cls.addClassCleanup(cls.smtpd.stop)
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
