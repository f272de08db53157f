"""Send-as identities (crm.inbox.identity), with mail synced from a real Dovecot and the
reply read from the real SMTP server (aiosmtpd)."""

from email import message_from_bytes, policy

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged

from .common import CrmInboxCase


@tagged("post_install", "-at_install")
class TestIdentities(CrmInboxCase):

    def _incoming(self, account, to, msgid, cc=""):
        raw = (f"From: Ann <ann@client.example>\r\nTo: {to}\r\n"
               + (f"Cc: {cc}\r\n" if cc else "")
               + f"Subject: Quote\r\nMessage-ID: <{msgid}@client.example>\r\n"
               "Date: Wed, 18 Nov 2026 08:00:00 +0000\r\n\r\nA quote please.\r\n").encode()
        self.dovecot.append(account.email, "INBOX", raw)
        account._sync()
        return self.env["crm.inbox.message"].search(
            [("account_id", "=", account.id), ("message_id", "=", f"<{msgid}@client.example>")])

    def _account_with_sales(self):
        account = self._connect(self._fresh_account())
        signature = self.env["crm.inbox.signature"].with_user(self.user).create({
            "name": "Sales desk", "body": "<p>The Sales Desk, +1 555 0100</p>"})
        account.with_user(self.user).write({"identity_ids": [Command.create({
            "email": " Sales@Example.com ", "name": "Example Sales",
            "signature_id": signature.id})]})
        return account

    def _sent(self):
        self._run_mail_queue(delay=11)
        received = self.smtpd.wait_for(1)[0]
        return received, message_from_bytes(received.data, policy=policy.default)

    def test_reply_to_sales_goes_out_from_sales(self):
        account = self._account_with_sales()
        identity = account.identity_ids
        self.assertEqual(identity.email, "Sales@Example.com", "trimmed")
        message = self._incoming(account, "Sales <sales@example.com>", "q1",
                                 cc="Bob <bob@client.example>")
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        defaults = Compose.inbox_reply_defaults(message.id, "reply_all")
        self.assertEqual(defaults["identity_id"], identity.id)
        self.assertEqual([i["email"] for i in defaults["identities"]],
                         [account.email, "Sales@Example.com"])
        self.assertNotIn("sales@example.com", defaults["cc"].lower(),
                         "the identity is one of our addresses: never a recipient")
        self.assertEqual(defaults["cc"], "Bob <bob@client.example>")
        self.assertIn("sales@example.com", defaults["own_addresses"])
        self.smtpd.clear()
        Compose.inbox_send(message.id, "reply_all", {
            "text": "Here it is.", "identity_id": defaults["identity_id"],
            "signature_id": defaults["signature_id"]})
        received, parsed = self._sent()
        self.assertEqual(str(parsed["From"]).lower(), "example sales <sales@example.com>")
        self.assertEqual(received.mail_from, account.email,
                         "MAIL FROM stays the authenticated account")
        self.assertEqual(received.rcpt_tos, ["ann@client.example", "bob@client.example"])
        self.assertIn("The Sales Desk, +1 555 0100", parsed.get_body(("plain",)).get_content())

    def test_reply_to_account_address_uses_account(self):
        account = self._account_with_sales()
        message = self._incoming(account, account.email, "q2")
        Compose = self.env["crm.inbox.compose"].with_user(self.user)
        defaults = Compose.inbox_reply_defaults(message.id, "reply")
        self.assertFalse(defaults["identity_id"])
        self.smtpd.clear()
        Compose.inbox_send(message.id, "reply", {"text": "Sure."})
        _received, parsed = self._sent()
        self.assertEqual(parsed["From"].addresses[0].addr_spec, account.email)
        self.assertNotIn("The Sales Desk", parsed.get_body(("plain",)).get_content())

    def test_saved_draft_remembers_its_identity(self):
        account = self._account_with_sales()
        identity = account.identity_ids
        message = self._incoming(account, account.email, "q4")
        conversation = message.conversation_id
        Draft = self.env["crm.inbox.draft"].with_user(self.user)
        # replying to the account's address, the user picks Sales as the From
        Draft.inbox_save_draft(conversation.id, {
            "message_id": message.id, "mode": "reply", "to": "Ann <ann@client.example>",
            "text": "Draft.",
            "identity_id": identity.id})
        saved = Draft.inbox_load_draft(conversation.id)
        self.assertEqual(saved["identity_id"], identity.id)
        # back to the account's own address: remembered too (not the reply's default)
        Draft.inbox_save_draft(conversation.id, {"identity_id": False})
        self.assertIs(Draft.inbox_load_draft(conversation.id)["identity_id"], False)
        # an identity of another account is not kept
        other = self._connect(self._fresh_account())
        other.identity_ids = [Command.create({"email": "other-desk@example.com"})]
        Draft.inbox_save_draft(conversation.id, {"identity_id": other.identity_ids.id})
        self.assertIs(Draft.inbox_load_draft(conversation.id)["identity_id"], False)
        # the restored draft goes out from the identity it remembers
        Draft.inbox_save_draft(conversation.id, {"identity_id": identity.id})
        saved = Draft.inbox_load_draft(conversation.id)
        self.smtpd.clear()
        self.env["crm.inbox.compose"].with_user(self.user).inbox_send(message.id, "reply", {
            key: saved[key] for key in ("to", "text", "identity_id")})
        _received, parsed = self._sent()
        self.assertEqual(str(parsed["From"]).lower(), "example sales <sales@example.com>")
        # an identity removed from the account leaves the draft on the account's address
        Draft.inbox_save_draft(conversation.id, {"identity_id": identity.id})
        identity.sudo().unlink()
        self.assertIs(Draft.inbox_load_draft(conversation.id)["identity_id"], False)

    def test_identity_of_another_account_is_refused(self):
        account = self._account_with_sales()
        other = self._connect(self._fresh_account())
        message = self._incoming(other, other.email, "q3")
        with self.assertRaises(UserError):
            self.env["crm.inbox.compose"].with_user(self.user).inbox_send(
                message.id, "reply", {"text": "x", "identity_id": account.identity_ids.id})

    def test_header_injection_in_identity_refused(self):
        account = self._connect(self._fresh_account())
        Identity = self.env["crm.inbox.identity"].with_user(self.user)
        for vals in ({"email": "sales@example.com", "name": "Sales\r\nBcc: evil@example.com"},
                     {"email": "sales@example.com\r\nBcc: evil@example.com"},
                     {"email": "a@example.com, b@example.com"},
                     {"email": "not an address"}):
            with self.assertRaises(ValidationError), self.cr.savepoint():
                Identity.create({"account_id": account.id, **vals})
        self.assertFalse(account.identity_ids)

    def test_other_user_cannot_read_or_write_identities(self):
        account = self._account_with_sales()
        identity = account.identity_ids
        stranger = new_test_user(self.env, login="crm_inbox_stranger", name="Stranger",
                                 groups="base.group_user,sales_team.group_sale_salesman")
        Identity = self.env["crm.inbox.identity"].with_user(stranger)
        self.assertFalse(Identity.search([("account_id", "=", account.id)]))
        with self.assertRaises(AccessError):
            Identity.browse(identity.id).read(["email"])
        with self.assertRaises(AccessError):
            Identity.browse(identity.id).write({"name": "Mine"})
        with self.assertRaises(AccessError):
            Identity.create({"account_id": account.id, "email": "x@example.com"})
        # a reply-level member of a shared account reads them, does not change them
        admin = new_test_user(self.env, login="crm_inbox_id_admin", name="Ida Admin",
                              groups="base.group_user,crm_inbox.group_crm_inbox_manager")
        shared = self._connect(self._fresh_account(user=admin, account_type="shared", member_ids=[
            Command.create({"user_id": self.colleague.id, "access_level": "reply"})]))
        shared.with_user(admin).identity_ids = [Command.create({"email": "hi@example.com"})]
        as_colleague = Identity.with_user(self.colleague).browse(shared.identity_ids.id)
        self.assertEqual(as_colleague.email, "hi@example.com")
        with self.assertRaises(AccessError):
            as_colleague.write({"name": "Mine"})


