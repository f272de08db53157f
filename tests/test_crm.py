from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import CrmInboxCase

RAW = (b"From: Greta Green <Greta.Green@Client.Example>\r\nTo: {to}\r\nCc: boss@client.example\r\n"
       b"Subject: Partnership\r\nMessage-ID: <p-1@client.example>\r\n"
       b"Date: Wed, 18 Nov 2026 08:00:00 +0000\r\n\r\nLet's talk.\r\n")


@tagged("post_install", "-at_install")
class TestCrmLinks(CrmInboxCase):

    def _deliver(self, account, raw=RAW):
        self.dovecot.append(account.email, "INBOX", raw.replace(b"{to}", account.email.encode()))
        account._sync()

    def test_existing_contact_matched_case_insensitively(self):
        partner = self.env["res.partner"].create({"name": "Greta", "email": "greta.green@client.example"})
        account = self._connect(self._fresh_account(create_partners=False))
        self._deliver(account)
        message = self.env["crm.inbox.message"].search([("account_id", "=", account.id)])
        self.assertEqual(message.author_id, partner)
        self.assertEqual(partner.crm_inbox_message_count, 1)
        self.assertFalse(self.env["res.partner"].search([("email", "=ilike", "boss@client.example")]),
                         "no contact created when the option is off")

    def test_unknown_sender_becomes_contact_but_not_own_address(self):
        account = self._connect(self._fresh_account())
        self._deliver(account)
        partner = self.env["res.partner"].search([("email_normalized", "=", "greta.green@client.example")])
        self.assertEqual(partner.name, "Greta Green")
        self.assertFalse(self.env["res.partner"].search([("email_normalized", "=", account.email)]))
        self.assertFalse(self.env["res.partner"].search([("email_normalized", "=", "boss@client.example")]),
                         "only senders become contacts")

    def test_lead_linked_by_contact_or_email(self):
        partner = self.env["res.partner"].create({"name": "Greta", "email": "greta.green@client.example"})
        lead_by_partner = self.env["crm.lead"].create({"name": "Deal A", "partner_id": partner.id})
        lead_by_email = self.env["crm.lead"].create({"name": "Deal B", "email_from": "boss@client.example"})
        account = self._connect(self._fresh_account())
        self._deliver(account)
        conversation = self.env["crm.inbox.conversation"].search([("account_id", "=", account.id)])
        self.assertEqual(conversation.lead_ids, lead_by_partner | lead_by_email)
        self.assertEqual(lead_by_partner.crm_inbox_conversation_count, 1)

    def test_rewritten_reply_joins_by_subject(self):
        account = self._connect(self._fresh_account())
        self._deliver(account)
        reply = (b"From: boss@client.example\r\nTo: {to}\r\nSubject: RE: Partnership\r\n"
                 b"Message-ID: <p-2@client.example>\r\nDate: Wed, 18 Nov 2026 09:00:00 +0000\r\n"
                 b"\r\nAgreed.\r\n")
        self._deliver(account, reply)
        conversations = self.env["crm.inbox.conversation"].search([("account_id", "=", account.id)])
        self.assertEqual(len(conversations), 1)
        self.assertEqual(conversations.email_count, 2)

    def test_inbox_opens_on_the_primary_account(self):
        first = self._connect(self._fresh_account())
        second = self._connect(self._fresh_account())
        self.user.sudo().crm_inbox_primary_account_id = second
        action = self.env["crm.inbox.account.setup"].with_user(self.user).action_open_inbox()
        self.assertEqual(action["tag"], "crm_inbox.client")
        self.assertEqual(action["context"]["crm_inbox_account_id"], second.id)
        self.assertNotEqual(first, second)

    def test_inbox_refuses_to_open_when_integrated_email_is_off(self):
        self._connect(self._fresh_account())
        self.env.company.crm_inbox_enabled = False
        with self.assertRaisesRegex(UserError, "Use integrated email"):
            self.env["crm.inbox.account.setup"].with_user(self.user).action_open_inbox()
