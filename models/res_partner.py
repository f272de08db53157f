from odoo import api, fields, models

from ..engine.mime import normalize_email


class ResPartner(models.Model):
    _name = "res.partner"
    _inherit = ["res.partner", "crm.inbox.chatter.mixin"]

    crm_inbox_message_ids = fields.Many2many(
        "crm.inbox.message", "crm_inbox_message_res_partner_rel", "res_partner_id",
        "crm_inbox_message_id", string="Inbox emails", readonly=True,
    )
    crm_inbox_message_count = fields.Integer(
        "Email copies", compute="_compute_crm_inbox_message_count")

    def _compute_crm_inbox_message_count(self):
        counts = dict(self.env["crm.inbox.message"]._read_group(
            [("partner_ids", "in", self.ids)], ["partner_ids"], ["__count"]))
        for partner in self:
            partner.crm_inbox_message_count = counts.get(partner, 0)

    def action_crm_inbox_messages(self):
        """The smart button: the Inbox filtered on this contact."""
        return self.action_crm_inbox_open_inbox()

    def action_crm_inbox_compose(self):
        self.ensure_one()
        return self.env["crm.inbox.compose"]._action_open({"default_to": self.email_formatted})

    @api.model
    def _crm_inbox_find_partners(self, account, parsed_messages, no_new_contacts=()):
        """Map normalized addresses of *parsed_messages* to contacts, in one query.

        Matching is case-insensitive (``email_normalized``) and company-aware
        (the account's company or shared contacts). With the account's "create
        contacts for unknown senders" on, a contact is created for each unknown
        sender, never for the account's own address, never for a sender that may be
        forged (``crm.inbox.message._crm_inbox_auth``: DMARC failed, or the From domain
        confirmed by neither DKIM nor SPF); such a sender is still matched to an
        existing contact, and the message shows the warning. Neither for the sender of
        automatic mail (out-of-office replies, bounces, list mail).

        :param no_new_contacts: ``id()`` of the parsed messages whose sender must not
            become a contact (``engine.gateway.automatic_kind`` said automatic).

        :returns: ``{normalized email: res.partner}``
        """
        own = normalize_email(account.email)
        senders, everyone = {}, set()
        for msg in parsed_messages:
            for addr in (*msg.from_, *msg.to, *msg.cc):
                email = normalize_email(addr.email)
                if email:
                    everyone.add(email)
            if id(msg) in no_new_contacts:
                continue  # automatic mail: a machine is not a contact
            if msg.from_ and self.env["crm.inbox.message"]._crm_inbox_auth(msg)[1]:
                continue  # possibly forged sender: no new contact
            for addr in msg.from_[:1]:
                email = normalize_email(addr.email)
                if email and email != own:
                    senders.setdefault(email, addr.name)
        if not everyone:
            return {}
        found = {}
        partners = self.sudo().search(
            [("email_normalized", "in", list(everyone)),
             ("company_id", "in", [False, account.company_id.id])],
            order="company_id desc, id",  # prefer the account's company, then oldest
        )
        for partner in partners:
            found.setdefault(partner.email_normalized, partner)
        missing = [e for e in senders if e not in found]
        if account.create_partners and missing:
            created = self.sudo().create([
                {"name": senders[e] or e, "email": e} for e in missing
            ])
            found.update(zip(missing, created, strict=True))
        return {email: partner.with_env(self.env) for email, partner in found.items()}

    # ------------------------------------------------------------------
    # synced emails in the chatter (models/crm_inbox_chatter.py)
    # ------------------------------------------------------------------
    def _crm_inbox_email_domain(self):
        """The emails this contact takes part in (sender or recipient)."""
        return [("partner_ids", "in", self.ids)]