@tagged("post_install", "-at_install")
class TestDraftCcBccSurvive(CrmInboxCase):
    """Issue 16 item 4: Cc and Bcc survive assignment and state changes."""

    def test_cc_bcc_survive_assign_done_reopen(self):
        admin = new_test_user(self.env, login="crm_inbox_cc_admin", name="Ada Admin",
                              groups="base.group_user,crm_inbox.group_crm_inbox_manager")
        account = self._connect(self._fresh_account(user=admin, account_type="shared", member_ids=[
            Command.create({"user_id": self.user.id, "access_level": "reply"}),
            Command.create({"user_id": self.colleague.id, "access_level": "reply"})]))
        raw = (f"From: Ann <ann@client.example>\r\nTo: {account.email}\r\n"
               "Subject: Order\r\nMessage-ID: <keep-1@client.example>\r\n"
               "Date: Wed, 18 Nov 2026 08:00:00 +0000\r\n\r\nPlease confirm.\r\n").encode()
        self.dovecot.append(account.email, "INBOX", raw)
        account._sync()
        message = self.env["crm.inbox.message"].search(
            [("account_id", "=", account.id), ("message_id", "=", "<keep-1@client.example>")])
        conversation = message.conversation_id.with_user(self.user)
        Draft = self.env["crm.inbox.draft"].with_user(self.user)
        Draft.inbox_save_draft(conversation.id, {
            "message_id": message.id, "mode": "reply", "to": "Ann <ann@client.example>",
            "cc": "Cy <cy@partner.example>", "bcc": "boss@example.com",
            "subject": "Re: Order", "text": "Confirmed."})
        conversation.inbox_action(conversation.ids, "assign", self.colleague.id)
        conversation.inbox_workflow(conversation.ids, "done")
        conversation.inbox_workflow(conversation.ids, "reopen")
        saved = Draft.inbox_load_draft(conversation.id)
        self.assertEqual(saved["cc"], "Cy <cy@partner.example>")
        self.assertEqual(saved["bcc"], "boss@example.com")
        self.smtpd.clear()
        self.env["crm.inbox.compose"].with_user(self.user).inbox_send(message.id, "reply", {
            key: saved[key] for key in ("to", "cc", "bcc", "subject", "text")})
        self._run_mail_queue(delay=11)
        received = self.smtpd.wait_for(1)[0]
        self.assertEqual(received.rcpt_tos, ["ann@client.example", "cy@partner.example",
                                             "boss@example.com"])


