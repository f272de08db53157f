import logging
import re
from email.headerregistry import Address as HeaderAddress
from email.utils import getaddresses

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
                       "subject", "body", "attachment_ids"])

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
        """Send the inline reply box through the composer (``action_send``).

        :param message_id: the ``crm.inbox.message`` replied to or forwarded.
        :param mode: ``"reply"``, ``"reply_all"`` or ``"forward"``.
        :param values: ``{"to", "cc", "bcc", "subject": str, "text": str (what the user
            typed, plain text), "signature_id": id|False (False: the user's own Odoo
            signature), "attachment_ids": [ir.attachment ids]}``; keys left out keep the
            composer's defaults.
        :returns: ``{"ok": True, "warning": str|False}`` (warning: the server refused some
            recipients; the others got the mail).
        :raises UserError: as :meth:`crm.inbox.compose.action_send` (nothing sent, the box
            keeps the draft).
        """
        parent = self._inbox_parent(message_id)
        if review := self._inbox_send_checks(parent, dict(values, mode=mode)):
            return review
        defaults = self._inbox_defaults(parent, mode)
        text = (values.get("text") or "").strip()
        if not text and mode != "forward":
            raise UserError(self.env._("Write your reply before sending it."))
        vals = {k: v for k, v in defaults.items() if k in self._fields}
        for key in ("to", "cc", "bcc", "subject"):
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
        vals["body"] = typed + self._signature_block(
            signature.body if signature else self.env.user.signature) + Markup(quote)
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
        result = composer.action_send()
        warning = False
        if isinstance(result, dict) and result.get("tag") == "display_notification":
            warning = result["params"]["message"]
        return {"ok": True, "warning": warning}

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

    def action_send(self):
        """Send through the account's SMTP server, then file a copy in Sent.

        An SMTP failure raises a UserError: the composer stays open, nothing
        is lost. A failed APPEND to Sent after a successful send is logged on
        the stored copy, since the mail already left.
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
        sender = Address(name=account.sender_name or self.env.user.name, email=account.email)
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
        try:
            with account._smtp_session() as smtp:
                refused = smtp.send(raw, account.email, [a.email for a in to + cc + bcc])
        except errors.EngineError as exc:
            raise UserError(self.env._("The email was not sent: %(reason)s",
                                       reason=account._explain_engine_error(exc, "smtp"))) from exc
        account._file_sent_copy(raw, message_id, parent)
        if refused:
            return self._refused_notification(refused, parent)
        return {"type": "ir.actions.act_window_close"}

    def _refused_notification(self, refused, parent):
        """The mail went out to the others: say who the server refused, and why.

        :param refused: ``{address: (SMTP code, reply text)}`` from
            :meth:`engine.smtp.SMTPSession.send`.
        :returns: a sticky warning notification that closes the composer; the
            refusal is also noted on the conversation replied to.
        """
        detail = ", ".join(f"{addr} ({code} {text})" for addr, (code, text) in refused.items())
        message = self.env._(
            "Sent, but the mail server refused these recipients: %(detail)s. Check the "
            "addresses and send to them again.", detail=detail)
        if parent.conversation_id:
            parent.conversation_id.sudo().message_post(
                body=message, message_type="comment", subtype_xmlid="mail.mt_note",
                author_id=self.env.user.partner_id.id)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"type": "warning", "sticky": True, "message": message,
                       "next": {"type": "ir.actions.act_window_close"}},
        }


def _signature_text(html):
    """A signature as the plain text the reply box previews ("" when empty)."""
    if not html or is_html_empty(html):
        return ""
    text = html2plaintext(str(html)).strip()
    return text if text.startswith("--") else f"-- \n{text}"
