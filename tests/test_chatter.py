"""Synced emails in the chatter of contacts and leads (issue 13), through the ORM.

Mail is real: built with ``engine.mime``, APPENDed to Dovecot and synced. The
chatter's fetch (``_crm_inbox_chatter_fetch``, behind ``/crm_inbox/chatter/emails``)
is checked for the levels (full; subject, participants and date; none), its search,
its count, the unlink memory, followers' notifications, the smart button, and the
number of SQL queries of a first page, which must not grow with the emails.
"""

import json
import logging
from datetime import UTC, datetime, timedelta

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..engine.mime import Address, Attachment, build_message
from .common import CrmInboxCase
from .test_security import setup_security_fixture

_logger = logging.getLogger(__name__)
CLIENT = Address("Nora Northwind", "nora@northwind.example")


def make_email(to, subject, body, date, attachments=(), message_id=None, sender=CLIENT):
    """RFC 5322 bytes of one email from *sender* to *to* dated *date* (aware)."""
    return build_message(
        from_=sender, to=[to], subject=subject, body_text=body, date=date,
        attachments=attachments, message_id=message_id)[1]


@tagged("post_install", "-at_install")
class TestChatter(CrmInboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        setup_security_fixture(cls)

    def _fetch(self, record, user, **kwargs):
        return record.with_user(user)._crm_inbox_chatter_fetch(**kwargs)

    # levels ------------------------------------------------------------------
    def test_quoted_history_is_folded_apart(self):
        """The chatter gets the new text and, apart, the quoted history (folded behind
        "…"), both through the one renderer."""
        message = self.p_conv.inbox_message_ids[:1].sudo()
        message.write({"body_html": '<p>NEW-TEXT</p><div class="gmail_quote">On Mon, Greta '
                                    'wrote:<blockquote>OLD-TEXT<img src="http://127.0.0.2/t.png">'
                                    '</blockquote></div>'})
        rows = [r for r in self._fetch(self.greta, self.owner)["emails"]
                if r["id"] == message.id]
        self.assertEqual(len(rows), 1)
        self.assertIn("NEW-TEXT", rows[0]["body_html"])
        self.assertNotIn("OLD-TEXT", rows[0]["body_html"])
        self.assertIn("OLD-TEXT", rows[0]["body_quoted_html"])
        self.assertNotIn("127.0.0.2", rows[0]["body_quoted_html"])

    def test_levels_in_the_chatter_fetch(self):
        """A colleague sees the personal account's email (level metadata) without its body
        nor attachments, the shared one (full) with its body; none: left out."""
        for record in (self.greta, self.lead):
            rows = {r["account"]: r for r in self._fetch(record, self.other)["emails"]}
            self.assertEqual(set(rows), {"olive@example.com", "support@example.com"})
            meta = rows["olive@example.com"]
            self.assertEqual((meta["level"], meta["subject"]), ("metadata", "Private offer"))
            self.assertEqual(meta["email_from"], "Greta Green <greta@client.example>")
            self.assertTrue(meta["date"])
            for key in ("body_html", "body_quoted_html", "attachments", "attachment_list",
                        "conversation_id"):
                self.assertNotIn(key, meta)
            self.assertFalse(meta["can_open"] or meta["can_reply"])
            self.assertNotIn("PERSONAL-BODY-TEXT", json.dumps(meta))
            self.assertIn("SHARED-BODY-TEXT", rows["support@example.com"]["body_html"])
            self.assertFalse(rows["support@example.com"]["can_reply"], "not a member")
        # the owner: own mail in full, with Reply
        own = {r["account"]: r for r in self._fetch(self.greta, self.owner)["emails"]}
        self.assertIn("PERSONAL-BODY-TEXT", own["olive@example.com"]["body_html"])
        self.assertTrue(own["olive@example.com"]["can_reply"])
        self.assertEqual(own["olive@example.com"]["conversation_id"], self.p_conv.id)
        # a read member opens the shared mail but cannot reply; a reply member can
        rows = {r["account"]: r for r in self._fetch(self.greta, self.m_read)["emails"]}
        self.assertTrue(rows["support@example.com"]["can_open"])
        self.assertFalse(rows["support@example.com"]["can_reply"])
        rows = {r["account"]: r for r in self._fetch(self.greta, self.m_reply)["emails"]}
        self.assertTrue(rows["support@example.com"]["can_reply"])
        # none
        self.personal.with_user(self.owner).contact_visibility = "none"
        for record in (self.greta, self.lead):
            rows = self._fetch(record, self.other)["emails"]
            self.assertEqual([r["account"] for r in rows], ["support@example.com"])
        self.env.invalidate_all()
        self.assertEqual(self.greta.with_user(self.other).crm_inbox_email_count, 1)
        self.assertEqual(self.greta.with_user(self.owner).crm_inbox_email_count, 2,
                         "own email, and the shared one at level full")

    def test_levels_in_search_and_count(self):
        """Search: subject and participants at every level, the body only at level full;
        counts follow the levels too."""
        other = self.other
        self.assertEqual(self.greta.with_user(other).crm_inbox_email_count, 2)
        self.assertEqual(self.lead.with_user(other).crm_inbox_email_count, 2)
        found = self._fetch(self.greta, other, search_term="Private")
        self.assertEqual([r["subject"] for r in found["emails"]], ["Private offer"])
        self.assertEqual(found["count"], 1)
        # the body of a metadata-level email is no search oracle
        found = self._fetch(self.greta, other, search_term="PERSONAL-BODY-TEXT")
        self.assertEqual((found["emails"], found["count"]), ([], 0))
        self.assertEqual(len(self._fetch(self.greta, self.owner,
                                         search_term="PERSONAL-BODY-TEXT")["emails"]), 1)
        found = self._fetch(self.greta, other, search_term="SHARED-BODY-TEXT")
        self.assertEqual([r["account"] for r in found["emails"]], ["support@example.com"])
        self.personal.with_user(self.owner).contact_visibility = "none"
        self.assertEqual(self._fetch(self.greta, other, search_term="Private")["emails"], [])
        self.env.invalidate_all()  # a new request
        self.assertEqual(self.greta.with_user(other).crm_inbox_email_count, 1)
        self.assertEqual(self.lead.with_user(other).crm_inbox_email_count, 1)

    def test_other_company_portal_private_record(self):
        self.assertEqual(self._fetch(self.greta, self.foreign)["emails"], [])
        self.assertEqual(self.greta.with_user(self.foreign).crm_inbox_email_count, 0)
        with self.assertRaises(AccessError):
            self._fetch(self.greta, self.portal)
        private_lead = self.env["crm.lead"].create(
            {"name": "Not yours", "user_id": self.owner.id, "partner_id": self.greta.id})
        self.s_conv.lead_ids = [Command.link(private_lead.id)]
        with self.assertRaises(AccessError):
            self._fetch(private_lead, self.other)
        with self.assertRaises(AccessError):
            private_lead.with_user(self.other).crm_inbox_unlink_email(self.s_msg.id)

    def test_bad_cursors_are_refused_and_limit_capped(self):
        with self.assertRaises(UserError):
            self._fetch(self.greta, self.other, before=["not a date", 1])
        with self.assertRaises(UserError):
            self._fetch(self.greta, self.other, before="2026-01-01")
        with self.assertRaises(UserError):
            self._fetch(self.greta, self.other, min_date="'; DROP TABLE x; --")
        result = self._fetch(self.greta, self.other, limit=10**9)
        self.assertEqual(len(result["emails"]), 2)

    # unlink ------------------------------------------------------------------
    def test_unlink_is_remembered_for_every_copy(self):
        lead = self.lead.with_user(self.m_reply)
        self.assertEqual(lead.crm_inbox_email_count, 2)
        lead.crm_inbox_unlink_email(self.s_msg.id)
        lead.invalidate_recordset(["crm_inbox_email_count"])
        self.assertEqual([r["account"] for r in lead._crm_inbox_chatter_fetch()["emails"]],
                         ["olive@example.com"])
        self.assertEqual(lead.crm_inbox_email_count, 1)
        # still on the contact: unlinked from the lead only
        self.assertEqual(len(self.greta.with_user(self.m_reply)
                             ._crm_inbox_chatter_fetch()["emails"]), 2)
        # another copy of the same email (a move, a re-sync) stays unlinked
        self.dovecot.create_folder("support@example.com", "Archive")
        self.dovecot.append("support@example.com", "Archive", (
            b"From: Greta Green <greta@client.example>\r\nTo: support@example.com\r\n"
            b"Subject: Support ticket\r\nMessage-ID: <support@client.example>\r\n"
            b"Date: Wed, 18 Nov 2026 08:00:00 +0000\r\n\r\nSHARED-BODY-TEXT\r\n"))
        self.shared.action_test_connection()
        self.shared.folder_ids.filtered(lambda f: f.name == "Archive").sync_enabled = True
        self.shared._sync()
        copies = self.env["crm.inbox.message"].search(
            [("message_id", "=", self.s_msg.message_id)])
        self.assertEqual(lead._crm_inbox_chatter_fetch()["emails"][0]["account"],
                         "olive@example.com")
        self.assertEqual(len(copies), 2, "a second copy synced")
        self.assertEqual(len(lead._crm_inbox_chatter_fetch()["emails"]), 1, "both unlinked")
        # a user who cannot edit the lead cannot unlink; nor unlink what they do not see
        with self.assertRaises(AccessError):
            self.lead.with_user(self.portal).crm_inbox_unlink_email(self.p_msg.id)
        self.personal.with_user(self.owner).contact_visibility = "none"
        with self.assertRaises(AccessError):
            self.greta.with_user(self.other).crm_inbox_unlink_email(self.p_msg.id)

    # smart button, notifications -----------------------------------------------
    def test_smart_button_opens_the_inbox_client(self):
        self.assertEqual(self.greta.action_crm_inbox_open_inbox(), {
            "type": "ir.actions.client", "tag": "crm_inbox.client",
            "name": "Emails of Greta Green",
            "context": {"crm_inbox_partner_id": self.greta.id}})
        action = self.lead.action_crm_inbox_conversations()
        self.assertEqual((action["type"], action["tag"], action["context"]),
                         ("ir.actions.client", "crm_inbox.client",
                          {"crm_inbox_lead_id": self.lead.id}))
        self.assertEqual(self.greta.action_crm_inbox_messages()["context"],
                         {"crm_inbox_partner_id": self.greta.id})
        # the tabs are gone from both forms; the button stays
        for model in ("res.partner", "crm.lead"):
            arch = self.env[model].with_user(self.other).get_view(view_type="form")["arch"]
            self.assertNotIn("crm_inbox_team_emails", arch)
            self.assertNotIn('name="crm_inbox_emails"', arch)
            self.assertIn("action_crm_inbox_open_inbox", arch)

    def test_followers_get_no_notification_from_a_synced_email(self):
        account = self._connect(self._fresh_account(user=self.owner))
        follower = self.env["res.partner"].create({"name": "Fiona Follower",
                                                   "email": "fiona@example.com"})
        lead = self.env["crm.lead"].create({"name": "Followed deal",
                                            "email_from": CLIENT.email})
        lead.message_subscribe(partner_ids=follower.ids)
        messages_before = self.env["mail.message"].search_count([])
        notifications_before = self.env["mail.notification"].search_count([])
        mails_before = self.env["mail.mail"].search_count([])
        self.dovecot.append(account.email, "INBOX", make_email(
            account.email, "Quote request", "FOLLOWED-BODY", datetime.now(UTC)))
        account._sync()
        self.assertEqual(len(lead._crm_inbox_chatter_fetch()["emails"]), 1)
        self.assertFalse(self.env["mail.message"].search(
            [("model", "=", "crm.lead"), ("res_id", "=", lead.id),
             ("body", "ilike", "FOLLOWED-BODY")]), "not copied into mail.message")
        self.assertEqual(self.env["mail.notification"].search_count([]), notifications_before)
        self.assertEqual(self.env["mail.mail"].search_count([]), mails_before)
        self.assertLessEqual(self.env["mail.message"].search_count([]) - messages_before, 0,
                             "no chatter message for a synced email")

    # bounded SQL -----------------------------------------------------------------
    def _queries_of_first_page(self, record, user):
        record = record.with_user(user)
        self.env.invalidate_all()
        self.env.registry.clear_cache()
        record._crm_inbox_chatter_fetch()  # warm the ormcache (rules, groups)
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        result = record._crm_inbox_chatter_fetch()
        count = self.env.cr.sql_log_count - before
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        record.read(["crm_inbox_email_count"])
        return count + self.env.cr.sql_log_count - before, result

    def test_chatter_open_costs_a_bounded_number_of_queries(self):
        """The first page of a lead's chatter costs the same queries with 6 emails as with
        45 (bodies, attachments and cid: images read in bulk), for the owner (full,
        openable) and a colleague (metadata)."""
        account = self._connect(self._fresh_account(user=self.owner))
        colleague_view = {}
        counts = {}
        start = datetime.now(UTC) - timedelta(days=5)
        sent = 0
        lead = self.env["crm.lead"].create({"name": "Bulk deal", "email_from": CLIENT.email,
                                            "user_id": False})
        png = (b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
        for total in (6, 45):
            while sent < total:
                self.dovecot.append(account.email, "INBOX", make_email(
                    account.email, f"Order {sent}", f"Body {sent}", start + timedelta(
                        minutes=sent), attachments=[Attachment(
                            filename=f"order-{sent}.pdf", content_type="application/pdf",
                            data=b"%PDF-1.4 " + str(sent).encode(), content_id="",
                            inline=False), Attachment(
                            filename=f"logo-{sent}.png", content_type="image/png", data=png,
                            content_id=f"logo{sent}@x", inline=True)]))
                sent += 1
            account._sync()
            counts[total], result = self._queries_of_first_page(lead, self.owner)
            self.assertEqual(len(result["emails"]), min(total, 30))
            self.assertTrue(all(len(r["attachment_list"]) == 2 for r in result["emails"]))
            colleague_view[total], result = self._queries_of_first_page(lead, self.other)
            self.assertTrue(all(r["level"] == "metadata" for r in result["emails"]))
        _logger.info("crm_inbox: chatter first page + count, SQL queries: owner %s, "
                     "metadata colleague %s (6 and 45 emails)", counts, colleague_view)
        self.assertEqual(counts[6], counts[45], counts)
        self.assertEqual(colleague_view[6], colleague_view[45], colleague_view)
        self.assertLess(max(counts[45], colleague_view[45]), 30)
