"""A sweep that cannot miss a model: every model whose ``ir.model`` row lists
crm_inbox among its modules (transient ones included), every role, every field,
through ``read``, ``web_read``, ``search_read``, ``export_data`` and ``read_group``.

A distinct canary is planted in every secret (account passwords and OAuth tokens on
``crm.inbox.account.secret``, the sync lease token, the setup wizard's typed
passwords and OAuth flow, the OAuth client secrets in ``ir.config_parameter``); the
sweep fails when a response holds a canary, or a fixture record the role's access
table says it must not see.
"""

import json
import logging

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import CrmInboxCase
from .test_security import setup_security_fixture

_logger = logging.getLogger(__name__)

#: role -> (personal account settings, personal mail, shared account settings,
#: shared mail and members): the table of test_security.test_read_matrix
ACCESS = {
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
#: models nobody reads outside sudo code
NO_ACCESS_MODELS = ("crm.inbox.account.secret", "crm.inbox.tombstone")
GROUPABLE = ("char", "selection", "many2one", "boolean", "integer", "date")


@tagged("post_install", "-at_install")
class TestSecretSweep(CrmInboxCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        setup_security_fixture(cls)
        cls.canaries = {}

        def canary(name):
            cls.canaries[name] = value = f"CANARY-{name}-{len(cls.canaries):02d}-q7Zx"
            return value

        Secret = cls.env["crm.inbox.account.secret"].sudo()
        for account in (cls.personal, cls.shared):
            tag = account.account_type
            Secret.search([("account_id", "=", account.id)]).write({
                "imap_password": canary(f"{tag}-imap-password"),
                "smtp_password": canary(f"{tag}-smtp-password"),
                "oauth_access_token": canary(f"{tag}-oauth-access"),
                "oauth_refresh_token": canary(f"{tag}-oauth-refresh"),
            })
            account.sudo().sync_lease_token = canary(f"{tag}-lease-token")
        icp = cls.env["ir.config_parameter"].sudo()
        for provider in ("google", "microsoft"):
            icp.set_param(f"crm_inbox.{provider}_client_secret",
                          canary(f"{provider}-client-secret"))
        # the owner's wizards: a half-filled setup, a draft email, a disconnect
        owner_env = cls.env(user=cls.owner)
        cls.setup_wizard = owner_env["crm.inbox.account.setup"].create({
            "email": "olive@example.com", "step": "advanced", "smtp_username": "olive-smtp",
            "password": canary("setup-password"),
            "smtp_password": canary("setup-smtp-password")})
        cls.setup_wizard.sudo().oauth_flow = json.dumps({"verifier": canary("oauth-flow")})
        cls.composer = owner_env["crm.inbox.compose"].create({
            "account_id": cls.personal.id, "to": "greta@client.example",
            "bcc": "olive-boss@example.com", "subject": "Private offer draft"})
        cls.disconnect = owner_env["crm.inbox.account.disconnect"].create(
            {"account_id": cls.personal.id})
        cls.signature = owner_env["crm.inbox.signature"].create(
            {"name": "Olive", "body": "<p>Olive</p>"})
        cls.env.flush_all()

    # the access table, as fixture records each role may / may not see --------
    def _fixture(self):
        """model -> [(records, predicate(role, user) -> may see)]."""
        def account_rule(index):
            return lambda role, user: ACCESS[role][index]

        def own(creator):
            return lambda role, user: user == creator
        return {
            "crm.inbox.account": [(self.personal, account_rule(0)),
                                  (self.shared, account_rule(2))],
            "crm.inbox.folder": [(self.personal.folder_ids, account_rule(1)),
                                 (self.shared.folder_ids, account_rule(3))],
            "crm.inbox.conversation": [(self.p_conv, account_rule(1)),
                                       (self.s_conv, account_rule(3))],
            "crm.inbox.message": [(self.p_msg, account_rule(1)), (self.s_msg, account_rule(3))],
            "crm.inbox.account.member": [(self.shared.member_ids, account_rule(3))],
            "crm.inbox.signature": [(self.signature, own(self.owner))],
            "crm.inbox.account.setup": [(self.setup_wizard, own(self.owner))],
            "crm.inbox.compose": [(self.composer, own(self.owner))],
            "crm.inbox.account.disconnect": [(self.disconnect, own(self.owner))],
        }

    def _addon_models(self):
        """Models whose ir.model row lists crm_inbox among its modules."""
        rows = self.env["ir.model"].search([])
        return sorted(m.model for m in rows
                      if "crm_inbox" in (m.modules or "").split(", "))

    # one role, one model ---------------------------------------------------
    def _dump(self, Model, records, fnames, can_export):
        """Every read path, as JSON text; a path the model refuses to this user
        (AccessError) adds nothing. Returns ``(text, refused paths)``."""
        paths = [
            ("read", lambda: records.read(fnames)),
            ("web_read", lambda: records.web_read({name: {} for name in fnames})),
            ("search_read", lambda: Model.search_read([], fnames, limit=500)),
        ]
        if can_export:
            paths.append(("export_data", lambda: records.export_data(
                [n for n in fnames if Model._fields[n].type not in ("one2many", "many2many")]
            ).get("datas")))
        for name in fnames:
            field = Model._fields[name]
            if field.store and field.type in GROUPABLE and field.column_type:
                paths.append((f"read_group {name}", lambda name=name: Model.read_group(
                    [], ["__count"], [name], lazy=False, limit=50)))
        data, refused = [], 0
        for _label, call in paths:
            try:
                data.append(call())
            except AccessError:
                refused += 1
            except (ValueError, UserError):
                continue  # not groupable
        return json.dumps(data, default=str), refused

    def _readable_fields(self, Model, records):
        """The fields this user may read on every found record (a field restricted to
        other groups, or related to a record they may not read, is left out)."""
        readable = []
        for name in Model.fields_get(attributes=["type"]):
            if name not in Model._fields:
                continue
            try:
                records.read([name])
            except AccessError:
                continue
            readable.append(name)
        return readable

    def test_sweep(self):
        models = self._addon_models()
        declared = set(self.env["ir.model.data"].search([
            ("module", "=", "crm_inbox"), ("model", "=", "ir.model")]).mapped(
            lambda d: self.env["ir.model"].browse(d.res_id).model))
        ir_model_count = self.env["ir.model"].search_count([("id", "in", self.env[
            "ir.model.data"].search([("module", "=", "crm_inbox"),
                                     ("model", "=", "ir.model")]).mapped("res_id"))])
        self.assertEqual(set(models), declared)
        for name in ("crm.inbox.account.setup", "crm.inbox.compose",
                     "crm.inbox.account.disconnect", "crm.inbox.account.secret"):
            self.assertIn(name, models)
        fixture = self._fixture()
        canaries = self.canaries
        # the canaries are really stored where the sweep looks for them
        self.assertEqual(self.personal._get_imap_settings().password,
                         canaries["personal-imap-password"])
        self.assertEqual(self.setup_wizard._typed()[0], canaries["setup-password"])
        covered_models, covered_fields, reads, refused, refused_reads = set(), set(), 0, 0, 0
        for model in models:
            for role, user in self.roles.items():
                Model = self.env[model].with_user(user)
                with self.subTest(model=model, role=role):
                    covered_models.add(model)
                    try:
                        records = Model.search([], limit=500)
                    except AccessError:
                        refused += 1
                        self.assertNotEqual((model, role), ("crm.inbox.account", "owner"))
                        continue
                    self.assertNotIn(model, NO_ACCESS_MODELS, f"{role} searches {model}")
                    # the access table: fixture records the role must (not) see
                    seen = set(records.ids)
                    for fixture_records, may_see in fixture.get(model, ()):
                        shown = seen & set(fixture_records.ids)
                        if may_see(role, user):
                            self.assertEqual(shown, set(fixture_records.ids),
                                             f"{role} misses {model}")
                        else:
                            self.assertFalse(shown, f"{role} sees {model} {sorted(shown)}")
                    fnames = self._readable_fields(Model, records)
                    dump, refused_paths = self._dump(Model, records, fnames, user.has_group(
                        "base.group_allow_export"))
                    refused_reads += refused_paths
                    covered_fields.update((model, n) for n in fnames)
                    reads += len(fnames)
                    for label, value in canaries.items():
                        self.assertNotIn(value, dump, f"{role} read the {label} in {model}")
        summary = (f"secret sweep: {len(covered_models)} models (ir.model count for "
                   f"crm_inbox: {ir_model_count}), {len(self.roles)} roles, "
                   f"{len(covered_fields)} fields ({reads} field reads; {refused} model/role "
                   f"pairs refused, {refused_reads} read paths refused), "
                   f"{len(canaries)} canaries")
        _logger.info(summary)
        # figures for the test log  # pylint: disable-next=print-used
        print(summary)
        self.assertEqual(len(covered_models), ir_model_count)
        self.assertEqual(len(models), ir_model_count)
