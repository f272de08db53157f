"""The sync of one IMAP folder: every decision, no database.

:class:`FolderSync` brings one folder of the server in line with what a
:class:`FolderStore` holds (the addon's store is ``crm.inbox.folder`` over the
ORM; the tests use an in-memory one). The rules:

* A UID means something only with its folder's UIDVALIDITY
  (:rfc:`3501#section-2.3.1.1`): when it changes, the cursors restart and the
  stored rows are re-keyed by Message-ID by the store, never duplicated.
* Read-only: ``EXAMINE`` and ``BODY.PEEK[]``, never a search by ``UNSEEN``.
* **Newest mail first.** The first pass fetches the newest batch, then fills
  the history in backwards: two cursors bound the range whose every message
  (since the start date) is stored, ``low_uid`` ≤ UID ≤ ``last_uid``. New mail
  above ``last_uid`` is always fetched before more history.
* A cursor moves only together with the rows it covers, in one
  :meth:`FolderStore.commit`: a crash between two batches loses nothing and
  stores nothing twice.
* The ``HIGHESTMODSEQ`` cursor (CONDSTORE, :rfc:`7162`) is taken before the
  first pass fetches anything, and moves only after every change below it was
  applied; without CONDSTORE, flags are swept by pages of UIDs.
* Errors keep their scope, as OfflineIMAP's severities do (MESSAGE < FOLDER <
  REPO): a message that cannot be parsed is stored raw by the store; a folder
  that is gone or refused (:func:`error_scope` ``"folder"``) ends this folder
  and is reported in :attr:`FolderResult.folder_error`; anything else
  (authentication, connection) propagates and ends the account's run.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Protocol

from . import errors
from .imap import IMAPSession
from .parallel import ParseWorker
from .smtp import SMTPSession

#: Special-use roles (RFC 6154) whose old content is never imported on the
#: first sync: only mail arriving after the account was connected is synced.
SKIP_HISTORY_ROLES = frozenset({"\\Trash", "\\Junk"})
#: Messages fetched and committed together with their cursor.
BATCH_SIZE = 50
#: UIDs per ``UID FETCH (FLAGS)`` when the server lacks CONDSTORE.
FLAG_SWEEP_PAGE = 5000


@dataclass(frozen=True)
class FolderState:
    """What the store knows about one folder (its cursors).

    :ivar uidvalidity: UIDVALIDITY the stored UIDs belong to, ``None`` before
        the first sync.
    :ivar last_uid: upper cursor: highest UID of the stored range; 0 when
        nothing was synced.
    :ivar initial_done: ``True`` once the first pass (SINCE the start date)
        reached the bottom of the folder.
    :ivar special_use: RFC 6154 role such as ``"\\\\Sent"``, or ``""``.
    :ivar low_uid: lower cursor of the first pass: every message (since the
        start date) with ``low_uid <= UID <= last_uid`` is stored; 0 when the
        first pass has not stored anything yet.
    :ivar highest_modseq: CONDSTORE cursor, 0 when none.
    """

    uidvalidity: int | None
    last_uid: int
    initial_done: bool
    special_use: str = ""
    low_uid: int = 0
    highest_modseq: int = 0


@dataclass(frozen=True)
class FolderPlan:
    """What to do on the folder in this run.

    :ivar reset: UIDVALIDITY changed: every stored UID of the folder is stale;
        rows must be re-keyed by Message-ID, not duplicated.
    :ivar uidvalidity: the server's current UIDVALIDITY, to store.
    :ivar since: ``SINCE`` date for the searches (first pass only), else ``None``.
    :ivar min_uid: new mail is searched as ``UID min_uid:*``.
    :ivar skip_history: the folder's existing mail is not imported: move the
        cursor to ``uidnext - 1`` without fetching.
    :ivar uidnext: the server's UIDNEXT.
    :ivar up_to_date: nothing new can exist above the cursor (UIDNEXT says so).
    :ivar backfill: the first pass is not finished: history below ``low_uid``
        (or the whole folder when nothing is stored) remains to fetch.
    """

    reset: bool
    uidvalidity: int
    since: date | None
    min_uid: int
    skip_history: bool
    uidnext: int
    up_to_date: bool
    backfill: bool = False


def plan_folder(state: FolderState, uidvalidity: int, uidnext: int, since: date | None) -> FolderPlan:
    """Plan the incremental sync of one folder.

    :param state: the stored cursors.
    :param uidvalidity: UIDVALIDITY from EXAMINE.
    :param uidnext: UIDNEXT from EXAMINE (0 when the server did not send it).
    :param since: first day to import on the first pass (the account's
        "sync emails from" date), ``None`` for everything.
    :returns: a :class:`FolderPlan`.
    """
    reset = state.uidvalidity is not None and state.uidvalidity != uidvalidity
    initial = reset or not state.initial_done
    last_uid = 0 if reset else state.last_uid
    skip_history = initial and not reset and state.special_use in SKIP_HISTORY_ROLES
    up_to_date = uidnext > 0 and uidnext <= last_uid + 1
    return FolderPlan(
        reset=reset,
        uidvalidity=uidvalidity,
        since=since if initial else None,
        min_uid=last_uid + 1,
        skip_history=skip_history,
        uidnext=uidnext,
        up_to_date=up_to_date,
        backfill=initial and not skip_history,
    )


def error_scope(exc: BaseException) -> str:
    """The scope an error ends: ``"message"``, ``"folder"`` or ``"account"``.

    ``"folder"``: the folder is gone (:class:`errors.FolderGone`) or the server
    answered NO to opening it (:class:`errors.ProtocolFailed` at ``select`` /
    ``examine``, e.g. no permission). ``"message"``: a message could not be
    parsed. Everything else ends the account's run.
    """
    if isinstance(exc, errors.FolderGone):
        return "folder"
    if isinstance(exc, errors.ProtocolFailed) and exc.step in ("select", "examine"):
        return "folder"
    if isinstance(exc, errors.MalformedMessage):
        return "message"
    return "account"


class FolderStore(Protocol):
    """What :class:`FolderSync` needs from the database, for one folder.

    Writes are pending until :meth:`commit`; a crash before it loses them all,
    cursors and rows together.
    """

    def load(self) -> FolderState:
        """The committed cursors."""

    def save(self, **changes) -> None:
        """Set cursor fields: ``uidvalidity``, ``last_uid``, ``low_uid``,
        ``initial_done``, ``highest_modseq``, ``uidnext``, ``server_count``,
        ``sync_complete`` (keyword arguments, ints or bools)."""

    def reset(self, uidvalidity: int) -> None:
        """UIDVALIDITY changed: keep the rows (to be re-keyed by Message-ID as
        they are fetched again) and restart every cursor."""

    def ingest(self, fetched: list, parsed: list | None) -> int:
        """Store a batch of :class:`engine.imap.FetchedMessage` (with their
        :class:`engine.mime.ParsedMessage` in the same order, or ``None``).
        Idempotent per (UIDVALIDITY, UID); re-keys rows of an older
        UIDVALIDITY (or waiting for a UID) by Message-ID. Returns new rows."""

    def drop_stale(self) -> None:
        """After a first pass that followed a UIDVALIDITY change: forget rows
        that were not re-keyed (gone from the server)."""

    def known_flags(self) -> dict[int, tuple[bool, bool]]:
        """``{uid: (seen, flagged)}`` of the rows of the current UIDVALIDITY."""

    def apply_flags(self, changes: dict[int, tuple[bool, bool]]) -> None:
        """Set ``(seen, flagged)`` of these UIDs' rows."""

    def remove(self, uids: list[int]) -> None:
        """Forget the rows of these UIDs (expunged or moved away on the server)."""

    def commit(self) -> None:
        """Make every pending write durable at once."""


