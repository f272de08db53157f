import logging
import time
from concurrent.futures import ThreadPoolExecutor

from odoo import api, fields, models

from ..engine import errors
from ..engine.parallel import ParseWorker
from ..engine.sync import FolderState, plan_folder

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
#: Messages fetched and committed together with their cursor.
BATCH_SIZE = 50
#: UIDs per UID FETCH (FLAGS) when the server lacks CONDSTORE.
FLAG_SWEEP_PAGE = 5000


def _fetch_batch(session, worker, uids):
    """Fetch a batch and have it parsed by the worker process (runs in a thread)."""
    fetched = list(session.fetch(uids, batch_size=BATCH_SIZE))
    return fetched, worker.parse_many([f.raw for f in fetched])


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
        """``_sync_folder`` with folder-scoped errors (as OfflineIMAP's FOLDER severity).

        A folder deleted on the server (:class:`engine.errors.FolderGone`) or one the
        server refuses to open (``NO`` to EXAMINE, e.g. no permission) ends this folder
        only: it is marked (``present_on_server``, ``sync_error``), its synced mail is
        kept, and the account's other folders go on. Anything else (authentication,
        connection) propagates and ends the run.

        :returns: number of messages stored (0 when the folder was skipped).
        """
        self.ensure_one()
        try:
            stored = self._sync_folder(session, max_messages=max_messages, deadline=deadline)
        except (errors.FolderGone, errors.ProtocolFailed) as exc:
            if isinstance(exc, errors.ProtocolFailed) and exc.step not in ("select", "examine"):
                raise
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
            return 0
        if self.sync_error or not self.present_on_server:
            self.write({"sync_error": False, "present_on_server": True})
        return stored

    def _sync_folder(self, session, max_messages=None, deadline=None):
        """Bring this folder in line with the server; return the number of new rows.

        New mail: UIDs above the cursor (``last_uid``), fetched with
        ``BODY.PEEK[]`` in batches; every batch is written and committed
        together with the cursor, so a crash loses nothing and replays nothing.
        Changes to known mail (flags, expunged or moved away): when the server
        offers CONDSTORE (:rfc:`7162`), nothing is done while HIGHESTMODSEQ is
        unchanged and only ``CHANGEDSINCE`` is fetched otherwise; without it,
        a paged UID/FLAGS sweep.

        :param max_messages: fetch at most this many new messages now.
        :param deadline: ``time.monotonic()`` value after which no new batch starts.
        :returns: number of messages stored; ``self.sync_complete`` tells
            whether the folder is fully synced.
        """
        self.ensure_one()
        account = self.account_id
        Message = self.env["crm.inbox.message"]
        status = session.examine(self.name)
        plan = plan_folder(
            FolderState(self.uidvalidity or None, self.last_uid, self.initial_done,
                        self.special_use or ""),
            status.uidvalidity, status.uidnext, account.sync_since,
        )
        if plan.reset:
            _logger.warning("crm_inbox: UIDVALIDITY of %s changed (%s -> %s): resyncing",
                            self.name, self.uidvalidity, status.uidvalidity)
            self.write({"uidvalidity": plan.uidvalidity, "last_uid": 0, "initial_done": False,
                        "highest_modseq": 0})
        elif not self.uidvalidity:
            self.uidvalidity = plan.uidvalidity
        if not self.initial_done and not self.highest_modseq and status.highest_modseq:
            # the MODSEQ cursor of the first pass is taken before anything is fetched: a change
            # made while the (possibly sliced) first pass runs is above it and seen later
            self.highest_modseq = status.highest_modseq
        vals = {}
        if self.uidnext != status.uidnext:
            vals["uidnext"] = status.uidnext
        if self.server_count != status.exists:
            vals["server_count"] = status.exists
        if vals:
            self.write(vals)
        if plan.skip_history:
            self.write({"last_uid": max(status.uidnext - 1, 0), "initial_done": True,
                        "highest_modseq": status.highest_modseq or 0, "sync_complete": True})
            self._commit()
            return 0
        stored = 0
        complete = True
        if not plan.up_to_date:
            uids = session.search_uids(since=plan.since, min_uid=plan.min_uid)
            if max_messages is not None and len(uids) > max_messages:
                uids, complete = uids[:max_messages], False
            batches = [uids[i:i + BATCH_SIZE] for i in range(0, len(uids), BATCH_SIZE)]
            # the next batch is fetched from the server while this one is stored: only the
            # worker thread touches the IMAP session, only this thread the database
            # and parsed on another core by a worker process (engine.parallel)
            with ThreadPoolExecutor(max_workers=1) as prefetch, ParseWorker() as worker:
                pending = (prefetch.submit(_fetch_batch, session, worker, batches[0])
                           if batches else None)
                for index, batch in enumerate(batches):
                    fetched, parsed = pending.result()
                    pending = None
                    stop = deadline is not None and time.monotonic() > deadline
                    if index + 1 < len(batches) and not stop:
                        pending = prefetch.submit(_fetch_batch, session, worker,
                                                  batches[index + 1])
                    stored += Message._ingest(self, fetched, parsed)
                    self.last_uid = max(batch)
                    self._commit()
                    if stop and index + 1 < len(batches):
                        complete = False
                        break
        if complete:
            if not self.initial_done:
                self.initial_done = True
                self._drop_stale_rows()
            # also when a first pass ends: if it took several runs (interrupted, sliced),
            # rows stored by an earlier run may have changed or gone on the server since
            self._sync_changes(session, status)
        if self.sync_complete != complete:
            self.sync_complete = complete
        self._commit()
        return stored

    def _drop_stale_rows(self):
        """After a UIDVALIDITY change, rows not re-keyed by Message-ID are gone."""
        stale = self.env["crm.inbox.message"].search(
            [("folder_id", "=", self.id), ("uidvalidity", "!=", self.uidvalidity),
             ("imap_uid", ">", 0)])
        if stale:
            _logger.info("crm_inbox: %s rows of %s gone after a UIDVALIDITY change",
                         len(stale), self.name)
            stale._remove_copies()

    def _sync_changes(self, session, status):
        """Mirror flag changes and expunges made on the server by other clients.

        The MODSEQ cursor moves only after every change below it was applied.
        """
        modseq = status.highest_modseq
        if modseq and self.highest_modseq and modseq == self.highest_modseq:
            return  # RFC 7162 §3.1.2.1: nothing changed in this folder
        # every row with a UID, also above the cursor: a copy moved here from Odoo gets
        # its UID from COPYUID, and when another client expunges it before this folder's
        # next sync, the search for new mail never reaches it (it would stay forever)
        self.env.cr.execute(
            "SELECT imap_uid, id, is_read, is_flagged FROM crm_inbox_message "
            "WHERE folder_id = %s AND uidvalidity = %s AND imap_uid > 0",
            (self.id, self.uidvalidity),
        )
        known = {uid: (row_id, is_read, is_flagged)
                 for uid, row_id, is_read, is_flagged in self.env.cr.fetchall()}
        if not known:
            self.highest_modseq = modseq or 0
            return
        if modseq and self.highest_modseq:
            changed = session.fetch_flags(changed_since=self.highest_modseq)
        else:
            changed = {}
            ordered = sorted(known)
            for start in range(0, len(ordered), FLAG_SWEEP_PAGE):
                changed.update(session.fetch_flags(ordered[start:start + FLAG_SWEEP_PAGE]))
        updates = {}
        for uid, flags in changed.items():
            if uid not in known:
                continue
            row_id, is_read, is_flagged = known[uid]
            new = ("\\Seen" in flags, "\\Flagged" in flags)
            if new != (bool(is_read), bool(is_flagged)):
                updates.setdefault(new, []).append(row_id)
        Message = self.env["crm.inbox.message"]
        changed_rows = Message
        for (is_read, is_flagged), row_ids in updates.items():
            rows = Message.browse(row_ids)
            rows.write({"is_read": is_read, "is_flagged": is_flagged})
            changed_rows |= rows
        changed_rows.conversation_id._refresh_summary()
        on_server = set(session.search_uids(min_uid=1))
        gone = [known[uid][0] for uid in known if uid not in on_server]
        if gone:
            Message.browse(gone)._remove_copies()
        self.highest_modseq = modseq or 0

    def _commit(self):
        if self.env["crm.inbox.account"]._auto_commit():
            self.env.cr.commit()  # pylint: disable=invalid-commit  (rows + cursor together)
