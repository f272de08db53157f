import logging

from odoo import api, fields, models

from ..engine import errors
from ..engine.sync import FolderState, FolderSync

_logger = logging.getLogger(__name__)


class BigInteger(fields.Integer):
    """An integer stored as PostgreSQL ``int8``.

    UIDVALIDITY and UIDs are unsigned 32-bit numbers (:rfc:`3501#section-2.3.1.1`)
    and MODSEQ is 63-bit (:rfc:`7162`): an ``int4`` column would overflow.
    """

    column_type = ("int8", "int8")

SPECIAL_USE = [
    ("\\Inbox", "Inbox"),
    ("\\Sent", "Sent"),
    ("\\Drafts", "Drafts"),
    ("\\Trash", "Trash"),
    ("\\Junk", "Junk"),
    ("\\Archive", "Archive"),
    ("\\All", "All Mail"),
    ("\\Flagged", "Flagged"),
]
#: Roles synced by default when the folder is first listed.
DEFAULT_SYNCED_ROLES = ("\\Inbox", "\\Sent")
class CrmInboxFolder(models.Model):
    """A folder of a connected mailbox, with its sync cursor (UIDVALIDITY, UID)."""

    _name = "crm.inbox.folder"
    _description = "Inbox Folder"
    _order = "account_id, sequence, name"

    name = fields.Char("Path", required=True, readonly=True)
    display_label = fields.Char("Folder", compute="_compute_display_label")
    sequence = fields.Integer(default=10)
    account_id = fields.Many2one(
        "crm.inbox.account", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    special_use = fields.Selection(SPECIAL_USE, "Role", readonly=True,
                                   help="Special-use role announced by the server (RFC 6154).")
    sync_enabled = fields.Boolean("Sync", default=False)
    present_on_server = fields.Boolean(default=True, readonly=True)
    sync_error = fields.Char(
        copy=False, readonly=True,
        help="Why the last sync of this folder stopped (e.g. deleted on the server); the "
             "account's other folders went on syncing.")
    uidvalidity = BigInteger("UIDVALIDITY", copy=False, readonly=True)
    last_uid = BigInteger("Last synced UID", copy=False, readonly=True)
    uidnext = BigInteger("UIDNEXT", copy=False, readonly=True)
    initial_done = fields.Boolean("First sync done", copy=False, readonly=True)
    low_uid = BigInteger(
        "Lowest synced UID", copy=False, readonly=True,
        help="Lower cursor of the first sync, which runs newest first: every message from "
             "this UID up to the last synced UID is stored.")
    highest_modseq = BigInteger(
        "HIGHESTMODSEQ", copy=False, readonly=True,
        help="CONDSTORE cursor (RFC 7162): changes up to this MODSEQ are mirrored.")
    sync_complete = fields.Boolean(copy=False, readonly=True,
                                   help="False while a long first sync is in progress.")
    server_count = fields.Integer("Messages on server", copy=False, readonly=True)
    message_ids = fields.One2many("crm.inbox.message", "folder_id")
    message_count = fields.Integer(compute="_compute_message_count", string="Messages")

    _sql_constraints = [
        ("name_unique", "UNIQUE(account_id, name)", "A folder is listed once per account."),
    ]

    @api.depends("name", "special_use")
    def _compute_display_label(self):
        labels = dict(SPECIAL_USE)
        for folder in self:
            folder.display_label = (
                labels.get(folder.special_use) if folder.special_use == "\\Inbox" else folder.name
            )

    def _compute_message_count(self):
        counts = dict(self.env["crm.inbox.message"]._read_group(
            [("folder_id", "in", self.ids)], ["folder_id"], ["__count"]))
        for folder in self:
            folder.message_count = counts.get(folder, 0)

    @api.model
    def _update_from_server(self, account, folder_infos):
        """Create or update folder rows from ``IMAPSession.list_folders()``.

        New Inbox and Sent folders are switched on; folders gone from the
        server are marked absent (their synced mail is kept).
        """
        existing = {f.name: f for f in account.with_context(active_test=False).folder_ids}
        seen = set()
        for info in folder_infos:
            if not info.selectable:
                continue
            seen.add(info.name)
            role = info.special_use if info.special_use in dict(SPECIAL_USE) else False
            folder = existing.get(info.name)
            if folder:
                folder.write({"special_use": role, "present_on_server": True,
                              "sync_error": False})
            else:
                self.create({
                    "account_id": account.id,
                    "name": info.name,
                    "special_use": role,
                    "sync_enabled": role in DEFAULT_SYNCED_ROLES,
                    "sequence": 1 if role == "\\Inbox" else (5 if role else 10),
                })
        for name, folder in existing.items():
            if name not in seen:
                folder.present_on_server = False

    def _sync_folder_scoped(self, session, max_messages=None, deadline=None):
        """Sync this folder with the engine's :class:`engine.sync.FolderSync`.

        A folder-scoped error (deleted on the server, refused) ends this folder
        only: it is marked (``present_on_server``, ``sync_error``), its synced mail
        is kept, and the account's other folders go on. Account-scoped errors
        (authentication, connection) propagate and end the run.

        :param max_messages: fetch at most this many messages now.
        :param deadline: ``time.monotonic()`` value after which no new batch starts.
        :returns: number of messages stored; ``self.sync_complete`` tells
            whether the folder is fully synced.
        """
        self.ensure_one()
        sync = FolderSync(session, _FolderStore(self), self.name, since=self.account_id.sync_since)
        result = sync.run(max_messages=max_messages, deadline=deadline)
        if result.folder_error:
            exc = result.folder_error
            if self.env["crm.inbox.account"]._auto_commit():
                self.env.cr.rollback()  # back to the folder's last committed batch
            gone = isinstance(exc, errors.FolderGone)
            _logger.warning("crm_inbox: folder %s of account %s skipped: %s",
                            self.name, self.account_id.id, exc)
            self.write({
                "present_on_server": not gone,
                "sync_error": self.env._("“%(folder)s” no longer exists on the server.",
                                         folder=self.name) if gone else
                self.env._("The server refused to open “%(folder)s”: check that the "
                           "mailbox may read it.", folder=self.name),
            })
            self._commit()
        elif self.sync_error or not self.present_on_server:
            self.write({"sync_error": False, "present_on_server": True})
            self._commit()
        return result.stored

    # kept for callers and tests of the previous name
    _sync_folder = _sync_folder_scoped

    def _commit(self):
        if self.env["crm.inbox.account"]._auto_commit():
            self.env.cr.commit()  # pylint: disable=invalid-commit  (rows + cursor together)


class _FolderStore:
    """:class:`engine.sync.FolderStore` of one ``crm.inbox.folder``, over the ORM.

    Rows are written as superuser by the sync; :meth:`commit` commits the
    transaction (rows and cursors together) unless the tests hold it open.
    """

    _CURSOR_FIELDS = ("uidvalidity", "last_uid", "low_uid", "initial_done", "highest_modseq",
                      "uidnext", "server_count", "sync_complete")

    def __init__(self, folder):
        self.folder = folder
        self.env = folder.env

    def load(self):
        f = self.folder
        return FolderState(f.uidvalidity or None, f.last_uid, f.initial_done,
                           f.special_use or "", f.low_uid, f.highest_modseq)

    def save(self, **changes):
        unknown = set(changes) - set(self._CURSOR_FIELDS)
        if unknown:
            raise ValueError(f"not a cursor field: {sorted(unknown)}")
        vals = {k: v for k, v in changes.items() if self.folder[k] != v}
        if vals:
            self.folder.write(vals)

    def reset(self, uidvalidity):
        _logger.warning("crm_inbox: UIDVALIDITY of %s changed (%s -> %s): resyncing",
                        self.folder.name, self.folder.uidvalidity, uidvalidity)
        self.folder.write({"uidvalidity": uidvalidity, "last_uid": 0, "low_uid": 0,
                           "initial_done": False, "highest_modseq": 0})

    def ingest(self, fetched, parsed):
        cr = self.env.cr
        cr.execute("SELECT coalesce(max(id), 0) FROM crm_inbox_message")
        before = cr.fetchone()[0]
        stored = self.env["crm.inbox.message"]._ingest(self.folder, fetched, parsed)
        if stored:
            # the conversations that got new mail, for the bus notification of commit()
            cr.execute("SELECT DISTINCT conversation_id FROM crm_inbox_message "
                       "WHERE id > %s AND folder_id = %s AND conversation_id IS NOT NULL",
                       (before, self.folder.id))
            self._new_mail = getattr(self, "_new_mail", set()) | {r[0] for r in cr.fetchall()}
        return stored

    def drop_stale(self):
        """After a UIDVALIDITY change, rows not re-keyed by Message-ID are gone."""
        stale = self.env["crm.inbox.message"].search(
            [("folder_id", "=", self.folder.id), ("uidvalidity", "!=", self.folder.uidvalidity),
             ("imap_uid", ">", 0)])
        if stale:
            _logger.info("crm_inbox: %s rows of %s gone after a UIDVALIDITY change",
                         len(stale), self.folder.name)
            stale._remove_copies()

    def _rows(self):
        self.env.cr.execute(
            "SELECT imap_uid, id, is_read, is_flagged FROM crm_inbox_message "
            "WHERE folder_id = %s AND uidvalidity = %s AND imap_uid > 0",
            (self.folder.id, self.folder.uidvalidity),
        )
        return {uid: (row_id, bool(seen), bool(flagged))
                for uid, row_id, seen, flagged in self.env.cr.fetchall()}

    def known_flags(self):
        self._known = self._rows()
        return {uid: (seen, flagged) for uid, (_id, seen, flagged) in self._known.items()}

    def _ids(self, uids):
        known = getattr(self, "_known", None) or self._rows()
        return [known[uid][0] for uid in uids if uid in known]

    def apply_flags(self, changes):
        Message = self.env["crm.inbox.message"]
        by_value = {}
        for uid, value in changes.items():
            by_value.setdefault(value, []).append(uid)
        changed = Message
        for (seen, flagged), uids in by_value.items():
            rows = Message.browse(self._ids(uids))
            rows.write({"is_read": seen, "is_flagged": flagged})
            changed |= rows
        changed.conversation_id._refresh_summary()

    def remove(self, uids):
        self.env["crm.inbox.message"].browse(self._ids(uids))._remove_copies()

    def commit(self):
        # new mail of this batch: a bus notification to the account's readers (sent
        # by the commit itself, so never for a batch that is rolled back)
        new_mail = getattr(self, "_new_mail", None)
        if new_mail:
            self._new_mail = set()
            self.env["crm.inbox.conversation"]._client_notify_new_mail(
                self.folder.account_id, new_mail)
        self.folder._commit()