@dataclass
class FolderResult:
    """The outcome of :meth:`FolderSync.run`.

    :ivar stored: new rows stored.
    :ivar complete: the folder is fully in line with the server (no slice of
        the first pass or of new mail left for a later run).
    :ivar folder_error: the folder-scoped error that ended this folder
        (:func:`error_scope`), else ``None``.
    :ivar counts: what was done, for logs and benchmarks.
    """

    stored: int = 0
    complete: bool = True
    folder_error: errors.EngineError | None = None
    counts: dict = field(default_factory=dict)


def _fetch_batch(session, worker, uids):
    """Fetch one batch and have it parsed by the worker (runs in a thread)."""
    fetched = list(session.fetch(uids, batch_size=BATCH_SIZE))
    parsed = worker.parse_many([f.raw for f in fetched]) if worker else None
    return fetched, parsed


class FolderSync:
    """Sync one folder through an open :class:`engine.imap.IMAPSession`.

    :param session: an open session (logged in).
    :param store: the folder's :class:`FolderStore`.
    :param folder: the folder's path on the server.
    :param since: first day to import on the first pass, ``None`` for all.
    :param parse_in_worker: parse fetched mail in a worker process
        (:class:`engine.parallel.ParseWorker`) while the previous batch is
        stored; ``False`` leaves parsing to the store.
    """

    def __init__(self, session, store: FolderStore, folder: str, since: date | None = None,
                 parse_in_worker: bool = True):
        self.session = session
        self.store = store
        self.folder = folder
        self.since = since
        self.parse_in_worker = parse_in_worker

    def run(self, max_messages: int | None = None, deadline: float | None = None) -> FolderResult:
        """Bring the folder in line with the server, within the limits.

        :param max_messages: fetch at most this many messages in this run
            (new mail first, then history); ``None`` for no limit.
        :param deadline: ``time.monotonic()`` value after which no new batch
            starts; ``None`` for none.
        :returns: a :class:`FolderResult`; a folder-scoped error is returned in
            it (after :meth:`FolderStore.commit` of what was done), never raised.
        :raises errors.EngineError: an account-scoped error (authentication,
            connection lost); the store keeps its last commit.
        """
        result = FolderResult()
        try:
            self._run(result, max_messages, deadline)
        except errors.EngineError as exc:
            if error_scope(exc) != "folder":
                raise
            result.folder_error = exc
            result.complete = False
        return result

    # ------------------------------------------------------------------
    def _run(self, result, max_messages, deadline):
        store, session = self.store, self.session
        status = session.examine(self.folder)
        state = store.load()
        plan = plan_folder(state, status.uidvalidity, status.uidnext, self.since)
        if plan.reset:
            store.reset(plan.uidvalidity)
            state = FolderState(plan.uidvalidity, 0, False, state.special_use)
            result.counts["uidvalidity reset"] = 1
        elif state.uidvalidity is None:
            store.save(uidvalidity=plan.uidvalidity)
            state = replace(state, uidvalidity=plan.uidvalidity)
        if not state.initial_done and not state.highest_modseq and status.highest_modseq:
            # taken before anything is fetched: a change made while the (possibly
            # sliced) first pass runs is above it and seen later
            store.save(highest_modseq=status.highest_modseq)
            state = replace(state, highest_modseq=status.highest_modseq)
        store.save(uidnext=status.uidnext, server_count=status.exists)
        if plan.skip_history:
            store.save(last_uid=max(status.uidnext - 1, 0), initial_done=True,
                       highest_modseq=status.highest_modseq or 0, sync_complete=True)
            store.commit()
            return
        budget = [max_messages]
        complete = True
        # 1. new mail, above the upper cursor (always before more history)
        if (state.last_uid or state.initial_done) and not plan.up_to_date:
            uids = session.search_uids(since=plan.since, min_uid=state.last_uid + 1)
            done, state = self._fetch_up(uids, state, result, budget, deadline)
            complete = complete and done
        # 2. the first pass, newest first, down to the bottom of the folder
        if plan.backfill:
            # a first pass begun upwards (before newest-first) stored UIDs 1..last_uid
            low = state.low_uid or (1 if state.last_uid else 0)
            uids = session.search_uids(since=plan.since, min_uid=1) if low != 1 else []
            if low:
                uids = [uid for uid in uids if uid < low]
            done, state = self._fetch_down(uids, state, result, budget, deadline)
            if done and complete:
                # everything below UIDNEXT (at EXAMINE) was searched, and stored unless
                # older than the start date: new mail is above it
                top = max(state.last_uid, status.uidnext - 1, 0)
                store.save(initial_done=True, last_uid=top)
                state = replace(state, initial_done=True, last_uid=top)
                store.drop_stale()
            complete = complete and done
        # 3. changes to known mail; also when a first pass ends, since rows stored by an
        # earlier run of a sliced first pass may have changed or gone since
        if complete:
            self._sync_changes(status, state, result)
        store.save(sync_complete=complete)
        store.commit()
        result.complete = complete

    def _batches(self, uids, budget, descending):
        """Split *uids* into batches within the message budget; tell if all fit."""
        limit = budget[0]
        fits = limit is None or len(uids) <= limit
        if not fits:
            uids = uids[-limit:] if descending else uids[:limit]
        if limit is not None:
            budget[0] = limit - len(uids)
        if descending:
            ordered = sorted(uids, reverse=True)
            return [sorted(ordered[i:i + BATCH_SIZE])
                    for i in range(0, len(ordered), BATCH_SIZE)], fits
        return [uids[i:i + BATCH_SIZE] for i in range(0, len(uids), BATCH_SIZE)], fits

    def _pipeline(self, batches, deadline):
        """Yield ``(batch, fetched, parsed, stop)``; the next batch is fetched (and
        parsed on another core) while the caller stores this one. Only the worker
        thread touches the IMAP session while a fetch is pending."""
        if not batches:
            return
        worker = ParseWorker() if self.parse_in_worker else None
        try:
            if worker:
                worker.start()
            with ThreadPoolExecutor(max_workers=1) as prefetch:
                pending = prefetch.submit(_fetch_batch, self.session, worker, batches[0])
                for index, batch in enumerate(batches):
                    fetched, parsed = pending.result()
                    pending = None
                    stop = deadline is not None and time.monotonic() > deadline
                    if index + 1 < len(batches) and not stop:
                        pending = prefetch.submit(_fetch_batch, self.session, worker,
                                                  batches[index + 1])
                    yield batch, fetched, parsed, stop and index + 1 < len(batches)
                    if stop:
                        return
        finally:
            if worker:
                worker.close()

    def _fetch_up(self, uids, state, result, budget, deadline):
        batches, fits = self._batches(uids, budget, descending=False)
        for batch, fetched, parsed, stopped in self._pipeline(batches, deadline):
            result.stored += self.store.ingest(fetched, parsed)
            state = replace(state, last_uid=max(batch))
            self.store.save(last_uid=state.last_uid)
            self.store.commit()
            if stopped:
                return False, state
        return fits, state

    def _fetch_down(self, uids, state, result, budget, deadline):
        batches, fits = self._batches(uids, budget, descending=True)
        for batch, fetched, parsed, stopped in self._pipeline(batches, deadline):
            result.stored += self.store.ingest(fetched, parsed)
            changes = {"low_uid": min(batch)}
            if not state.last_uid:
                changes["last_uid"] = max(batch)
            state = replace(state, **changes)
            self.store.save(**changes)
            self.store.commit()
            if stopped:
                return False, state
        return fits, state

    def _sync_changes(self, status, state, result):
        """Mirror flag changes and expunges made on the server by other clients."""
        store, session = self.store, self.session
        modseq = status.highest_modseq
        if modseq and state.highest_modseq and modseq == state.highest_modseq:
            return  # RFC 7162 §3.1.2.1: nothing changed in this folder
        # every row with a UID, also above the cursor: a copy moved here from Odoo gets its
        # UID from COPYUID, and when another client expunges it before this folder's next
        # sync, the search for new mail never reaches it
        known = store.known_flags()
        if not known:
            store.save(highest_modseq=modseq or 0)
            return
        if modseq and state.highest_modseq:
            changed = session.fetch_flags(changed_since=state.highest_modseq)
        else:
            changed = {}
            ordered = sorted(known)
            for start in range(0, len(ordered), FLAG_SWEEP_PAGE):
                changed.update(session.fetch_flags(ordered[start:start + FLAG_SWEEP_PAGE]))
        updates = {}
        for uid, flags in changed.items():
            if uid in known:
                new = ("\\Seen" in flags, "\\Flagged" in flags)
                if new != tuple(bool(v) for v in known[uid]):
                    updates[uid] = new
        if updates:
            store.apply_flags(updates)
            result.counts["flags changed"] = len(updates)
        on_server = set(session.search_uids(min_uid=1))
        gone = [uid for uid in known if uid not in on_server]
        if gone:
            store.remove(gone)
            result.counts["expunged"] = len(gone)
        store.save(highest_modseq=modseq or 0)


