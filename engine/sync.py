"""Pure sync planning: what to fetch from one folder, given what we stored.

No I/O here: the model layer gives the stored :class:`FolderState` and the
server's answer to EXAMINE (:class:`engine.imap.FolderStatus`), and gets a
:class:`FolderPlan` back. The rules follow :rfc:`3501#section-2.3.1.1`: a UID
is only meaningful together with the folder's UIDVALIDITY.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

#: Special-use roles (RFC 6154) whose old content is never imported on the
#: first sync: only mail arriving after the account was connected is synced.
SKIP_HISTORY_ROLES = frozenset({"\\Trash", "\\Junk"})


@dataclass(frozen=True)
class FolderState:
    """What the database knows about one folder.

    :ivar uidvalidity: UIDVALIDITY the stored UIDs belong to, ``None`` before
        the first sync.
    :ivar last_uid: highest UID whose message is committed (the cursor); 0 when
        nothing was synced.
    :ivar initial_done: ``True`` once the first pass (SINCE the start date)
        completed.
    :ivar special_use: RFC 6154 role such as ``"\\\\Sent"``, or ``""``.
    """

    uidvalidity: int | None
    last_uid: int
    initial_done: bool
    special_use: str = ""


@dataclass(frozen=True)
class FolderPlan:
    """What to do on the folder in this run.

    :ivar reset: UIDVALIDITY changed: every stored UID of the folder is stale;
        rows must be re-keyed by Message-ID, not duplicated.
    :ivar uidvalidity: the server's current UIDVALIDITY, to store.
    :ivar since: ``SINCE`` date for the search (first pass only), else ``None``.
    :ivar min_uid: search ``UID min_uid:*``.
    :ivar skip_history: the folder's existing mail is not imported: move the
        cursor to ``uidnext - 1`` without fetching.
    :ivar uidnext: the server's UIDNEXT.
    :ivar up_to_date: nothing new can exist (UIDNEXT says so): skip the search.
    """

    reset: bool
    uidvalidity: int
    since: date | None
    min_uid: int
    skip_history: bool
    uidnext: int
    up_to_date: bool


def plan_folder(state: FolderState, uidvalidity: int, uidnext: int, since: date | None) -> FolderPlan:
    """Plan the incremental sync of one folder.

    :param state: the stored cursor.
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
    up_to_date = (not initial) and uidnext > 0 and uidnext <= last_uid + 1
    return FolderPlan(
        reset=reset,
        uidvalidity=uidvalidity,
        since=since if initial else None,
        min_uid=last_uid + 1,
        skip_history=skip_history,
        uidnext=uidnext,
        up_to_date=up_to_date,
    )
