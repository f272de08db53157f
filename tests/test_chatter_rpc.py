"""The chatter's own fetch routes through real JSON-RPC, as an attacker would call them.

- ``/crm_inbox/chatter/emails`` (the synced emails of a contact or lead) for every
  role and with crafted parameters: other models, records the user cannot read,
  malformed cursors, huge pages, body words as a search oracle;
- Odoo's ``/mail/thread/messages`` and ``/mail/thread/data`` of the same records:
  synced emails are not ``mail.message``, so nothing of them is there;
- the paging of a lead with 200 synced emails and 200 notes, through both routes,
  with the same algorithm as ``static/src/chatter/thread_model_patch.js``: at every
  step what is shown is exactly everything newer than its oldest item (no gap), and
  at the end every email and note is shown once (no duplicate).
"""

import json
from datetime import UTC, datetime, timedelta

from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from ..engine.mime import Address
from .common import MailServersMixin, start_mail_servers
from .test_chatter import make_email
from .test_security import setup_security_fixture

ROUTE = "/crm_inbox/chatter/emails"
SECRET_WORDS = ("PERSONAL-BODY-TEXT",)


@tagged("post_install", "-at_install")
class TestChatterRpc(HttpCase):

    _create_account = MailServersMixin.__dict__["_create_account"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        start_mail_servers(cls, {})
        cls.user = cls.env.user
        setup_security_fixture(cls)

    def _as(self, role):
        user = self.roles[role]
        self.authenticate(user.login, user.login)
        return user

    def _emails(self, record, **params):
        return self.make_jsonrpc_request(ROUTE, {
            "thread_model": record._name, "thread_id": record.id, **params})

    def _error(self, route, params):
        try:
            self.make_jsonrpc_request(route, params)
        except JsonRpcException as exc:
            return exc.args[0] if exc.args else str(exc)
        return None

    def test_rpc_chatter_route_levels(self):
        expected = {
            # role: accounts seen on the contact, with (level) ; body of the personal mail
            "owner": {"olive@example.com": "full", "support@example.com": "full"},
            "member_read": {"olive@example.com": "metadata", "support@example.com": "full"},
            "other": {"olive@example.com": "metadata", "support@example.com": "full"},
            "inbox_admin": {"olive@example.com": "metadata", "support@example.com": "full"},
            "other_company": {},
        }
        for role, levels in expected.items():
            self._as(role)
            with self.subTest(role=role):
                # the other company's user cannot read the lead (company rule) at all
                records = (self.greta,) if role == "other_company" else (self.greta, self.lead)
                for record in records:
                    result = self._emails(record)
                    rows = {r["account"]: r["level"] for r in result["emails"]}
                    self.assertEqual(rows, levels, record._name)
                    if role != "owner":
                        for word in SECRET_WORDS:
                            self.assertNotIn(word, json.dumps(result))
        # none: the personal account's email is gone for everyone but its owner
        self.personal.contact_visibility = "none"
        self._as("other")
        for record in (self.greta, self.lead):
            result = self._emails(record)
            self.assertEqual([r["account"] for r in result["emails"]], ["support@example.com"])
            self.assertNotIn("Private offer", json.dumps(result))
            self.assertEqual(self._emails(record, search_term="Private")["emails"], [])
        count = self.make_jsonrpc_request("/web/dataset/call_kw", {
            "model": "res.partner", "method": "web_read", "args": [self.greta.ids],
            "kwargs": {"specification": {"crm_inbox_email_count": {}}}})
        self.assertEqual(count[0]["crm_inbox_email_count"], 1)
        self._as("owner")
        self.assertEqual(len(self._emails(self.greta)["emails"]), 2)
        # portal: no Inbox, nothing
        self._as("portal")
        self.assertEqual(self._emails(self.greta), {"emails": [], "has_more": False,
                                                    "enabled": False})

    def test_rpc_crafted_requests(self):
        self._as("other")
        for model in ("crm.inbox.message", "res.users", "ir.attachment", "crm.inbox.account",
                      "mail.message"):
            with self.subTest(model=model):
                result = self.make_jsonrpc_request(ROUTE, {
                    "thread_model": model, "thread_id": self.p_msg.id})
                self.assertEqual(result, {"emails": [], "has_more": False, "enabled": False})
        private_lead = self.env["crm.lead"].create(
            {"name": "Not yours", "user_id": self.owner.id, "partner_id": self.greta.id})
        self.s_conv.lead_ids = [(4, private_lead.id)]
        self.assertEqual(self._error(ROUTE, {"thread_model": "crm.lead",
                                             "thread_id": private_lead.id}),
                         "odoo.exceptions.AccessError")
        # body words of a metadata-level email are no search oracle
        found = self._emails(self.greta, search_term="PERSONAL-BODY-TEXT")
        self.assertEqual((found["emails"], found["count"]), ([], 0))
        self.assertEqual(len(self._emails(self.greta, search_term="Private")["emails"]), 1)
        # malformed cursors, injected dates, huge pages
        for params in ({"before": ["x", 1]}, {"before": "2026-01-01"},
                       {"after": [None, "1; DROP"]}, {"min_date": "1' OR '1'='1"},
                       {"limit": "all"}):
            with self.subTest(params=params):
                self.assertEqual(self._error(ROUTE, {"thread_model": "res.partner",
                                                     "thread_id": self.greta.id, **params}),
                                 "odoo.exceptions.UserError")
        self.assertEqual(len(self._emails(self.greta, limit=10**9)["emails"]), 2)
        # unlinking what one does not see, or on a record one cannot edit, is refused
        self.personal.contact_visibility = "none"
        call = {"model": "res.partner", "method": "crm_inbox_unlink_email",
                "args": [self.greta.ids, self.p_msg.id], "kwargs": {}}
        self.assertEqual(self._error("/web/dataset/call_kw", call),
                         "odoo.exceptions.AccessError")
        self._as("portal")
        self.assertEqual(self._error("/web/dataset/call_kw", dict(call, args=[
            self.greta.ids, self.s_msg.id])), "odoo.exceptions.AccessError")
        self.assertTrue(self.p_msg.exists() and self.s_msg.exists())
        self.assertFalse(self.env["crm.inbox.record.unlink"].search([]))

    def test_rpc_odoo_chatter_routes_carry_no_synced_email(self):
        """Odoo's own chatter routes of the contact and the lead: no synced email (subject,
        body, attachment) for anyone, searched or not."""
        for role in ("other", "member_read", "owner"):
            self._as(role)
            with self.subTest(role=role):
                for record in (self.greta, self.lead):
                    params = {"thread_model": record._name, "thread_id": record.id}
                    dumps = [
                        self.make_jsonrpc_request("/mail/thread/messages", params),
                        self.make_jsonrpc_request("/mail/thread/messages", dict(
                            params, search_term="PERSONAL-BODY-TEXT")),
                        self.make_jsonrpc_request("/mail/thread/messages", dict(
                            params, search_term="Private offer")),
                        self.make_jsonrpc_request("/mail/thread/data", dict(
                            params, request_list=["activities", "attachments", "followers",
                                                  "scheduledMessages", "suggestedRecipients"])),
                    ]
                    dump = json.dumps(dumps)
                    for word in ("PERSONAL-BODY-TEXT", "SHARED-BODY-TEXT", "Private offer",
                                 "Support ticket"):
                        self.assertNotIn(word, dump)

    # paging ------------------------------------------------------------------
    def test_rpc_paging_200_emails_and_200_notes(self):
        """Two leads with 200 synced emails and 200 notes each, paged through the chatter's
        two routes as thread_model_patch.js does: one interleaved (email, note, email...),
        one in clusters (more emails than a page between two notes, then notes only, then
        emails older than every note)."""
        seller = new_test_user(self.env, login="chatter_pager", name="Paula Pager",
                               email="paula@example.com",
                               groups="base.group_user,sales_team.group_sale_salesman")
        self.dovecot.add_user("paula@example.com", "paula-pw")
        self.smtpd.users["paula@example.com"] = "paula-pw"
        account = self._create_account(user=seller, email="paula@example.com",
                                       password="paula-pw")
        account.action_test_connection()
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)
        # hours after *start*: interleaved, and clustered
        interleaved = ([2 * i for i in range(200)], [2 * i + 1 for i in range(200)])
        clustered = ([*range(50), *range(300, 400), *range(700, 750)],
                     [*range(100, 110), *range(450, 640), 760])
        leads = {}
        for name, (email_hours, note_hours) in (("interleaved", interleaved),
                                                 ("clustered", clustered)):
            client = Address(f"Pat {name}", f"pat-{name}@pages.example")
            lead = self.env["crm.lead"].create({"name": f"Paged deal {name}",
                                                "email_from": client.email,
                                                "user_id": seller.id})
            for i, hour in enumerate(email_hours):
                self.dovecot.append(account.email, "INBOX", make_email(
                    account.email, f"{name} email {i:03d}", f"body {i}",
                    start + timedelta(hours=hour, minutes=7), sender=client))
            leads[name] = (lead, note_hours)
        for _run in range(20):  # a first sync proceeds in slices
            account._sync()
            if not account._sync_unfinished():
                break
        for lead, note_hours in leads.values():
            for i, hour in enumerate(note_hours):
                note = lead.message_post(body=f"Note {i:03d}", message_type="comment",
                                         subtype_xmlid="mail.mt_note")
                note.date = (start + timedelta(hours=hour, minutes=7)).replace(tzinfo=None)
        self.env.flush_all()
        self.authenticate("chatter_pager", "chatter_pager")
        for name, (lead, _hours) in leads.items():
            with self.subTest(lead=name):
                steps, email_pages = self._page_through(lead)
                self.assertGreaterEqual(steps, 7, "paged, not loaded at once")
                self.assertGreaterEqual(email_pages, 7)

    def _page_through(self, lead):
        """Page a lead's chatter to the end; check every step shows a gap-free newest part
        and the end shows every email and message once. Returns (steps, email pages)."""
        all_messages = self.env["mail.message"].search(
            [("model", "=", "crm.lead"), ("res_id", "=", lead.id),
             ("message_type", "!=", "user_notification")])
        emails = self.env["crm.inbox.message"].search(
            [("conversation_id.lead_ids", "=", lead.id)])
        self.assertEqual(len(emails), 200)
        self.assertGreaterEqual(len(all_messages), 200)
        message_date = {m.id: m.date for m in all_messages}
        email_date = {m.id: m.date for m in emails}
        truth = {("m", i): d for i, d in message_date.items()} | {
            ("e", i): d for i, d in email_date.items()}
        params = {"thread_model": "crm.lead", "thread_id": lead.id}
        state = {"messages": [], "emails": [], "odoo_older": True, "has_more": False,
                 "email_pages": 0}
        fetched = {"m": [], "e": []}

        def fetch_messages(before=None):
            result = self.make_jsonrpc_request("/mail/thread/messages", dict(
                params, before=before, limit=30))
            fetched["m"] += result["messages"]
            state["messages"] += result["messages"]
            state["odoo_older"] = len(result["messages"]) == 30

        def fetch_emails():
            min_date = None
            if state["odoo_older"]:
                min_date = str(min(message_date[i] for i in state["messages"]))
            oldest = state["emails"][-1] if state["emails"] else None
            result = self.make_jsonrpc_request(ROUTE, dict(
                params, before=[oldest["date"], oldest["id"]] if oldest else None,
                min_date=min_date, limit=30))
            self.assertLessEqual(len(result["emails"]), 30)
            fetched["e"] += [r["id"] for r in result["emails"]]
            state["emails"] += result["emails"]
            state["has_more"] = result["has_more"]
            state["email_pages"] += 1

        def shown():
            oldest = email_date[state["emails"][-1]["id"]] if state["emails"] else None
            items = {("e", r["id"]) for r in state["emails"]}
            for i in state["messages"]:
                if not state["has_more"] or oldest is None or message_date[i] >= oldest:
                    items.add(("m", i))
            return items

        fetch_messages()
        fetch_emails()
        steps = 1
        while True:
            items = shown()
            boundary = min(truth[k] for k in items)
            self.assertEqual(items, {k for k, d in truth.items() if d >= boundary},
                             f"step {steps}: a gap in the chatter")
            if not (state["odoo_older"] or state["has_more"]):
                break
            if state["has_more"] or not state["odoo_older"]:
                fetch_emails()
            else:
                fetch_messages(before=min(state["messages"]))
                fetch_emails()
            steps += 1
            self.assertLess(steps, 100)
        self.assertEqual(shown(), set(truth), "everything shown at the end")
        self.assertEqual(len(fetched["e"]), len(set(fetched["e"])), "no email twice")
        self.assertEqual(len(fetched["m"]), len(set(fetched["m"])), "no message twice")
        self.assertEqual(len(fetched["e"]), 200)
        return steps, state["email_pages"]