@tagged("post_install", "-at_install")
class TestIdentitiesUi(HttpCase, CrmInboxCase):
    """The reply box in Chromium: Send-as choices, the default, a switch; the From and
    signature read from the real SMTP server."""

    def test_reply_box_offers_and_sends_as_the_chosen_identity(self):
        account = self._connect(self._fresh_account())
        Signature = self.env["crm.inbox.signature"].with_user(self.user)
        sales = Signature.create({"name": "Sales desk", "body": "<p>The Sales Desk</p>"})
        support = Signature.create({"name": "Support desk",
                                    "body": "<p>The Support Desk, +1 555 0199</p>"})
        account.with_user(self.user).write({"identity_ids": [
            Command.create({"email": "sales@team.example", "name": "Example Sales",
                            "signature_id": sales.id}),
            Command.create({"email": "support@team.example", "name": "Example Support",
                            "signature_id": support.id})]})
        self.dovecot.append(account.email, "INBOX", (
            b"From: Ann <ann@client.example>\r\nTo: Sales <sales@team.example>\r\n"
            b"Subject: Quote request\r\nMessage-ID: <idui-1@client.example>\r\n"
            b"Date: Wed, 18 Nov 2026 08:00:00 +0000\r\n\r\nA quote please.\r\n"))
        account._sync()
        self.smtpd.clear()
        self.start_tour("/odoo/crm-inbox", "crm_inbox_identity_tour", login="crm_inbox_sales",
                        timeout=180)
        self._run_mail_queue(delay=11)
        received = self.smtpd.wait_for(1)[0]
        parsed = message_from_bytes(received.data, policy=policy.default)
        self.assertEqual(str(parsed["From"]), "Example Support <support@team.example>")
        self.assertEqual(received.mail_from, account.email)
        self.assertEqual(received.rcpt_tos, ["ann@client.example"])
        body = parsed.get_body(("plain",)).get_content()
        self.assertIn("Here is your quote.", body)
        self.assertIn("The Support Desk, +1 555 0199", body)
        self.assertNotIn("The Sales Desk", body)
