from odoo import api, fields, models
from odoo.exceptions import ValidationError

ACCESS_LEVELS = [
    ("read", "Read"),
    ("reply", "Read and reply"),
    ("manage", "Manage (settings and members)"),
]
#: Access levels ordered from weakest to strongest.
LEVEL_RANK = {False: 0, "read": 1, "reply": 2, "manage": 3}


class CrmInboxAccountMember(models.Model):
    """A user, or every user of a group, with an access level on a shared account."""

    _name = "crm.inbox.account.member"
    _description = "Inbox Account Member"
    _order = "account_id, id"
    _check_company_auto = True

    account_id = fields.Many2one(
        "crm.inbox.account", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    user_id = fields.Many2one(
        "res.users", ondelete="cascade", index=True,
        domain="[('share', '=', False), ('company_ids', 'in', company_id)]",
    )
    group_id = fields.Many2one(
        "res.groups", ondelete="cascade", index=True,
        help="Every user of this group is a member at this access level.",
    )
    access_level = fields.Selection(ACCESS_LEVELS, required=True, default="reply")

    _sql_constraints = [
        ("user_or_group", "CHECK((user_id IS NULL) != (group_id IS NULL))",
         "A member is either a user or a group."),
        ("user_unique", "UNIQUE(account_id, user_id)", "A user is a member of an account once."),
        ("group_unique", "UNIQUE(account_id, group_id)",
         "A group is a member of an account once."),
    ]

    @api.depends("user_id", "group_id", "access_level")
    def _compute_display_name(self):
        levels = dict(self._fields["access_level"]._description_selection(self.env))
        for member in self:
            who = member.user_id.name or member.group_id.full_name or ""
            member.display_name = f"{who} ({levels.get(member.access_level, '')})"

    @api.constrains("account_id", "user_id")
    def _check_shared_internal(self):
        for member in self:
            if member.account_id.account_type != "shared":
                raise ValidationError(self.env._(
                    "Only shared accounts have members: “%(account)s” is a personal account.",
                    account=member.account_id.display_name))
            if member.user_id and member.user_id.share:
                raise ValidationError(self.env._(
                    "%(user)s is a portal user: only internal users can be members of a "
                    "shared inbox.", user=member.user_id.name))
            if member.user_id and member.account_id.company_id not in member.user_id.company_ids:
                raise ValidationError(self.env._(
                    "%(user)s has no access to the company %(company)s of the account "
                    "“%(account)s”: give them that company first.",
                    user=member.user_id.name, company=member.account_id.company_id.name,
                    account=member.account_id.display_name))