# ----------------------------------------------------------------------
# the account: its folders, and the connection test
# ----------------------------------------------------------------------
def list_folders(session) -> list:
    """Every folder of the account with its role, for the folder list of the account.

    ``LIST "" "*"``; roles from the RFC 6154 special-use attributes, else from the
    folder name (:func:`engine.imap.guess_special_use`).

    :param session: an open :class:`engine.imap.IMAPSession`.
    :returns: list of :class:`engine.imap.FolderInfo`.
    :raises errors.ConnectionLost, errors.ProtocolFailed:
    """
    return session.list_folders()


@dataclass(frozen=True)
class ConnectionProbe:
    """What a connection test found.

    :ivar folders: list of :class:`engine.imap.FolderInfo` of the IMAP account.
    :ivar imap_fingerprint: SHA-256 hex of the IMAP server certificate, ``""`` without TLS.
    :ivar smtp_fingerprint: the same for the SMTP server.
    """

    folders: list
    imap_fingerprint: str
    smtp_fingerprint: str


def probe_connection(imap_settings, smtp_settings) -> ConnectionProbe:
    """Log in to IMAP and list the folders, then log in to SMTP (EHLO, TLS, AUTH; sends nothing).

    :param imap_settings: :class:`engine.imap.IMAPSettings`.
    :param smtp_settings: :class:`engine.smtp.SMTPSettings`.
    :raises errors.EngineError: the first failing step, with ``protocol`` ``"imap"``
        or ``"smtp"`` and ``step`` set (IMAP is tried first; SMTP is not tried when it fails).
    """
    try:
        with IMAPSession(imap_settings) as session:
            folders = list_folders(session)
            imap_fingerprint = session.server_fingerprint
    except errors.EngineError as exc:
        exc.protocol = "imap"
        raise
    try:
        with SMTPSession(smtp_settings) as smtp:
            smtp_fingerprint = smtp.server_fingerprint
    except errors.EngineError as exc:
        exc.protocol = "smtp"
        raise
    return ConnectionProbe(folders, imap_fingerprint, smtp_fingerprint)


