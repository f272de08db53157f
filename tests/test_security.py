"""Who sees and does what, through the ORM with each role's environment.

Roles: owner of a personal account, members of a shared account at each level (read,
reply, manage, and reply through a group), another internal user, an inbox
administrator, a portal user and a user of another company. Mail is real: it is
delivered to Dovecot and synced; replies go to the aiosmtpd server.
"""

import json
import logging

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from .common import CrmInboxCase, loopback_servers

PERSONAL_PW = "Pers0nal-S3cret-pw!"
SHARED_PW = "Sh4red-S3cret-pw!"
SECRETS = (PERSONAL_PW, SHARED_PW)

RAW = (b"From: Greta Green <greta@client.example>\r\nTo: {to}\r\n"
       b"Subject: {subject}\r\nMessage-ID: <{mid}@client.example>\r\n"
       b"Date: Wed, 18 Nov 2026 08:00:00 +0000\r\n\r\n{body}\r\n")


def setup_security_fixture(cls):
    """Users of every role, a synced personal and a synced shared account.

    *cls* already has ``dovecot``, ``smtpd`` and ``env`` (see ``start_servers``).
    """
    env = cls.env
    if not hasattr(cls, "local_dns"):
        loopback_servers(cls)
    cls.company_b = env["res.company"].create({"name": "Other Co"})
    groups = "base.group_user,sales_team.group_sale_salesman,base.group_allow_export"
    cls.owner = new_test_user(env, login="sec_owner", name="Olive Owner", groups=groups,
                              email="olive@example.com")
    cls.m_read = new_test_user(env, login="sec_read", name="Rita Reader", groups=groups)
    cls.m_reply = new_test_user(env, login="sec_reply", name="Remy Replier", groups=groups)
    cls.m_manage = new_test_user(env, login="sec_manage", name="Mona Manager", groups=groups)
    cls.m_group = new_test_user(env, login="sec_group", name="Greg Group", groups=groups)
    cls.other = new_test_user(env, login="sec_other", name="Otto Other", groups=groups)
    cls.inbox_admin = new_test_user(
        env, login="sec_admin", name="Ada Admin",
        groups=groups + ",crm_inbox.group_crm_inbox_manager")
    cls.portal = new_test_user(env, login="sec_portal", name="Pat Portal",
                               groups="base.group_portal")
    cls.foreign = new_test_user(env, login="sec_foreign", name="Fred Foreign", groups=groups,
                                company_id=cls.company_b.id,
                                company_ids=[Command.set(cls.company_b.ids)])
    cls.team_group = env["res.groups"].create({
        "name": "Support team", "users": [Command.link(cls.m_group.id)]})
    cls.roles = {
        "owner": cls.owner, "member_read": cls.m_read, "member_reply": cls.m_reply,
        "member_manage": cls.m_manage, "member_group": cls.m_group, "other": cls.other,
        "inbox_admin": cls.inbox_admin, "portal": cls.portal, "other_company": cls.foreign,
    }
    cls.dovecot.add_user("olive@example.com", PERSONAL_PW)
    cls.smtpd.users["olive@example.com"] = PERSONAL_PW
    cls.dovecot.add_user("support@example.com", SHARED_PW)
    cls.smtpd.users["support@example.com"] = SHARED_PW
    cls.personal = cls._create_account(user=cls.owner, email="olive@example.com",
                                       password=PERSONAL_PW)
    cls.shared = cls._create_account(
        user=cls.inbox_admin, email="support@example.com", password=SHARED_PW,
        account_type="shared", member_ids=[
            Command.create({"user_id": cls.m_read.id, "access_level": "read"}),
            Command.create({"user_id": cls.m_reply.id, "access_level": "reply"}),
            Command.create({"user_id": cls.m_manage.id, "access_level": "manage"}),
            Command.create({"group_id": cls.team_group.id, "access_level": "reply"}),
        ])
    cls.greta = env["res.partner"].create({"name": "Greta Green", "email": "greta@client.example"})
    cls.lead = env["crm.lead"].create({"name": "Greta's deal", "partner_id": cls.greta.id,
                                       "user_id": False})
    for account, subject, body in ((cls.personal, "Private offer", "PERSONAL-BODY-TEXT"),
                                   (cls.shared, "Support ticket", "SHARED-BODY-TEXT")):
        account.action_test_connection()
        raw = RAW.replace(b"{to}", account.email.encode()).replace(
            b"{subject}", subject.encode()).replace(b"{body}", body.encode()).replace(
            b"{mid}", account.email.split("@")[0].encode())
        cls.dovecot.append(account.email, "INBOX", raw)
        account._sync()
    Message = env["crm.inbox.message"]
    cls.p_msg = Message.search([("account_id", "=", cls.personal.id)])
    cls.s_msg = Message.search([("account_id", "=", cls.shared.id)])
    assert len(cls.p_msg) == 1 and len(cls.s_msg) == 1, "fixture mail synced"
    cls.p_conv, cls.s_conv = cls.p_msg.conversation_id, cls.s_msg.conversation_id


