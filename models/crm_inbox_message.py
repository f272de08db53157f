import json
import logging
from datetime import UTC

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..engine import errors, sync
from ..engine.gateway import automatic_kind
from ..engine.mime import (
    normalize_email,
    parse_authentication_results,
    parse_message,
    sender_warning,
)
from ..engine.quote import split_html, split_text
from .crm_inbox_folder import BigInteger
from .mail_render import INLINE_IMAGE_TYPES, render_mail_html, render_plain_text

_logger = logging.getLogger(__name__)


def _addresses(addrs):
    """An address header as stored for display and replies: ``mime.Address`` formats
    each mailbox (a display name with a comma or other specials is quoted)."""
    return ", ".join(str(a) for a in addrs if a.email)


class CrmInboxMessage(models.Model):
    """One copy of an email in one folder of one mailbox (key: folder, UIDVALIDITY, UID)."""

    _name = "crm.inbox.message"
    _description = "Inbox Message"
    _order = "date desc, id desc"
    _rec_name = "subject"

    account_id = fields.Many2one("crm.inbox.account", required=True, ondelete="cascade",
                                 index=True)
    folder_id = fields.Many2one("crm.inbox.folder", required=True, ondelete="cascade",
                                index=True)
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    conversation_id = fields.Many2one("crm.inbox.conversation", ondelete="set null", index=True)
    uidvalidity = BigInteger("UIDVALIDITY", readonly=True)
    imap_uid = BigInteger("UID", readonly=True,
                              help="0 until the server told the UID of a message sent from Odoo.")
    message_id = fields.Char("Message-ID", index=True, readonly=True)
    in_reply_to = fields.Char("In-Reply-To", readonly=True)
    references = fields.Text(readonly=True)
    date = fields.Datetime(readonly=True, index=True)
    subject = fields.Char(readonly=True)
    email_from = fields.Char("From", readonly=True)
    email_to = fields.Char("To", readonly=True)
    email_cc = fields.Char("Cc", readonly=True)
    author_id = fields.Many2one("res.partner", "Sender", readonly=True, index=True)
    partner_ids = fields.Many2many("res.partner", string="Contacts", readonly=True)
    body_text = fields.Text("Plain text", readonly=True)
    body_html = fields.Html("HTML", readonly=True, sanitize=True,
                            help="Sanitized with Odoo's HTML sanitizer: no scripts, no forms.")
    body_display = fields.Html(
        "Body", compute="_compute_body_display", sanitize=False,
        help="body_html through the mail renderer (models/mail_render.py): sanitized last, "
        "nothing remote unless allowed; shown in a sandboxed frame.")
    remote_content_allowed = fields.Boolean("Remote images shown", readonly=True)
    has_remote_content = fields.Boolean(compute="_compute_body_display")
    cid_map = fields.Char(readonly=True)  # JSON {content-id: attachment id}
    attachment_ids = fields.One2many(
        "ir.attachment", "res_id", domain=[("res_model", "=", "crm.inbox.message")],
        string="Attachments", readonly=True,
    )
    attachment_count = fields.Integer(readonly=True)
    delivery_key = fields.Char(
        readonly=True, copy=False,
        help="Key of a message received through the forwarding address (no IMAP folder "
             "or UID): the hash of its bytes, so a re-delivery adds nothing.")
    is_read = fields.Boolean("Read", readonly=True)
    is_flagged = fields.Boolean("Flagged", readonly=True)
    direction = fields.Selection([("in", "Received"), ("out", "Sent")], readonly=True)
    size = fields.Integer("Size (bytes)", readonly=True)
    is_malformed = fields.Boolean("Malformed", readonly=True,
                                  help="Could not be parsed: the original is attached as .eml.")
    parse_warning = fields.Text(readonly=True)
    automatic_kind = fields.Selection(
        [("auto_reply", "Automatic reply"), ("bounce", "Delivery report"),
         ("bulk", "List or bulk mail")],
        "Automatic mail", readonly=True, index="btree_not_null",
        help="Sent by a machine (RFC 3834 Auto-Submitted, X-Autoreply, X-Autorespond; "
        "RFC 3464 delivery reports, empty Return-Path; Precedence bulk/junk/list, "
        "List-Id): not the other party's answer, never a new contact. Empty for a "
        "person's mail (engine.gateway.automatic_kind).")
    # sender authentication, from the receiving server's Authentication-Results (RFC 8601)
    auth_spf = fields.Char("SPF", readonly=True)
    auth_dkim = fields.Char("DKIM", readonly=True)
    auth_dmarc = fields.Char("DMARC", readonly=True)
    auth_server = fields.Char("Checked by", readonly=True,
                              help="authserv-id of the Authentication-Results field read.")
    auth_warning = fields.Text(
        "Sender warning", readonly=True,
        help="Set when DMARC failed or the From domain is confirmed by neither DKIM nor SPF: "
        "the sender may be forged. Such a sender never becomes a contact automatically.")

    _sql_constraints = [
        ("uid_unique", "UNIQUE(folder_id, uidvalidity, imap_uid)",
         "A mailbox copy is stored once per folder, UIDVALIDITY and UID."),
    ]

    def init(self):
        # the UNIQUE constraint above must not catch sent copies waiting for their UID (0)
        self.env.cr.execute("""
            ALTER TABLE crm_inbox_message DROP CONSTRAINT IF EXISTS crm_inbox_message_uid_unique;
            CREATE UNIQUE INDEX IF NOT EXISTS crm_inbox_message_uid_unique_idx
                ON crm_inbox_message (folder_id, uidvalidity, imap_uid) WHERE imap_uid > 0;
            CREATE UNIQUE INDEX IF NOT EXISTS crm_inbox_message_delivery_key_unique_idx
                ON crm_inbox_message (folder_id, delivery_key) WHERE delivery_key IS NOT NULL;
        """)

    # ------------------------------------------------------------------
    @api.depends("body_html", "body_text", "remote_content_allowed", "cid_map")
    def _compute_body_display(self):
        for message in self:
            body, has_remote = message._crm_inbox_render()
            message.body_display = body
            message.has_remote_content = has_remote

    def _crm_inbox_cid_urls(self, attachments=None):
        """``{content-id: "/web/image/<id>"}`` of this message's inline raster images.

        :param attachments: this message's ``ir.attachment`` records when already read
            (no query then), else they are searched.
        """
        cids = json.loads(self.cid_map or "{}")
        if not cids:
            return {}
        if attachments is not None:
            images = [att.id for att in attachments if att.res_id == self.id
                      and att.mimetype in INLINE_IMAGE_TYPES]
            return {cid: f"/web/image/{att_id}" for cid, att_id in cids.items()
                    if att_id in images}
        images = self.env["ir.attachment"].sudo().search([
            ("id", "in", [i for i in cids.values() if isinstance(i, int)]),
            ("res_model", "=", self._name), ("res_id", "=", self.id),
            ("mimetype", "in", list(INLINE_IMAGE_TYPES)),
        ]).ids
        return {cid: f"/web/image/{att_id}" for cid, att_id in cids.items() if att_id in images}

    def _crm_inbox_render(self, allow_remote=None, with_cids=True, cid_urls=None):
        """This message's body through the one mail renderer (``mail_render``).

        :param allow_remote: ``None``: the message's own consent.
        :param cid_urls: the ``cid:`` map when already computed (see
            :meth:`_crm_inbox_cid_urls`), used only with *with_cids*.
        :returns: ``(Markup, has_remote)``.
        """
        self.ensure_one()
        if self.body_html:
            allow_remote, cid_urls = self._crm_inbox_render_inputs(allow_remote, with_cids,
                                                                   cid_urls)
            return render_mail_html(self.body_html, cid_urls, allow_remote=allow_remote)
        return render_mail_html(render_plain_text(self.body_text))

    def _crm_inbox_render_inputs(self, allow_remote, with_cids, cid_urls):
        """``(allow_remote, cid_urls)`` for rendering this message's HTML body: the
        message's own consent when *allow_remote* is ``None``; its inline images only
        *with_cids* (computed unless given)."""
        if allow_remote is None:
            allow_remote = self.remote_content_allowed
        if not with_cids:
            cid_urls = {}
        elif cid_urls is None:
            cid_urls = self._crm_inbox_cid_urls()
        return allow_remote, cid_urls

    def _crm_inbox_render_split(self, allow_remote=None, with_cids=True, cid_urls=None):
        """:meth:`_crm_inbox_render`, with the quoted history and signature apart.

        The stored body is split first (:func:`engine.quote.split_html` /
        :func:`~engine.quote.split_text`), then each part goes through the one mail
        renderer, so sanitizing stays the last step.

        :returns: ``(main Markup, quoted Markup, has_remote)``; *quoted* is empty when
            nothing was folded.
        """
        self.ensure_one()
        if self.body_html:
            allow_remote, cid_urls = self._crm_inbox_render_inputs(allow_remote, with_cids,
                                                                   cid_urls)
            main, quoted = split_html(str(self.body_html))
            main, remote_main = render_mail_html(main, cid_urls, allow_remote=allow_remote)
            quoted, remote_quoted = render_mail_html(quoted, cid_urls, allow_remote=allow_remote)
            return main, quoted, remote_main or remote_quoted
        main, quoted = split_text(self.body_text or "")
        main = render_mail_html(render_plain_text(main))[0]
        quoted = render_mail_html(render_plain_text(quoted))[0] if quoted else ""
        return main, quoted, False

    def action_show_remote_content(self):
        """Allow remote images for these messages; the body is re-rendered on the server."""
        self.check_access("read")
        self.sudo().write({"remote_content_allowed": True})
        return True

    # ------------------------------------------------------------------
    # ingestion
    # ------------------------------------------------------------------
    @api.model
    def _ingest(self, folder, fetched, parsed=None):
        """Store a batch of ``engine.imap.FetchedMessage`` of *folder*.

        Idempotent: copies already stored under (folder, UIDVALIDITY, UID) are
        skipped; after a UIDVALIDITY change, stale rows are re-keyed by
        Message-ID instead of duplicated; a copy APPENDed by Odoo to Sent gets
        its UID. A message that cannot be parsed is stored raw (attached as
        .eml) with a warning. Returns the number of new rows.

        :param fetched: list of ``engine.imap.FetchedMessage``.
        :param parsed: their ``ParsedMessage`` in the same order when already
            parsed (by ``engine.parallel.ParseWorker``), else ``None``.
        """
        if not fetched:
            return 0
        account = folder.account_id
        uidvalidity = folder.uidvalidity
        known = set(self.search([
            ("folder_id", "=", folder.id), ("uidvalidity", "=", uidvalidity),
            ("imap_uid", "in", [f.uid for f in fetched if f.uid]),
        ]).mapped("imap_uid"))
        todo = [f for f in fetched if not f.uid or f.uid not in known]
        if not todo:
            return 0
        if parsed is not None:
            by_uid = {id(f): p for f, p in zip(fetched, parsed, strict=True)}
            parsed = [(f, by_uid[id(f)]) for f in todo]
        else:
            parsed = [(f, parse_message(f.raw)) for f in todo]
        ids = [p.message_id for _f, p in parsed if p.message_id]
        if ids:
            # mail deleted in Odoo on purpose is not imported again (tombstones)
            deleted = set(self.env["crm.inbox.tombstone"].search(
                [("account_id", "=", account.id), ("message_id", "in", ids)]).mapped("message_id"))
            if deleted:
                parsed = [(f, p) for f, p in parsed if p.message_id not in deleted]
        # rows waiting for a UID: stale ones (old UIDVALIDITY) and sent or moved copies (UID 0)
        waiting = {}
        if ids:
            for row in self.search([
                ("folder_id", "=", folder.id), ("message_id", "in", ids),
                "|", ("uidvalidity", "!=", uidvalidity), ("imap_uid", "=", 0),
            ]):
                waiting.setdefault(row.message_id, row)
        partners = self.env["res.partner"]._crm_inbox_find_partners(
            account, [p for _f, p in parsed],
            no_new_contacts={id(p) for f, p in parsed if automatic_kind(f.raw)},
        )
        new, rekeyed = [], self.browse()
        for fetched_msg, msg in parsed:
            row = waiting.pop(msg.message_id, None) if msg.message_id else None
            if row:
                flags = set(fetched_msg.flags)
                row.write({
                    "uidvalidity": uidvalidity, "imap_uid": fetched_msg.uid,
                    "is_read": "\\Seen" in flags, "is_flagged": "\\Flagged" in flags,
                })
                rekeyed |= row
            else:
                new.append((fetched_msg, msg))
        if rekeyed:
            rekeyed.conversation_id._refresh_summary()
        if not new:
            return 0
        try:
            with self.env.cr.savepoint():
                return len(self._store_batch(folder, new, partners))
        except Exception:
            _logger.warning("crm_inbox: batch of %s messages of %s failed, storing one by one",
                            len(new), folder.name, exc_info=True)
        for fetched_msg, msg in new:
            try:
                with self.env.cr.savepoint():
                    self._store_batch(folder, [(fetched_msg, msg)], partners)
            except Exception as exc:
                _logger.warning("crm_inbox: storing UID %s of %s raw: %s",
                                fetched_msg.uid, folder.name, exc, exc_info=True)
                with self.env.cr.savepoint():
                    self._create_raw(folder, fetched_msg, str(exc))
        return len(new)

    def _store_batch(self, folder, items, partners):
        """Create the rows, conversations and attachments of new messages in bulk.

        A handful of queries per batch plus about two per message (row, contacts).

        :param items: list of ``(FetchedMessage, ParsedMessage)``.
        :param partners: ``{normalized email: res.partner}``.
        :returns: the new rows.
        """
        account = folder.account_id
        pairs = [(msg, self._prepare_vals(folder, fetched_msg, msg, partners))
                 for fetched_msg, msg in items]
        conversations = self.env["crm.inbox.conversation"]._assign_batch(account, pairs)
        rows = self.create([vals for _msg, vals in pairs])
        attachment_vals, cid_owners = [], []
        for row, (fetched_msg, msg) in zip(rows, items, strict=True):
            for att in msg.attachments:
                attachment_vals.append({
                    "name": att.filename or "attachment", "raw": att.data,
                    "mimetype": att.content_type, "res_model": self._name, "res_id": row.id,
                })
                cid_owners.append((row, att.content_id))
            if msg.malformed:
                attachment_vals.append({
                    "name": f"original-{fetched_msg.uid}.eml", "raw": fetched_msg.raw,
                    "mimetype": "message/rfc822", "res_model": self._name, "res_id": row.id,
                })
                cid_owners.append((row, ""))
        if attachment_vals:
            # as Odoo's mail gateway: HTML, XML and SVG stored as text/plain (mail_thread.py)
            attachments = self.env["ir.attachment"].sudo().with_context(
                attachments_mime_plainxml=True).create(attachment_vals)
            cids = {}
            for (row, content_id), attachment in zip(cid_owners, attachments, strict=True):
                if content_id:
                    cids.setdefault(row, {})[content_id.strip("<>")] = attachment.id
            for row, mapping in cids.items():
                row.cid_map = json.dumps(mapping)
        conversations._refresh_summary()
        return rows

    def _prepare_vals(self, folder, fetched_msg, msg, partners):
        """Values of the row of one parsed message (no query)."""
        account = folder.account_id
        own = normalize_email(account.email)
        from_addr = msg.from_[0] if msg.from_ else None
        author = partners.get(normalize_email(from_addr.email)) if from_addr else None
        participant_ids = []
        for addr in (*msg.from_, *msg.to, *msg.cc):
            partner = partners.get(normalize_email(addr.email))
            if partner and partner.id not in participant_ids:
                participant_ids.append(partner.id)
        direction = "out" if from_addr and normalize_email(from_addr.email) == own else "in"
        auth = self._crm_inbox_auth(msg)
        date = msg.date or fetched_msg.internal_date
        if date is not None and date.tzinfo is not None:
            date = date.astimezone(UTC).replace(tzinfo=None)
        return {
            "account_id": account.id,
            "folder_id": folder.id,
            "uidvalidity": folder.uidvalidity,
            "imap_uid": fetched_msg.uid,
            "message_id": msg.message_id or False,
            "in_reply_to": msg.in_reply_to or False,
            "references": " ".join(msg.references) or False,
            "date": date or fields.Datetime.now(),
            "subject": msg.subject or False,
            "email_from": _addresses(msg.from_) or False,
            "email_to": _addresses(msg.to) or False,
            "email_cc": _addresses(msg.cc) or False,
            "author_id": author.id if author else False,
            "partner_ids": [(6, 0, participant_ids)],
            "body_text": msg.body_text or False,
            "body_html": msg.body_html or False,
            "is_read": "\\Seen" in fetched_msg.flags,
            "is_flagged": "\\Flagged" in fetched_msg.flags,
            "direction": direction,
            "size": msg.size or len(fetched_msg.raw),
            "is_malformed": msg.malformed,
            "parse_warning": "\n".join(msg.warnings) or False,
            "automatic_kind": automatic_kind(fetched_msg.raw) or False,
            "attachment_count": len(msg.attachments),
            "auth_spf": auth[0].spf or False,
            "auth_dkim": auth[0].dkim or False,
            "auth_dmarc": auth[0].dmarc or False,
            "auth_server": auth[0].authserv_id or False,
            "auth_warning": auth[1] or False,
            "delivery_key": self.env.context.get("crm_inbox_delivery_key") or False,
        }

    @api.model
    def _crm_inbox_auth(self, msg):
        """``(AuthResults, warning)`` of a ParsedMessage, from the receiving server's field.

        The topmost Authentication-Results field is read, or with the system parameter
        ``crm_inbox.authserv_ids`` (comma-separated host names) the topmost of those.
        """
        trusted = (self.env["ir.config_parameter"].sudo().get_param(
            "crm_inbox.authserv_ids") or "").split(",")
        auth = parse_authentication_results(msg.authentication_results, trusted)
        sender = msg.from_[0].email if msg.from_ else ""
        return auth, sender_warning(auth, sender)

    def _create_raw(self, folder, fetched_msg, warning):
        row = self.create({
            "account_id": folder.account_id.id, "folder_id": folder.id,
            "uidvalidity": folder.uidvalidity, "imap_uid": fetched_msg.uid,
            "subject": "(unreadable message)", "is_malformed": True,
            "parse_warning": warning, "size": len(fetched_msg.raw),
            "automatic_kind": automatic_kind(fetched_msg.raw) or False,
            "is_read": "\\Seen" in fetched_msg.flags,
            "date": fields.Datetime.now(),
            "delivery_key": self.env.context.get("crm_inbox_delivery_key") or False,
        })
        row._attach_raw(fetched_msg.raw)
        return row

    def _attach_raw(self, raw):
        self.env["ir.attachment"].create({
            "name": f"original-{self.imap_uid}.eml", "raw": raw,
            "mimetype": "message/rfc822", "res_model": self._name, "res_id": self.id,
        })

    def _remove_copies(self):
        """Forget these mailbox copies (gone from the server), with their attachments.

        Conversations left without any email and without notes go too.
        """
        conversations = self.conversation_id
        self.env["ir.attachment"].sudo().search(
            [("res_model", "=", self._name), ("res_id", "in", self.ids)]).unlink()
        self.unlink()
        empty = conversations.filtered(
            lambda c: not c.inbox_message_ids
            and not c.message_ids.filtered(lambda m: m.message_type == "comment"))
        empty.unlink()
        (conversations - empty).exists()._refresh_summary()

    # ------------------------------------------------------------------
    # changes made in Odoo, written to the server (two-way sync)
    # ------------------------------------------------------------------
    def _on_server(self, operation):
        """Run ``operation(session, folder, records)`` per folder, then return.

        The IMAP session is opened per account with its owner's settings; a
        server error becomes a UserError naming the fix, and nothing is changed
        in Odoo (the caller writes after this returns).
        """
        for account in self.account_id:
            if account.connection_type == "forwarding":
                continue  # mail received through the forwarding address lives in Odoo only
            mine = self.filtered(lambda m, account=account: m.account_id == account)
            try:
                with account.sudo()._imap_session() as session:
                    for folder in mine.folder_id:
                        records = mine.filtered(lambda m, f=folder: m.folder_id == f)
                        operation(session, folder, records)
            except errors.EngineError as exc:
                raise UserError(account._explain_engine_error(exc, "imap")) from exc

    def _uids(self):
        return [m.imap_uid for m in self if m.imap_uid]

    def _set_flag(self, flag, field, value):
        self.check_access("write")
        todo = self.filtered(lambda m: m[field] != value)
        if not todo:
            return

        def operation(session, folder, records):
            sync.store_flag(session, folder.name, records._uids(), flag, value)

        todo.sudo()._on_server(operation)
        todo.sudo().write({field: value})
        todo.sudo().conversation_id._refresh_summary()

    def action_mark_read(self):
        self._set_flag("\\Seen", "is_read", True)

    def action_mark_unread(self):
        self._set_flag("\\Seen", "is_read", False)

    def action_flag(self):
        self._set_flag("\\Flagged", "is_flagged", True)

    def action_unflag(self):
        self._set_flag("\\Flagged", "is_flagged", False)

    def _move_to(self, dest):
        """MOVE these copies to *dest* (a crm.inbox.folder of the same account)."""
        self.check_access("write")
        todo = self.filtered(lambda m: m.folder_id != dest)
        if not todo:
            return
        new_uids = {}
        gone = set()

        def operation(session, folder, records):
            moved = sync.move_messages(session, folder.name, records._uids(), dest.name)
            for record in records:
                new_uids[record.id] = moved.new_uids.get(record.imap_uid, 0)
                if record.imap_uid in moved.gone:
                    gone.add(record.id)

        todo.sudo()._on_server(operation)
        if gone:
            todo.sudo().filtered(lambda m: m.id in gone)._remove_copies()
            todo = todo.filtered(lambda m: m.id not in gone)
        for record in todo.sudo():
            # UID 0: the next sync of *dest* fills it in, matched by Message-ID
            record.write({"folder_id": dest.id, "uidvalidity": dest.uidvalidity,
                          "imap_uid": new_uids.get(record.id, 0)})
        todo.sudo().conversation_id._refresh_summary()

    def action_archive_mail(self):
        for account in self.account_id:
            archive = account._get_folder("\\Archive")
            if not archive:
                raise UserError(self.env._(
                    "The mailbox %(email)s has no Archive folder: create one in your mail "
                    "client, then test the connection again.", email=account.email))
            self.filtered(lambda m, a=account: m.account_id == a)._move_to(archive)

    def action_delete_mail(self):
        """Delete on the server (to Trash, or expunged from Trash) and in Odoo.

        A tombstone keeps the message from being imported again.
        """
        self.check_access("write")
        for account in self.account_id:
            mine = self.filtered(lambda m, a=account: m.account_id == a).sudo()
            trash = account.sudo()._get_folder("\\Trash")

            def operation(session, folder, records, trash=trash):
                sync.delete_messages(session, folder.name, records._uids(),
                                     trash.name if trash else None)

            mine._on_server(operation)
            self.env["crm.inbox.tombstone"].sudo().create([
                {"account_id": account.id, "message_id": m.message_id}
                for m in mine if m.message_id
            ])
            mine._remove_copies()

    # ------------------------------------------------------------------
    def action_reply(self):
        return self._open_composer("reply")

    def action_reply_all(self):
        return self._open_composer("reply_all")

    def action_forward(self):
        return self._open_composer("forward")

    def _open_composer(self, mode):
        self.ensure_one()
        return self.env["crm.inbox.compose"]._action_open({
            "default_account_id": self.account_id.id,
            "default_parent_id": self.id,
            "default_mode": mode,
        })



class CrmInboxTombstone(models.Model):
    """A message deleted in Odoo on purpose: never imported again for that account."""

    _name = "crm.inbox.tombstone"
    _description = "Inbox Deleted Message"
    _log_access = False

    account_id = fields.Many2one("crm.inbox.account", required=True, ondelete="cascade",
                                 index=True)
    message_id = fields.Char("Message-ID", required=True, index=True)