# ----------------------------------------------------------------------
# changes made in Odoo, written to the server (the other direction)
# ----------------------------------------------------------------------
def store_flag(session, folder: str, uids, flag: str, value: bool) -> None:
    """Set or clear one flag (``"\\\\Seen"``, ``"\\\\Flagged"``) of these UIDs.

    UID 0 (a copy whose UID the next sync fills in) is skipped.

    :param session: an open :class:`engine.imap.IMAPSession`.
    :raises errors.FolderGone, errors.ConnectionLost, errors.ProtocolFailed:
    """
    uids = [uid for uid in uids if uid]
    if not uids:
        return
    if value:
        session.add_flags(folder, uids, [flag])
    else:
        session.remove_flags(folder, uids, [flag])


@dataclass
class MoveResult:
    """What :func:`move_messages` did.

    :ivar new_uids: ``{old UID: UID in the destination}`` (COPYUID, :rfc:`4315`);
        a UID missing here gets 0, filled in by the next sync of the
        destination, matched by Message-ID.
    :ivar gone: old UIDs the server no longer had (expunged or moved by another
        client): their rows must go, since a UID-0 row for them in the destination
        would never be matched (the next sync of wherever they went imports them).
    """

    new_uids: dict[int, int] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)


def move_messages(session, folder: str, uids, dest: str) -> MoveResult:
    """``UID MOVE`` (or COPY + EXPUNGE) these UIDs from *folder* to *dest*.

    With UIDPLUS, COPYUID lists every UID moved, so a UID absent from it was
    already gone from the server.

    :raises errors.FolderGone, errors.ConnectionLost, errors.ProtocolFailed:
    """
    uids = list(uids)
    known = [uid for uid in uids if uid]
    mapping = session.move(folder, known, dest) if known else {}
    result = MoveResult(new_uids={uid: mapping.get(uid, 0) for uid in known})
    if "UIDPLUS" in session.capabilities:
        result.gone = {uid for uid in known if not result.new_uids[uid]}
    return result