@tagged("post_install", "-at_install")
class TestSecurity(CrmInboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        setup_security_fixture(cls)

    # helpers ---------------------------------------------------------------
    def _sees(self, user, records):
        """True when *user* finds and reads every record of *records*."""
        Model = self.env[records._name].with_user(user)
        try:
            found = Model.search([("id", "in", records.ids)])
            found.read(["display_name"])
        except AccessError:
            return False
        return len(found) == len(records)

    def _can_write(self, user, records, vals):
        try:
            with self.env.cr.savepoint():
                records.with_user(user).write(vals)
                records.env.flush_all()
        except AccessError:
            return False
        return True

    def _can_send(self, user, account):
        self.smtpd.clear()
        try:
            with self.env.cr.savepoint():
                wizard = self.env["crm.inbox.compose"].with_user(user).create({
                    "account_id": account.id, "to": "greta@client.example",
                    "subject": "Re: hello", "body": "<p>Hi</p>"})
                wizard.action_send()
                self._run_mail_queue()
        except AccessError:
            self.assertFalse(self.smtpd.messages, "nothing left when refused")
            return False
        self.assertEqual(len(self.smtpd.wait_for(1)), 1)
        return True

    # the matrix ------------------------------------------------------------
    def test_read_matrix(self):
        """Exactly who sees each account, its folders, conversations and messages."""
        expected = {
            # role: (personal account, personal mail, shared account, shared mail)
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
            user = self.roles[role]
            with self.subTest(role=role):
                self.assertEqual(self._sees(user, self.personal), p_acc, "personal account")
                for records in (self.personal.folder_ids, self.p_conv, self.p_msg):
                    self.assertEqual(self._sees(user, records), p_mail, records._name)
                self.assertEqual(self._sees(user, self.shared), s_acc, "shared account")
                for records in (self.shared.folder_ids, self.s_conv, self.s_msg,
                                self.shared.member_ids):
                    self.assertEqual(self._sees(user, records), s_mail, records._name)

    def test_write_matrix(self):
        """Settings, members, conversations (assign / notes) and sending, per role."""
        expected = {
            # role: (personal settings, shared settings, shared members,
            #        shared conversation, send from shared, send from personal)
            "owner": (True, False, False, False, False, True),
            "member_read": (False, False, False, False, False, False),
            "member_reply": (False, False, False, True, True, False),
            "member_manage": (False, True, True, True, True, False),
            "member_group": (False, False, False, True, True, False),
            "other": (False, False, False, False, False, False),
            "inbox_admin": (False, True, True, True, True, False),
            "portal": (False, False, False, False, False, False),
            "other_company": (False, False, False, False, False, False),
        }
        for role, (p_set, s_set, s_members, s_conv, s_send, p_send) in expected.items():
            user = self.roles[role]
            with self.subTest(role=role):
                self.assertEqual(self._can_write(user, self.personal, {"sender_name": role}),
                                 p_set, "personal settings")
                self.assertEqual(self._can_write(user, self.shared, {"sender_name": role}),
                                 s_set, "shared settings")
                self.assertEqual(self._can_write(user, self.shared.member_ids[:1],
                                                 {"access_level": "read"}),
                                 s_members, "shared members")
                self.assertEqual(self._can_write(user, self.s_conv, {"user_id": self.m_reply.id}),
                                 s_conv, "shared conversation")
                self.assertEqual(self._can_send(user, self.shared), s_send, "send shared")
                self.assertEqual(self._can_send(user, self.personal), p_send, "send personal")

    def test_read_member_cannot_post_notes_reply_member_can(self):
        with self.assertRaises(AccessError):
            self.s_conv.with_user(self.m_read).message_post(body="note", message_type="comment")
        self.s_conv.with_user(self.m_reply).message_post(body="note", message_type="comment",
                                                         subtype_xmlid="mail.mt_note")
        self.s_conv.with_user(self.m_reply).activity_schedule(
            "mail.mail_activity_data_todo", user_id=self.m_manage.id, summary="Call back")

    def test_assignment_notifies_and_requires_access(self):
        conv = self.s_conv.with_user(self.m_reply).with_context(tracking_disable=False)
        conv.write({"user_id": self.m_manage.id})
        self.assertIn(self.m_manage.partner_id, self.s_conv.message_partner_ids,
                      "the assignee follows the conversation")
        notified = self.env["mail.message"].search([
            ("model", "=", "crm.inbox.conversation"), ("res_id", "=", self.s_conv.id),
            ("partner_ids", "in", self.m_manage.partner_id.ids)])
        self.assertTrue(notified, "the assignee is notified")
        with self.assertRaises(ValidationError):
            conv.write({"user_id": self.other.id})

    def test_only_administrators_create_shared_accounts(self):
        Account = self.env["crm.inbox.account"]
        vals = {"email": "team@example.com", "account_type": "shared"}
        with self.assertRaises(AccessError):
            Account.with_user(self.m_manage).create(vals)
        with self.assertRaises(AccessError):
            self.personal.with_user(self.owner).write({"account_type": "shared"})
        with self.assertRaises(AccessError):
            Account.with_user(self.other).create({"email": "x@example.com",
                                                  "user_id": self.owner.id})
        self.assertTrue(Account.with_user(self.inbox_admin).create(vals))
        with self.assertRaises(AccessError):
            Account.with_user(self.portal).create({"email": "p@example.com"})

    def test_admin_setting_opens_personal_mail(self):
        self.assertFalse(self._sees(self.inbox_admin, self.p_msg))
        self.env["res.config.settings"].create({"group_crm_inbox_read_personal": True}).execute()
        self.assertTrue(self._sees(self.inbox_admin, self.p_msg))
        self.assertTrue(self._sees(self.inbox_admin, self.p_conv))
        self.assertFalse(self._sees(self.other, self.p_msg), "other users stay out")
        self.assertFalse(self._can_write(self.inbox_admin, self.p_conv,
                                         {"user_id": self.inbox_admin.id}))

    # contacts and leads ------------------------------------------------------
    def test_contact_visibility_levels(self):
        self.assertEqual(self.personal.contact_visibility, "metadata")
        self.assertEqual(self.shared.contact_visibility, "full")
        greta = self.greta.with_user(self.other)
        # the ordinary relation follows the record rules: nothing of others' mailboxes
        self.assertFalse(greta.crm_inbox_message_ids)
        rows = {r["account"]: r for r in greta.crm_inbox_get_emails()}
        self.assertEqual(set(rows), {"olive@example.com", "support@example.com"})
        personal = rows["olive@example.com"]
        self.assertEqual((personal["level"], personal["subject"]), ("metadata", "Private offer"))
        self.assertNotIn("body_html", personal)
        self.assertNotIn("PERSONAL-BODY-TEXT", json.dumps(personal, default=str))
        self.assertIn("SHARED-BODY-TEXT", rows["support@example.com"]["body_html"])
        chatter = json.dumps(greta._crm_inbox_chatter_fetch())
        self.assertIn("Private offer", chatter)
        self.assertNotIn("PERSONAL-BODY-TEXT", chatter)
        # the owner sees their own mail in full
        own = {r["account"]: r for r in self.greta.with_user(self.owner).crm_inbox_get_emails()}
        self.assertIn("PERSONAL-BODY-TEXT", own["olive@example.com"]["body_html"])
        # none: left out
        self.personal.with_user(self.owner).contact_visibility = "none"
        rows = self.greta.with_user(self.other).crm_inbox_get_emails()
        self.assertEqual([r["account"] for r in rows], ["support@example.com"])
        # leads too
        rows = self.lead.with_user(self.other).crm_inbox_get_emails()
        self.assertEqual({r["account"] for r in rows}, {"support@example.com"})

    def test_contact_visibility_other_company_and_portal(self):
        self.assertEqual(self.greta.with_user(self.foreign).crm_inbox_get_emails(), [])
        with self.assertRaises(AccessError):
            self.greta.with_user(self.portal).crm_inbox_get_emails()
        private_lead = self.env["crm.lead"].create({"name": "Not yours", "user_id": self.owner.id,
                                                    "partner_id": self.greta.id})
        self.s_conv.lead_ids = [Command.link(private_lead.id)]
        with self.assertRaises(AccessError):
            private_lead.with_user(self.other).crm_inbox_get_emails()

    # secrets ---------------------------------------------------------------
    def test_no_read_path_returns_a_secret(self):
        """Every model of the addon, every readable field, for every role: no secret."""
        models = set(self.env["ir.model.data"].search([
            ("module", "=", "crm_inbox"), ("model", "=", "ir.model")]).mapped(
            lambda d: self.env["ir.model"].browse(d.res_id).model))
        self.assertIn("crm.inbox.account.secret", models)
        users = [*self.roles.values(), self.env.ref("base.user_admin")]
        checked = 0
        for model in sorted(models):
            for user in users:
                Model = self.env[model].with_user(user)
                if Model._transient or model == "res.config.settings":
                    continue
                try:
                    records = Model.search([], limit=200)
                    names = [n for n in Model.fields_get(attributes=["type"]) if n in Model._fields]
                    data = records.read(names)
                    data += records.web_read({name: {} for name in names
                                              if Model._fields[name].type not in
                                              ("one2many", "many2many", "many2one")})
                    data += Model.search_read([], names, limit=200)
                    if user.has_group("base.group_allow_export") or user._is_admin():
                        data += [records.export_data(
                            [n for n in names if Model._fields[n].type not in
                             ("one2many", "many2many", "binary")]).get("datas")]
                except AccessError:
                    self.assertFalse(model == "crm.inbox.account" and user == self.owner)
                    continue
                dump = json.dumps(data, default=str)
                checked += 1
                for secret in SECRETS:
                    self.assertNotIn(secret, dump, f"{model} read by {user.login}")
        self.assertGreater(checked, 20)
        # the secrets model itself: no access for anyone, administrators included
        for user in users:
            with self.assertRaises(AccessError):
                self.env["crm.inbox.account.secret"].with_user(user).search([])
        # tracking values and chatter never carry them
        tracked = self.env["mail.tracking.value"].sudo().search([])
        dump = json.dumps(tracked.read(["old_value_char", "new_value_char", "old_value_text",
                                        "new_value_text"]), default=str)
        messages = json.dumps(self.env["mail.message"].sudo().search([]).mapped("body"),
                              default=str)
        for secret in SECRETS:
            self.assertNotIn(secret, dump)
            self.assertNotIn(secret, messages)

    def test_secrets_never_logged(self):
        records = []

        class Collect(logging.Handler):
            def emit(self, record):
                records.append(self.format(record))

        handler = Collect(level=logging.DEBUG)
        loggers = [logging.getLogger(n) for n in ("odoo.addons.crm_inbox", "imapclient",
                                                  "odoo.models", "odoo.sql_db")]
        saved = [(lg.level, lg.propagate) for lg in loggers]
        for lg in loggers:
            lg.addHandler(handler)
            lg.setLevel(logging.DEBUG)
            lg.propagate = False  # collected here, not printed
        try:
            self.personal.with_user(self.owner).action_test_connection()
            self.personal._sync()
            self._can_send(self.m_reply, self.shared)
        finally:
            for lg, (level, propagate) in zip(loggers, saved, strict=True):
                lg.removeHandler(handler)
                lg.setLevel(level)
                lg.propagate = propagate
        self.assertTrue(records)
        for secret in SECRETS:
            self.assertFalse([r for r in records if secret in r])

    def test_password_write_is_allowed_but_never_echoed(self):
        account = self.personal.with_user(self.owner)
        account.write({"imap_password": "new-" + PERSONAL_PW})
        self.assertFalse(account.read(["imap_password"])[0]["imap_password"])
        with self.assertRaises(AccessError):
            self.personal.with_user(self.other).write({"imap_password": "hijack"})

    def test_changing_the_address_or_server_means_setup_again(self):
        account = self.shared.with_user(self.inbox_admin)
        self.assertEqual(account.state, "connected")
        account.write({"imap_host": "imap.attacker.example"})
        account.invalidate_recordset()
        self.assertEqual(account.state, "draft")
        self.assertFalse(account.has_imap_password, "the password does not follow the host")
        with self.assertRaises(UserError):
            account.action_sync_now()
