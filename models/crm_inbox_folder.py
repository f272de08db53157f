import logging

from odoo import api, fields, models

from ..engine.sync import SKIP_HISTORY_ROLES, FolderState, plan_folder

_logger = logging.getLogger(__name__)

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
    uidvalidity = fields.Integer("UIDVALIDITY", copy=False, readonly=True)
    last_uid = fields.Integer("Last synced UID", copy=False, readonly=True)
    uidnext = fields.Integer("UIDNEXT", copy=False, readonly=True)
    initial_done = fields.Boolean("First sync done", copy=False, readonly=True)
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
                folder.write({"special_use": role, "present_on_server": True})
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

    def _sync_folder(self, session, max_messages=None):
        """Fetch what is new in this folder; return the number of messages stored.

        The cursor (``last_uid``) moves only over committed rows: every batch
        of messages is written and committed together with the cursor, so a
        crash loses nothing and replays nothing.
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
            self.write({"uidvalidity": plan.uidvalidity, "last_uid": 0, "initial_done": False})
        elif not self.uidvalidity:
            self.uidvalidity = plan.uidvalidity
        self.write({"uidnext": status.uidnext, "server_count": status.exists})
        if plan.skip_history:
            self.write({"last_uid": max(status.uidnext - 1, 0), "initial_done": True})
            self._commit()
            return 0
        if plan.up_to_date:
            self._commit()
            return 0
        uids = session.search_uids(since=plan.since, min_uid=plan.min_uid)
        stored = 0
        complete = True
        if max_messages is not None and len(uids) > max_messages:
            uids, complete = uids[:max_messages], False
        for start in range(0, len(uids), BATCH_SIZE):
            batch = uids[start:start + BATCH_SIZE]
            fetched = list(session.fetch(batch, batch_size=BATCH_SIZE))
            stored += Message._ingest(self, fetched)
            self.last_uid = max(batch)
            self._commit()
        if complete:
            if not self.initial_done:
                self.initial_done = True
            stale = Message.search([("folder_id", "=", self.id),
                                    ("uidvalidity", "!=", self.uidvalidity)])
            if stale:
                # rows of the old UIDVALIDITY not re-keyed by Message-ID are gone from the server
                _logger.info("crm_inbox: %s rows of %s gone after UIDVALIDITY change",
                             len(stale), self.name)
                stale.unlink()
        self._commit()
        return stored

    def _commit(self):
        if self.env["crm.inbox.account"]._auto_commit():
            self.env.cr.commit()  # pylint: disable=invalid-commit  (rows + cursor together)