def delete_messages(session, folder: str, uids, trash: str | None) -> None:
    """Delete as mail clients do: move to *trash*, or expunge when already there
    (or when the mailbox has no Trash folder).

    :raises errors.FolderGone, errors.ConnectionLost, errors.ProtocolFailed:
    """
    uids = [uid for uid in uids if uid]
    if not uids:
        return
    if trash and folder != trash:
        session.move(folder, uids, trash)
    else:
        session.delete(folder, uids)


def file_message(session, folder: str | None, raw: bytes, flags=("\\Seen",),
                 create_as: str = "Sent"):
    """APPEND a message (e.g. one just sent) to *folder*, creating it if missing.

    :param folder: the folder's path, or ``None`` when the mailbox has none yet:
        it is then created as *create_as*.
    :returns: ``(folder path, UID or 0 without APPENDUID, UIDVALIDITY)``.
    :raises errors.ConnectionLost, errors.ProtocolFailed:
    """
    if not folder:
        session.create_folder(create_as)
        folder = create_as
    uid = session.append(folder, raw, flags=tuple(flags)) or 0
    return folder, uid, session.examine(folder).uidvalidity


def file_message_once(session, folder: str | None, raw: bytes, message_id: str,
                      flags=("\\Seen",), create_as: str = "Sent"):
    """APPEND *raw* to *folder* unless a message with this Message-ID is already
    there (a send retried after a crash, :func:`file_message` otherwise).

    :param message_id: the Message-ID of *raw*, with its angle brackets.
    :returns: ``(folder path, UID (0 when unknown), UIDVALIDITY, appended: bool)``.
    :raises errors.ConnectionLost, errors.ProtocolFailed:
    """
    if folder and message_id:
        status = session.examine(folder)
        found = session.search_message_id(message_id)
        if found:
            return folder, found[0], status.uidvalidity, False
    path, uid, uidvalidity = file_message(session, folder, raw, flags=flags,
                                          create_as=create_as)
    return path, uid, uidvalidity, True
