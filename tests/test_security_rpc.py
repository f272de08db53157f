"""The same matrix through real JSON-RPC calls (/web/dataset/call_kw) as each role."""

import json

from odoo.tests import HttpCase, tagged
from odoo.tests.common import JsonRpcException

from .common import MailServersMixin, start_mail_servers
from .test_security import SECRETS, setup_security_fixture

ACCESS_ERROR = "odoo.exceptions.AccessError"


@tagged("post_install", "-at_install")
class TestSecurityRpc(HttpCase):

    _create_account = MailServersMixin.__dict__["_create_account"]
    _run_mail_queue = MailServersMixin._run_mail_queue

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

    def _call(self, model, method, *args, **kwargs):
        return self.make_jsonrpc_request("/web/dataset/call_kw", {
            "model": model, "method": method, "args": list(args), "kwargs": kwargs})

    def _error(self, model, method, *args, **kwargs):
        """The exception name of a refused call, or None when it succeeded."""
        try:
            self._call(model, method, *args, **kwargs)
        except JsonRpcException as exc:
            return exc.args[0] if exc.args else str(exc)
        return None

    def _search_ids(self, model, ids):
        try:
            rows = self._call(model, "search_read", [["id", "in", ids]], fields=["id"])
        except JsonRpcException:
            return set()
        return {r["id"] for r in rows}

    def test_rpc_read_matrix(self):
        expected = {
            "owner": (True, True, False, False),
            "member_read": (False, False, True, True),
            "member_reply": (False, False, True, True),
            "member_manage": (False, False, True, True),
            "member_group": (False, False, True, True),
            "other": (False, False, False, False),
            "inbox_admin": (True, False, True, True),
            "portal": (False, False, False, False),
            "other_company": (False, False, False, False),
        }
        for role, (p_acc, p_mail, s_acc, s_mail) in expected.items():
            self._as(role)
            with self.subTest(role=role):
                self.assertEqual(bool(self._search_ids("crm.inbox.account", self.personal.ids)),
                                 p_acc)
                self.assertEqual(bool(self._search_ids("crm.inbox.account", self.shared.ids)),
                                 s_acc)
                for model, p_ids, s_ids in (
                        ("crm.inbox.message", self.p_msg.ids, self.s_msg.ids),
                        ("crm.inbox.conversation", self.p_conv.ids, self.s_conv.ids),
                        ("crm.inbox.folder", self.personal.folder_ids.ids,
                         self.shared.folder_ids.ids)):
                    self.assertEqual(self._search_ids(model, p_ids) == set(p_ids), p_mail, model)
                    self.assertEqual(self._search_ids(model, s_ids) == set(s_ids), s_mail, model)
                if not p_mail:
                    # reading by id (as a crafted request would) is refused too
                    self.assertIsNotNone(self._error("crm.inbox.message", "read", self.p_msg.ids,
                                                     ["subject", "body_html"]))
                    self.assertIsNotNone(self._error("crm.inbox.conversation", "web_read",
                                                     self.p_conv.ids,
                                                     specification={"name": {}}))

    def test_rpc_write_and_send_matrix(self):
        expected = {
            # role: (write shared conversation, send from shared, manage shared members)
            "owner": (False, False, False),
            "member_read": (False, False, False),
            "member_reply": (True, True, False),
            "member_manage": (True, True, True),
            "member_group": (True, True, False),
            "other": (False, False, False),
            "inbox_admin": (True, True, True),
            "portal": (False, False, False),
            "other_company": (False, False, False),
        }
        for role, (conv, send, members) in expected.items():
            user = self._as(role)
            with self.subTest(role=role):
                err = self._error("crm.inbox.conversation", "write", self.s_conv.ids,
                                  {"user_id": self.m_reply.id})
                self.assertEqual(err is None, conv, err)
                err = self._error("crm.inbox.account.member", "create",
                                  {"account_id": self.shared.id, "user_id": self.other.id,
                                   "access_level": "read"})
                self.assertEqual(err is None, members, err)
                if err is None:
                    self.env["crm.inbox.account.member"].search(
                        [("user_id", "=", self.other.id)]).unlink()
                self.smtpd.clear()
                err = None
                try:
                    wizard_id = self._call("crm.inbox.compose", "create", {
                        "account_id": self.shared.id, "to": "greta@client.example",
                        "subject": f"Re: ticket from {user.login}", "body": "<p>ok</p>"})
                    self._call("crm.inbox.compose", "action_send", [wizard_id])
                except JsonRpcException as exc:
                    err = exc.args[0] if exc.args else str(exc)
                self.assertEqual(err is None, send, err)
                if send:
                    self._run_mail_queue()
                    self.assertEqual(self.smtpd.wait_for(1)[0].rcpt_tos, ["greta@client.example"])
                else:
                    self.assertFalse(self.smtpd.messages)

    def test_rpc_secrets_never_returned(self):
        fields = ["imap_password", "smtp_password", "has_imap_password", "email"]
        for role in ("owner", "inbox_admin", "member_manage"):
            self._as(role)
            with self.subTest(role=role):
                visible = [a["id"] for a in self._call("crm.inbox.account", "search_read", [],
                                                       fields=["id"])]
                self.assertTrue(visible)
                results = [
                    self._call("crm.inbox.account", "search_read", [], fields=fields),
                    self._call("crm.inbox.account", "web_search_read", [],
                               specification={f: {} for f in fields}),
                    self._call("crm.inbox.account", "read", visible, fields),
                    self._call("crm.inbox.account", "export_data", visible,
                               ["imap_password", "smtp_password", "email"]),
                ]
                dump = json.dumps(results)
                for secret in SECRETS:
                    self.assertNotIn(secret, dump)
                # a saved form gets the record back: the typed password is not echoed
                if role == "owner":
                    saved = self._call("crm.inbox.account", "web_save", self.personal.ids,
                                       {"imap_password": "Typed-New-Secret"},
                                       specification={"imap_password": {}, "email": {}})
                    self.assertNotIn("Typed-New-Secret", json.dumps(saved))
                # the secrets model and the private readers are out of reach
                self.assertEqual(self._error("crm.inbox.account.secret", "search_read", [],
                                             fields=["imap_password"]), ACCESS_ERROR)
                self.assertIsNotNone(self._error("crm.inbox.account", "_get_imap_settings",
                                                 self.personal.ids))
                self.assertIsNotNone(self._error("crm.inbox.account", "_secret",
                                                 self.personal.ids))

    def test_rpc_contact_visibility(self):
        self._as("other")
        rows = self._call("res.partner", "crm_inbox_get_emails", self.greta.ids)
        by_account = {r["account"]: r for r in rows}
        self.assertEqual(by_account["olive@example.com"]["level"], "metadata")
        self.assertNotIn("PERSONAL-BODY-TEXT", json.dumps(rows))
        self.assertIn("SHARED-BODY-TEXT", json.dumps(rows))
        self._as("portal")
        self.assertEqual(self._error("res.partner", "crm_inbox_get_emails", self.greta.ids),
                         ACCESS_ERROR)
        self._as("other_company")
        self.assertEqual(self._call("res.partner", "crm_inbox_get_emails", self.greta.ids), [])

    def test_rpc_wizards_are_their_creators_only(self):
        """Issue 9: over JSON-RPC, another user neither lists, reads nor rewrites the
        owner's setup wizard or draft email; the owner's own typed password is never
        sent back (web_save, web_read, search_read)."""
        typed = "Typed-Wizard-Secret-41"
        self._as("owner")
        saved = self._call("crm.inbox.account.setup", "web_save", [], {
            "email": "olive@example.com", "step": "advanced", "password": typed},
            specification={"password": {}, "email": {}})
        setup_id = saved[0]["id"]
        composer_id = self._call("crm.inbox.compose", "create", {
            "account_id": self.personal.id, "to": "greta@client.example",
            "bcc": "olive-boss@example.com", "subject": "Draft"})
        own = [saved,
               self._call("crm.inbox.account.setup", "web_read", [setup_id],
                          specification={"password": {}, "smtp_password": {}}),
               self._call("crm.inbox.account.setup", "search_read", [["id", "=", setup_id]])]
        self.assertNotIn(typed, json.dumps(own))
        for role in ("other", "member_manage", "inbox_admin"):
            self._as(role)
            with self.subTest(role=role):
                for model, record_id in (("crm.inbox.account.setup", setup_id),
                                         ("crm.inbox.compose", composer_id)):
                    self.assertNotIn(record_id, self._search_ids(model, [record_id]))
                    self.assertEqual(self._error(model, "read", [record_id], ["display_name"]),
                                     ACCESS_ERROR)
                self.assertEqual(self._error("crm.inbox.account.setup", "write", [setup_id],
                                             {"imap_host": "imap.attacker.example"}),
                                 ACCESS_ERROR)
                self.assertEqual(self._error("crm.inbox.compose", "write", [composer_id],
                                             {"bcc": "spy@example.com"}), ACCESS_ERROR)
