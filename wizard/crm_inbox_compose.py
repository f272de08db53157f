import base64
import logging
import re
from datetime import timedelta
from email.headerregistry import Address as HeaderAddress
from email.utils import getaddresses

import psycopg2
from lxml import html as lxml_html
from markupsafe import Markup, escape
from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import html2plaintext, is_html_empty

from ..engine import errors
from ..engine.mime import (
    Address,
    Attachment,
    build_message,
    forward_subject,
    normalize_email,
    parse_address_field,
    reply_headers,
    reply_subject,
)

_logger = logging.getLogger(__name__)


def _split(value):
    """Addresses of a stored address header, to prefill a reply: parsed strictly
    (:func:`engine.mime.parse_address_field`), else leniently with line breaks as
    spaces. The prefilled field is parsed strictly again at send time, so what is
    sent is what the field shows."""
    try:
        return list(parse_address_field(value or ""))
    except errors.HeaderInjection:
        flat = re.sub(r"[\r\n\0]", " ", value or "")
        return [Address(name=name, email=email.strip())
                for name, email in getaddresses([flat]) if "@" in email]


class CrmInboxCompose(models.TransientModel):
    """Write, reply to or forward an email through an account's own SMTP server."""

    _name = "crm.inbox.compose"
    _description = "Inbox Composer"

    account_id = fields.Many2one("crm.inbox.account", "From", required=True,
                                 domain="[('state', '=', 'connected'), ('can_send', '=', True)]")
    signature_id = fields.Many2one(
        "crm.inbox.signature",
        domain="[('user_id', '=', uid), ('account_id', 'in', [False, account_id])]")
    parent_id = fields.Many2one("crm.inbox.message", "Replying to")
    mode = fields.Selection([("new", "New email"), ("reply", "Reply"),
                             ("reply_all", "Reply all"), ("forward", "Forward")],
                            default="new", required=True)
    to = fields.Char(help="Comma-separated addresses: Name <name@example.com>, ...")
    cc = fields.Char()
    bcc = fields.Char()
    subject = fields.Char(required=True)
    body = fields.Html(sanitize=True)
    attachment_ids = fields.Many2many("ir.attachment", string="Attachments")

    @api.model
    def _action_open(self, context):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Email"),
            "context": dict(self.env.context, **context),
        }

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if not values.get("account_id"):
            values["account_id"] = self.env.user._crm_inbox_default_account(sending=True).id
        parent = self.env["crm.inbox.message"].browse(values.get("parent_id"))
        account = self.env["crm.inbox.account"].browse(values.get("account_id"))
        mode = values.get("mode", "new")
        signature = self.env["crm.inbox.signature"]._find_main(account)
        if signature:
            values.setdefault("signature_id", signature.id)
        body = Markup("<p><br></p>") + self._signature_block(
            signature.body if signature else self.env.user.signature)
        if parent:
            own = normalize_email(account.email or parent.account_id.email)
            if mode in ("reply", "reply_all"):
                values["subject"] = reply_subject(parent.subject or "")
                reply_to = parent.email_from or ""
                if parent.direction == "out":
                    reply_to = parent.email_to or ""
                to = [a for a in _split(reply_to) if normalize_email(a.email) != own]
                cc = []
                if mode == "reply_all":
                    seen = {normalize_email(a.email) for a in to} | {own}
                    for addr in _split(parent.email_to) + _split(parent.email_cc):
                        if normalize_email(addr.email) not in seen:
                            seen.add(normalize_email(addr.email))
                            cc.append(addr)
                values["to"] = ", ".join(self._format(a) for a in to)
                values["cc"] = ", ".join(self._format(a) for a in cc)
            elif mode == "forward":
                values["subject"] = forward_subject(parent.subject or "")
                values["attachment_ids"] = [(6, 0, [
                    att.copy({"res_model": False, "res_id": False}).id
                    for att in parent.attachment_ids
                    if att.mimetype != "message/rfc822"
                ])]
            date = fields.Datetime.to_string(parent.date) if parent.date else ""
            header = self.env._("On %(date)s, %(author)s wrote:", date=date,
                                author=parent.email_from or "")
            # the one mail renderer: sanitized last, nothing remote unless allowed
            quoted = parent._crm_inbox_render(with_cids=False)[0]
            body += Markup("<p>%s</p><blockquote>%s</blockquote>") % (escape(header), quoted)
        values.setdefault("body", body)
        return values

    # ------------------------------------------------------------------
    # the inline reply box of the inbox client (static/src/inbox/inbox_composer.js)
    # ------------------------------------------------------------------
    @api.model
    def _inbox_send_checks(self, parent, values):
        """Checks before an inline reply is sent (wizard/crm_inbox_compose_checks.py).

        :returns: ``False`` to send, or the answer :meth:`inbox_send` returns instead.
        """
        return False

    @api.model
    def _inbox_parent(self, message_id):
        parent = self.env["crm.inbox.message"].browse(int(message_id)).exists()
        if not parent:
            raise UserError(self.env._("The email replied to no longer exists: reload the "
                                       "conversation."))
        parent.check_access("read")
        return parent

    @api.model
    def _inbox_defaults(self, parent, mode):
        if mode not in ("reply", "reply_all", "forward"):
            raise UserError(self.env._("Reply, Reply all or Forward only."))
        account = parent.account_id
        return self.with_context(
            default_account_id=account.id, default_parent_id=parent.id, default_mode=mode,
        ).default_get(["account_id", "signature_id", "parent_id", "mode", "to", "cc", "bcc",
                       "subject", "body", "attachment_ids", "identity_id"])

    @api.model
    def inbox_reply_defaults(self, message_id, mode="reply"):
        """What the inline reply box shows before the user types.

        :param message_id: the ``crm.inbox.message`` replied to or forwarded.
        :param mode: ``"reply"``, ``"reply_all"`` or ``"forward"``.
        :returns: ``{"to", "cc", "subject": str, "account_id": id, "signature_id": id|False,
            "signatures": [{"id", "name", "text"}], "signature_text": str (the user's
            default signature when no signature record exists), "quote": str (the quoted
            email as plain text, folded in the box), "attachments": [{"id", "name",
            "mimetype"}] (forward: the original's attachments)}``
        """
        parent = self._inbox_parent(message_id)
        values = self._inbox_defaults(parent, mode)
        account = parent.account_id
        signatures = self.env["crm.inbox.signature"].search(
            [("user_id", "=", self.env.uid), ("account_id", "in", [False, account.id])])
        attachments = self.env["ir.attachment"].browse(
            values.get("attachment_ids", [(6, 0, [])])[0][2])
        quote = ""
        body = str(values.get("body") or "")
        if "<blockquote>" in body:
            quote = html2plaintext(body[body.index("<blockquote>"):]).strip()
        return {
            "to": values.get("to") or "",
            "cc": values.get("cc") or "",
            "subject": values.get("subject") or "",
            "account_id": account.id,
            "signature_id": values.get("signature_id") or False,
            "signatures": [{"id": s.id, "name": s.name, "text": _signature_text(s.body)}
                           for s in signatures],
            "signature_text": _signature_text(self.env.user.signature),
            "quote": quote,
            "attachments": [{"id": a.id, "name": a.name, "mimetype": a.mimetype}
                            for a in attachments],
        }

    @api.model
    def inbox_send(self, message_id, mode, values):
        """Queue the inline reply box's message (through the composer's
        :meth:`_crm_inbox_queue`): it leaves after the user's undo delay, or at the
        Send later time.

        :param message_id: the ``crm.inbox.message`` replied to or forwarded.
        :param mode: ``"reply"``, ``"reply_all"`` or ``"forward"``.
        :param values: ``{"to", "cc", "bcc", "subject": str, "text": str (what the user
            typed, plain text), "signature_id": id|False (False: the user's own Odoo
            signature), "attachment_ids": [ir.attachment ids], "scheduled_at": UTC
            "YYYY-MM-DD HH:MM:SS"|False (Send later), "cancel_on_reply": bool}``; keys
            left out keep the composer's defaults.
        :returns: ``{"ok": True, "warning": False, "mail_id": int, "scheduled_at": UTC
            string, "undo_seconds": int (0 for Send later)}``.
        :raises UserError: as :meth:`_crm_inbox_build` (nothing queued, the box keeps
            the draft); a Send later time in the past.
        """
        parent = self._inbox_parent(message_id)
        defaults = self._inbox_defaults(parent, mode)
        text = (values.get("text") or "").strip()
        if not text and mode != "forward":
            raise UserError(self.env._("Write your reply before sending it."))
        scheduled_at = values.get("scheduled_at") or False
        if scheduled_at:
            try:
                scheduled_at = fields.Datetime.to_datetime(scheduled_at)
            except ValueError as exc:
                raise UserError(self.env._("Send later: “%(value)s” is not a date and time.",
                                           value=values["scheduled_at"])) from exc
            if scheduled_at <= fields.Datetime.now():
                raise UserError(self.env._("Send later: choose a time in the future."))
        vals = {k: v for k, v in defaults.items() if k in self._fields}
        for key in ("to", "cc", "bcc", "subject", "identity_id"):
            if key in values:
                vals[key] = values[key] or False
        signature = self.env["crm.inbox.signature"]
        if "signature_id" in values:
            signature = signature.browse(int(values["signature_id"] or 0)).exists()
            if signature and signature.user_id != self.env.user:
                raise UserError(self.env._("Choose one of your own signatures."))
        else:
            signature = signature.browse(defaults.get("signature_id") or 0).exists()
        vals["signature_id"] = signature.id or False
        body = str(defaults.get("body") or "")
        # the composer's quote: "<p>On ..., X wrote:</p><blockquote>...</blockquote>"
        quote = body[body.rfind("<p>", 0, body.index("<blockquote>")):] \
            if "<blockquote>" in body else ""
        typed = Markup("").join(
            Markup("<p>%s</p>") % Markup("<br>").join(escape(line) for line in para.split("\n"))
            for para in text.split("\n\n")) if text else Markup("<p><br></p>")
        chosen = "signature_id" in values and \
            int(values["signature_id"] or 0) != (defaults.get("signature_id") or 0)
        vals["body"] = typed + self._signature_block(
            self._inbox_signature_html(signature, vals, chosen)) + Markup(quote)
        if "attachment_ids" in values:
            own = self.env["ir.attachment"].browse(values["attachment_ids"] or []).exists()
            own.check_access("read")
            # forward: default_get copied the original's attachments again; the box sends
            # the copies it showed (and those the user dropped)
            copies = self.env["ir.attachment"].browse(
                defaults.get("attachment_ids", [(6, 0, [])])[0][2]) - own
            copies.unlink()
            vals["attachment_ids"] = [(6, 0, own.ids)]
        composer = self.create(vals)
        attachments = composer.attachment_ids
        draft = {
            "message_id": parent.id, "to": vals.get("to") or "", "cc": vals.get("cc") or "",
            "bcc": vals.get("bcc") or "", "subject": vals.get("subject") or "", "text": text,
            "signature_id": signature.id or False,
            "identity_id": composer.identity_id.id or False,
            "attachments": [{"id": a.id, "name": a.name, "mimetype": a.mimetype}
                            for a in attachments],
        }
        delay = 0 if scheduled_at else self.env.user.crm_inbox_undo_delay
        mail = composer._crm_inbox_queue(
            draft=draft, scheduled_at=scheduled_at or None, delay=delay,
            cancel_on_reply=values.get("cancel_on_reply", False))
        # the saved draft is now the queued mail's (Undo / Edit and resend give it back)
        self.env["crm.inbox.draft"].inbox_discard_draft(parent.conversation_id.id)
        return {"ok": True, "warning": False, "mail_id": mail.id,
                "scheduled_at": fields.Datetime.to_string(mail.scheduled_date),
                "undo_seconds": delay}

    @api.model
    def _inbox_own_queued(self, mail_id, states=("outgoing",)):
        """The current user's composer mail *mail_id*, locked, if still in *states*.

        :raises UserError: not theirs, or it already left (or is leaving right now).
        """
        mail = self.env["mail.mail"].sudo().browse(int(mail_id)).exists()
        if not mail or not mail.crm_inbox_account_id or mail.create_uid != self.env.user:
            raise UserError(self.env._("This email is not in your outbox any more."))
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    "SELECT state FROM mail_mail WHERE id = %s FOR UPDATE NOWAIT", (mail.id,))
                state = self.env.cr.fetchone()[0]
        except psycopg2.errors.LockNotAvailable:
            state = "sending"
        if state not in states:
            raise UserError(self.env._("Too late: the email has already left."))
        mail.invalidate_recordset(["state"])
        return mail

    @api.model
    def inbox_undo_send(self, mail_id):
        """Undo send, or Edit a scheduled or failed mail: it is taken off the queue
        (nothing is sent) and its draft given back to the reply box.

        :param mail_id: the ``mail.mail`` id returned by :meth:`inbox_send`.
        :returns: the draft ``{"message_id" (crm.inbox.message replied to),
            "conversation_id", "mode",
            "to", "cc", "bcc", "subject", "text", "signature_id", "attachments":
            [{"id", "name", "mimetype"}]}``.
        :raises UserError: too late (the email left), or not the user's.
        """
        mail = self._inbox_own_queued(mail_id, states=("outgoing", "exception", "cancel"))
        draft = dict(mail.crm_inbox_draft or {})
        draft.setdefault("message_id", mail.crm_inbox_parent_id.id)
        draft["conversation_id"] = mail.crm_inbox_conversation_id.id
        draft["mode"] = draft.get("mode") or "reply"
        mail.unlink()
        return draft

    @api.model
    def inbox_cancel_send(self, mail_id):
        """Cancel a scheduled mail: it is never sent (kept as cancelled in the queue).

        :raises UserError: too late, or not the user's.
        """
        mail = self._inbox_own_queued(mail_id)
        mail.cancel()
        return True

    @api.model
    def inbox_release(self, mail_id):
        """The undo delay of *mail_id* ended in the browser: run the queue now (the
        queue's workers otherwise wake up only every minute). Does nothing for a mail
        that is not due yet.

        :returns: ``True`` when the queue was triggered.
        """
        mail = self.env["mail.mail"].sudo().browse(int(mail_id)).exists()
        if not mail or mail.create_uid != self.env.user or mail.state != "outgoing":
            return False
        if mail.scheduled_date and mail.scheduled_date > fields.Datetime.now() + timedelta(
                seconds=2):
            return False
        self.env.ref("mail.ir_cron_mail_scheduler_action").sudo()._trigger()
        return True

    # ------------------------------------------------------------------
    # mail templates in the inline reply box
    # ------------------------------------------------------------------
    @api.model
    def _inbox_template_record(self, parent):
        """The record a template is rendered against: the conversation's lead, else the
        other party's contact (``crm.lead`` or ``res.partner``, may be empty)."""
        conversation = parent.conversation_id
        lead = conversation.lead_ids[:1]
        if lead and lead.has_access("read"):
            return lead
        own = normalize_email(parent.account_id.email)
        partners = conversation.partner_ids.filtered(
            lambda p: normalize_email(p.email or "") != own and p.has_access("read"))
        return partners[:1]

    @api.model
    def inbox_templates(self, message_id):
        """The mail templates the reply box offers for the email *message_id*: those of
        the linked lead's model or of contacts.

        :returns: ``[{"id", "name", "model": "crm.lead"|"res.partner"}]``.
        """
        parent = self._inbox_parent(message_id)
        record = self._inbox_template_record(parent)
        models_ = [record._name] if record else []
        if "res.partner" not in models_:
            models_.append("res.partner")
        templates = self.env["mail.template"].search([("model", "in", models_)],
                                                     order="name")
        return [{"id": t.id, "name": t.name, "model": t.model} for t in templates]

    @api.model
    def inbox_render_template(self, message_id, template_id):
        """A template rendered against the lead or contact of the conversation
        (``{{ object.partner_id.name }}``), as the reply box's text, with copies of its
        attachments (sent with the mail). The user's signature stays the box's.

        :returns: ``{"subject": str|False, "text": str, "attachments": [{"id", "name",
            "mimetype"}]}``.
        :raises UserError: the template is for another kind of record.
        """
        parent = self._inbox_parent(message_id)
        template = self.env["mail.template"].browse(int(template_id)).exists()
        if not template:
            raise UserError(self.env._("This template no longer exists."))
        template.check_access("read")
        record = self._inbox_template_record(parent)
        if template.model == "res.partner" and record._name != "res.partner":
            record = record.partner_id if record else record
        if not record or record._name != template.model:
            raise UserError(self.env._(
                "The template “%(name)s” is written for %(model)s: link the conversation "
                "to one first.", name=template.name, model=template.model_id.name))
        body = template._render_field("body_html", record.ids)[record.id]
        subject = template._render_field("subject", record.ids)[record.id] \
            if template.subject else False
        attachments = self.env["ir.attachment"]
        for att in template.attachment_ids:
            attachments |= att.copy({"res_model": False, "res_id": False})
        return {
            "subject": subject or False,
            "text": html2plaintext(str(body or "")).strip(),
            "attachments": [{"id": a.id, "name": a.name, "mimetype": a.mimetype}
                            for a in attachments],
        }

    @api.model
    def inbox_save_template(self, message_id, name, subject, text):
        """Save the reply box as a mail template for the conversation's lead (or
        contact), so that it can be picked again.

        :returns: ``{"id", "name"}`` of the new ``mail.template``.
        :raises UserError: no name or no text.
        """
        parent = self._inbox_parent(message_id)
        name, text = (name or "").strip(), (text or "").strip()
        if not name or not text:
            raise UserError(self.env._("Write the reply and give the template a name."))
        record = self._inbox_template_record(parent)
        model = record._name if record else "res.partner"
        body = Markup("").join(
            Markup("<p>%s</p>") % Markup("<br>").join(escape(line) for line in para.split("\n"))
            for para in text.split("\n\n"))
        template = self.env["mail.template"].create({
            "name": name,
            "model_id": self.env["ir.model"]._get_id(model),
            "subject": subject or False,
            "body_html": body,
        })
        return {"id": template.id, "name": template.name}

    @api.model
    def _inbox_signature_html(self, signature, vals, chosen):
        """The signature HTML of an inline reply: *signature*'s body, else the user's
        own Odoo signature.

        :param signature: the ``crm.inbox.signature`` picked (may be empty).
        :param vals: the composer's values about to be created.
        :param chosen: the user picked another signature than the box's default.
        """
        return signature.body if signature else self.env.user.signature

    @staticmethod
    def _signature_block(signature_html):
        """The signature wrapped in a marked block the composer can swap later."""
        if not signature_html or is_html_empty(signature_html):
            return Markup('<div class="o_crm_inbox_signature"></div>')
        if html2plaintext(str(signature_html)).lstrip().startswith("--"):
            # it has its own separator (Odoo's default user signature): not a second one
            return Markup('<div class="o_crm_inbox_signature">%s</div>') % Markup(
                signature_html)
        return Markup('<div class="o_crm_inbox_signature"><p>-- </p>%s</div>') % Markup(
            signature_html)

    @api.onchange("account_id")
    def _onchange_account_id_signature(self):
        if not self.account_id:
            return
        other = self.signature_id.account_id and self.signature_id.account_id != self.account_id
        if other or not self.signature_id:
            self.signature_id = self.env["crm.inbox.signature"]._find_main(self.account_id)

    @api.onchange("signature_id")
    def _onchange_signature_id(self):
        if not self.signature_id:
            return
        block = self._signature_block(self.signature_id.body)
        doc = lxml_html.fragment_fromstring(str(self.body or ""), create_parent="div")
        new = lxml_html.fragment_fromstring(str(block))
        old = doc.xpath("//div[contains(concat(' ', normalize-space(@class), ' '), "
                        "' o_crm_inbox_signature ')]")
        if old:
            old[0].getparent().replace(old[0], new)
        else:
            doc.insert(min(1, len(doc)), new)
        # lxml gives doc.text unescaped: escape it again (the finding-1 pattern)
        self.body = escape(doc.text or "") + Markup("".join(
            lxml_html.tostring(child, encoding="unicode") for child in doc))

    def _recipients(self, label, value):
        """The addresses of one field, exactly as shown; UserError saying what to fix."""
        try:
            return list(parse_address_field(value or ""))
        except errors.HeaderInjection as exc:
            raise UserError(self.env._(
                "%(field)s: “%(value)s” cannot be sent as it is (%(reason)s). Write one "
                "address per recipient, separated by commas, on one line and without "
                "encoded words: Name <name@example.com>, other@example.com",
                field=label, value=(value or "").replace("\r", " ").replace("\n", " ")
                .replace("\0", " "), reason=exc)) from exc

    @staticmethod
    def _format(addr):
        """``Name <a@b>``, the name quoted when it needs it (a comma...)."""
        if not addr.name:
            return addr.email
        try:
            return str(HeaderAddress(display_name=addr.name, addr_spec=addr.email))
        except (ValueError, TypeError, IndexError):
            return f"{addr.name} <{addr.email}>"

    def _inbox_send_checks(self, parent, values):
        """Checks before a mail is queued (none yet; a later send-time check raises a
        UserError saying what to fix, and nothing is queued).

        :param parent: the ``crm.inbox.message`` replied to or forwarded (may be empty).
        :param values: what the composer sends: ``{"to", "cc", "bcc", "subject", "text"
            or "body", "signature_id", "attachment_ids", "scheduled_at"}``.
        """
        return

    def _crm_inbox_sender(self):
        """The From of the composer's message (an :class:`engine.mime.Address`)."""
        account = self.account_id
        return Address(name=account.sender_name or self.env.user.name, email=account.email)

    def _crm_inbox_build(self):
        """Check the composer and build its message (Message-ID fixed now).

        :returns: ``(message_id, raw bytes, envelope recipients [bare addresses])``.
        :raises UserError: not allowed to send, account not connected, no recipient, a
            header that cannot be sent as it is.
        """
        self.ensure_one()
        account = self.account_id
        account._check_can_send()
        if account.state != "connected":
            raise UserError(self.env._("The account %(email)s is not connected: re-connect it "
                                       "first.", email=account.email))
        to, cc, bcc = (self._recipients(label, value) for label, value in (
            ("To", self.to), ("Cc", self.cc), ("Bcc", self.bcc)))
        if not (to or cc or bcc):
            raise UserError(self.env._("Add at least one recipient."))
        in_reply_to, references = "", ()
        parent = self.parent_id
        if parent and self.mode in ("reply", "reply_all") and parent.message_id:
            in_reply_to, references = reply_headers(
                parent.message_id, (parent.references or "").split(), parent.in_reply_to or "")
        attachments = [
            Attachment(filename=att.name, content_type=att.mimetype or "application/octet-stream",
                       data=att.raw or b"", content_id="", inline=False)
            for att in self.attachment_ids
        ]
        body_html = self.body if not is_html_empty(self.body) else ""
        sender = self._crm_inbox_sender()
        try:
            message_id, raw = build_message(
                from_=sender, to=to, cc=cc, subject=self.subject or "",
                body_text=html2plaintext(body_html) if body_html else "",
                body_html=body_html or "",
                in_reply_to=in_reply_to, references=references, attachments=attachments,
            )
        except errors.HeaderInjection as exc:
            raise UserError(self.env._("A header contains a line break or an invalid value: "
                                       "%(detail)s", detail=exc)) from exc
        return message_id, raw, [a.email for a in to + cc + bcc]

    def _crm_inbox_queue(self, draft=None, scheduled_at=None, delay=0, cancel_on_reply=False):
        """Put the composer's message on Odoo's mail queue, through its account.

        :param draft: what the composer had, restored by Undo / Edit and resend (default:
            the wizard's fields).
        :param scheduled_at: UTC ``datetime`` for Send later; ``None``: now + *delay*.
        :param delay: seconds during which Undo can still cancel it.
        :param cancel_on_reply: a scheduled mail is cancelled if the other party writes
            first.
        :returns: the queued ``mail.mail`` (superuser environment).
        :raises UserError: as :meth:`_crm_inbox_build` or :meth:`_inbox_send_checks`.
        """
        self.ensure_one()
        draft = dict(draft or {
            "to": self.to or "", "cc": self.cc or "", "bcc": self.bcc or "",
            "subject": self.subject or "", "body": str(self.body or ""),
            "signature_id": self.signature_id.id or False,
            "attachment_ids": self.attachment_ids.ids,
        })
        draft.update(mode=self.mode, parent_id=self.parent_id.id or False,
                     account_id=self.account_id.id)
        self._inbox_send_checks(self.parent_id, draft)
        message_id, raw, envelope = self._crm_inbox_build()
        self._crm_inbox_check_size(len(raw))
        account = self.account_id.sudo()
        server = account.mail_server_id
        if not server.active:
            raise UserError(self.env._("The account %(email)s cannot send yet: re-connect it "
                                       "first.", email=account.email))
        when = scheduled_at or fields.Datetime.now() + timedelta(seconds=max(delay, 0))
        sender = self._format(self._crm_inbox_sender())
        mail = self.env["mail.mail"].sudo().create({
            "email_from": sender,
            "email_to": self.to or "",
            "email_cc": self.cc or "",
            "subject": self.subject or "",
            "body_html": str(self.body or ""),
            "message_id": message_id,
            "message_type": "email_outgoing",
            "author_id": self.env.user.partner_id.id,
            "model": False,
            "res_id": False,
            "mail_server_id": server.id,
            "state": "outgoing",
            "scheduled_date": when,
            "auto_delete": True,
            "is_notification": False,
            "crm_inbox_account_id": account.id,
            "crm_inbox_conversation_id": self.parent_id.conversation_id.id or False,
            "crm_inbox_parent_id": self.parent_id.id or False,
            "crm_inbox_raw": base64.b64encode(raw),
            "crm_inbox_envelope": "\n".join(envelope),
            "crm_inbox_draft": draft,
            "crm_inbox_cancel_on_reply": bool(cancel_on_reply and scheduled_at),
        })
        self.env.ref("mail.ir_cron_mail_scheduler_action").sudo()._trigger(at=when)
        return mail

    def action_send(self):
        """Queue the message on Odoo's mail queue (sent at once, by the queue's
        scheduled action, through the account's SMTP server; the copy is then filed in
        Sent). A permanent failure shows on the conversation with the server's reason
        and the draft (Edit and resend); a server out of reach keeps it queued.

        :raises UserError: nothing can be queued as it is (see :meth:`_crm_inbox_build`).
        """
        self.ensure_one()
        self._crm_inbox_queue()
        return {"type": "ir.actions.act_window_close"}


def _signature_text(html):
    """A signature as the plain text the reply box previews ("" when empty)."""
    if not html or is_html_empty(html):
        return ""
    text = html2plaintext(str(html)).strip()
    return text if text.startswith("--") else f"-- \n{text}"
