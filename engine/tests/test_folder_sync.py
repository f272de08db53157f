"""engine.sync.FolderSync against a real Dovecot, with an in-memory store (no Odoo).

The store keeps committed and pending state apart, so a "crash" (an exception
from the store between two batches) loses exactly what was not committed, as a
killed Odoo worker would.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
from dataclasses import replace

import pytest
from conftest import ALICE
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from engine import errors
from engine.imap import IMAPSession
from engine.mime import parse_message
from engine.sync import BATCH_SIZE, FolderState, FolderSync, error_scope

_ids = itertools.count(1)


class Crash(Exception):
    """The process died: nothing pending reaches the store."""


class MemoryStore:
    """:class:`engine.sync.FolderStore` in memory, with commit semantics."""

    def __init__(self, special_use=""):
        self.committed = {"state": FolderState(None, 0, False, special_use), "rows": {},
                          "extra": {}}
        self.pending = copy.deepcopy(self.committed)
        self.crash_at_ingest = None  # crash on the n-th ingest from now (1 = next)
        self.ingests = 0
        self.commits = 0

    # -- the protocol ------------------------------------------------------------
    def load(self):
        return self.pending["state"]

    def save(self, **changes):
        state_fields = {k: v for k, v in changes.items() if k in FolderState.__dataclass_fields__}
        self.pending["state"] = replace(self.pending["state"], **state_fields)
        self.pending["extra"].update({k: v for k, v in changes.items() if k not in state_fields})

    def reset(self, uidvalidity):
        self.pending["state"] = FolderState(uidvalidity, 0, False,
                                            self.pending["state"].special_use)

    def ingest(self, fetched, parsed):
        self.ingests += 1
        if self.crash_at_ingest is not None:
            self.crash_at_ingest -= 1
            if self.crash_at_ingest <= 0:
                self.crash_at_ingest = None
                raise Crash()
        uv = self.pending["state"].uidvalidity
        rows = self.pending["rows"]
        new = 0
        for index, item in enumerate(fetched):
            if (uv, item.uid) in rows:
                continue
            mid = (parsed[index] if parsed else parse_message(item.raw)).message_id
            value = {"mid": mid, "seen": "\\Seen" in item.flags,
                     "flagged": "\\Flagged" in item.flags}
            stale = next((key for key, row in rows.items()
                          if key[0] != uv and row["mid"] == mid), None)
            if stale:
                del rows[stale]  # re-keyed after a UIDVALIDITY change
            else:
                new += 1
            rows[(uv, item.uid)] = value
        return new

    def drop_stale(self):
        uv = self.pending["state"].uidvalidity
        for key in [k for k in self.pending["rows"] if k[0] != uv]:
            del self.pending["rows"][key]

    def known_flags(self):
        uv = self.pending["state"].uidvalidity
        return {uid: (row["seen"], row["flagged"])
                for (v, uid), row in self.pending["rows"].items() if v == uv}

    def apply_flags(self, changes):
        uv = self.pending["state"].uidvalidity
        for uid, (seen, flagged) in changes.items():
            self.pending["rows"][(uv, uid)].update(seen=seen, flagged=flagged)

    def remove(self, uids):
        uv = self.pending["state"].uidvalidity
        for uid in uids:
            self.pending["rows"].pop((uv, uid), None)

    def commit(self):
        self.commits += 1
        self.committed = copy.deepcopy(self.pending)

    # -- test helpers --------------------------------------------------------------
    def restart(self):
        """After a crash: what is committed is all there is."""
        self.pending = copy.deepcopy(self.committed)

    def snapshot(self):
        """``{uid: (Message-ID, seen, flagged)}`` of the committed current rows."""
        uv = self.committed["state"].uidvalidity
        return {uid: (row["mid"], row["seen"], row["flagged"])
                for (v, uid), row in self.committed["rows"].items() if v == uv}


def _raw(n):
    return (f"From: client{n % 7}@example.org\r\nTo: {ALICE}\r\nSubject: Message {n}\r\n"
            f"Message-ID: <fs-{n}@example.org>\r\n"
            f"Date: Wed, 18 Nov 2026 08:00:00 +0000\r\n\r\nBody {n}.\r\n").encode()


def _server_state(dovecot, folder):
    flags = dovecot.flags(ALICE, folder)
    raws = dovecot.messages(ALICE, folder)
    return {uid: (parse_message(raws[uid]).message_id, "\\Seen" in flags[uid],
                  "\\Flagged" in flags[uid]) for uid in raws}


def _append(dovecot, folder, count, flags=()):
    for _ in range(count):
        dovecot.append(ALICE, folder, _raw(next(_ids)), flags)


@pytest.fixture
def session(dovecot):
    with IMAPSession(dovecot.imap_settings(ALICE)) as s:
        yield s


def _run(session, store, folder, **kw):
    return FolderSync(session, store, folder, parse_in_worker=kw.pop("worker", False)).run(**kw)


def test_first_sync_brings_the_newest_first_then_fills_history_backwards(
        dovecot, session, fresh_folder):
    _append(dovecot, fresh_folder, 230)
    uids = dovecot.uids(ALICE, fresh_folder)
    store = MemoryStore()
    result = _run(session, store, fresh_folder, max_messages=BATCH_SIZE)
    assert not result.complete and result.stored == BATCH_SIZE
    assert sorted(store.snapshot()) == uids[-BATCH_SIZE:], "the newest batch first"
    state = store.committed["state"]
    assert (state.low_uid, state.last_uid, state.initial_done) == (uids[-BATCH_SIZE], uids[-1],
                                                                   False)
    # new mail arriving meanwhile comes before more history
    _append(dovecot, fresh_folder, 3)
    result = _run(session, store, fresh_folder, max_messages=10)
    newest = dovecot.uids(ALICE, fresh_folder)[-3:]
    assert set(newest) <= set(store.snapshot())
    assert len(store.snapshot()) == BATCH_SIZE + 10
    while not _run(session, store, fresh_folder, max_messages=70).complete:
        pass
    assert store.snapshot() == _server_state(dovecot, fresh_folder)
    assert store.committed["state"].initial_done
    assert _run(session, store, fresh_folder).stored == 0


def test_parsing_in_a_worker_process_gives_the_same_rows(dovecot, session, fresh_folder):
    _append(dovecot, fresh_folder, 60, flags=("\\Seen",))
    store = MemoryStore()
    assert _run(session, store, fresh_folder, worker=True).stored == 60
    assert store.snapshot() == _server_state(dovecot, fresh_folder)


def test_crash_between_batches_loses_and_duplicates_nothing(dovecot, session, fresh_folder):
    _append(dovecot, fresh_folder, 3 * BATCH_SIZE + 7)
    store = MemoryStore()
    store.crash_at_ingest = 3
    with pytest.raises(Crash):
        _run(session, store, fresh_folder)
    store.restart()
    assert len(store.snapshot()) == 2 * BATCH_SIZE, "two whole batches were committed"
    assert _run(session, store, fresh_folder).stored == BATCH_SIZE + 7
    assert store.snapshot() == _server_state(dovecot, fresh_folder)


def test_flags_and_expunges_from_other_clients_are_mirrored(dovecot, session, fresh_folder):
    _append(dovecot, fresh_folder, 12)
    store = MemoryStore()
    _run(session, store, fresh_folder)
    uids = dovecot.uids(ALICE, fresh_folder)
    dovecot.set_flags(ALICE, fresh_folder, uids[:3], ["\\Seen", "\\Flagged"])
    dovecot.expunge(ALICE, fresh_folder, uids[5:7])
    result = _run(session, store, fresh_folder)
    assert result.counts == {"flags changed": 3, "expunged": 2}
    assert store.snapshot() == _server_state(dovecot, fresh_folder)


def test_uidvalidity_change_rekeys_instead_of_duplicating(dovecot, session, fresh_folder):
    _append(dovecot, fresh_folder, 8)
    store = MemoryStore()
    _run(session, store, fresh_folder)
    old = store.committed["state"].uidvalidity
    dovecot.reset_uidvalidity(ALICE, fresh_folder)
    dovecot.expunge(ALICE, fresh_folder, dovecot.uids(ALICE, fresh_folder)[:1])
    result = _run(session, store, fresh_folder)
    assert result.counts.get("uidvalidity reset") == 1 and result.stored == 0
    assert store.committed["state"].uidvalidity != old
    assert store.snapshot() == _server_state(dovecot, fresh_folder)
    assert len(store.committed["rows"]) == 7, "the expunged one was dropped, none doubled"


def test_folder_gone_is_a_folder_error_not_an_account_error(dovecot, session, fresh_folder):
    _append(dovecot, fresh_folder, 2)
    store = MemoryStore()
    _run(session, store, fresh_folder)
    dovecot.delete_folder(ALICE, fresh_folder)
    result = _run(session, store, fresh_folder)
    assert isinstance(result.folder_error, errors.FolderGone)
    assert error_scope(result.folder_error) == "folder"
    assert len(store.snapshot()) == 2, "what was synced is kept"
    # the session is still usable for the account's other folders
    assert session.examine("INBOX").uidvalidity


def test_error_scopes():
    assert error_scope(errors.FolderGone("x")) == "folder"
    assert error_scope(errors.ProtocolFailed("NO", step="select")) == "folder"
    assert error_scope(errors.ProtocolFailed("NO", step="fetch")) == "account"
    assert error_scope(errors.AuthenticationFailed("x")) == "account"
    assert error_scope(errors.MalformedMessage("x")) == "message"


def test_trash_history_is_skipped(dovecot, session, fresh_folder):
    _append(dovecot, fresh_folder, 4)
    store = MemoryStore(special_use="\\Trash")
    assert _run(session, store, fresh_folder).stored == 0
    _append(dovecot, fresh_folder, 1)
    assert _run(session, store, fresh_folder).stored == 1


def test_first_pass_begun_upwards_by_an_older_version_goes_on(dovecot, session, fresh_folder):
    """Cursors written before newest-first (UIDs 1..last_uid stored, low_uid 0)."""
    _append(dovecot, fresh_folder, 20)
    uids = dovecot.uids(ALICE, fresh_folder)
    store = MemoryStore()
    _run(session, store, fresh_folder, max_messages=20)
    # rewrite the committed state as the old upward first pass would have left it
    keep = set(uids[:8])
    store.committed["rows"] = {k: v for k, v in store.committed["rows"].items() if k[1] in keep}
    store.committed["state"] = replace(store.committed["state"], last_uid=uids[7], low_uid=0,
                                       initial_done=False)
    store.restart()
    assert _run(session, store, fresh_folder).complete
    assert store.snapshot() == _server_state(dovecot, fresh_folder)


EXAMPLES = int(os.environ.get("CRM_INBOX_FOLDER_SYNC_EXAMPLES", "200"))


class FolderSyncMachine(RuleBasedStateMachine):
    """Random server changes, sliced and crashing syncs; a full sync is always exact."""

    dovecot = None

    @initialize()
    def setup(self):
        self.folder = f"H-{next(_ids)}"
        self.dovecot.create_folder(ALICE, self.folder)
        self.other = f"H-{next(_ids)}"
        self.dovecot.create_folder(ALICE, self.other)
        self.session = IMAPSession(self.dovecot.imap_settings(ALICE))
        self.session.open()
        self.peer = self.dovecot.client(ALICE)
        self.store = MemoryStore()

    @rule(count=st.integers(1, 40), seen=st.booleans())
    def append(self, count, seen):
        # another mail client's connection (kept open: one login per example)
        for _ in range(count):
            self.peer.append(self.folder, _raw(next(_ids)), flags=("\\Seen",) if seen else ())

    def _pick(self, data):
        self.peer.select_folder(self.folder)
        uids = sorted(self.peer.search("ALL"))
        if not uids:
            return []
        return sorted({uids[i % len(uids)] for i in data})

    @rule(picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=5))
    def expunge(self, picks):
        uids = self._pick(picks)
        if uids:
            self.peer.add_flags(uids, [b"\\Deleted"], silent=True)
            self.peer.uid_expunge(uids)

    @rule(picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=3))
    def move_away(self, picks):
        uids = self._pick(picks)
        if uids:
            self.peer.move(uids, self.other)

    @rule(picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=5),
          flags=st.sampled_from([(), ("\\Seen",), ("\\Flagged",), ("\\Seen", "\\Flagged")]))
    def store_flags(self, picks, flags):
        uids = self._pick(picks)
        if uids:
            self.peer.set_flags(uids, list(flags), silent=True)

    @rule()
    def reset_uidvalidity(self):
        self.dovecot.reset_uidvalidity(ALICE, self.folder)
        # Dovecot drops sessions that had the folder selected ("state is inconsistent,
        # please relogin"): new ones, as the next sync run and the other client would open
        with contextlib.suppress(Exception):  # already dropped by the server
            self.peer.logout()
        self.peer = self.dovecot.client(ALICE)
        self.session.close()
        self.session = IMAPSession(self.dovecot.imap_settings(ALICE))
        self.session.open()

    @rule(limit=st.integers(1, 120))
    def sliced_sync(self, limit):
        _run(self.session, self.store, self.folder, max_messages=limit)

    @rule(at=st.integers(1, 3))
    def crashing_sync(self, at):
        self.store.crash_at_ingest = at
        try:
            _run(self.session, self.store, self.folder)
        except Crash:
            pass
        self.store.crash_at_ingest = None
        self.store.restart()

    @rule()
    def full_sync(self):
        result = _run(self.session, self.store, self.folder)
        assert result.complete and result.folder_error is None
        assert self.store.snapshot() == _server_state(self.dovecot, self.folder)
        uv = self.store.committed["state"].uidvalidity
        assert all(k[0] == uv for k in self.store.committed["rows"]), "stale rows dropped"

    @invariant()
    def committed_rows_are_on_the_server_or_were(self):
        # never two rows for one Message-ID (every appended message has its own)
        mids = [row["mid"] for row in self.store.committed["rows"].values()]
        assert len(mids) == len(set(mids)), "duplicated"

    def teardown(self):
        if getattr(self, "session", None):
            self.session.close()
        if getattr(self, "peer", None):
            self.peer.logout()


def test_folder_sync_state_machine(dovecot):
    FolderSyncMachine.dovecot = dovecot
    runner = FolderSyncMachine.TestCase
    runner.settings = settings(max_examples=EXAMPLES, stateful_step_count=10, deadline=None,
                               suppress_health_check=list(HealthCheck))
    runner("runTest").runTest()


def test_changes_from_odoo_written_to_the_server(dovecot, session, folder_factory):
    from engine.sync import delete_messages, file_message, move_messages, store_flag

    src, dest, trash = folder_factory(), folder_factory(), folder_factory()
    _append(dovecot, src, 4)
    uids = dovecot.uids(ALICE, src)
    session.examine(src)
    store_flag(session, src, [uids[0], 0], "\\Flagged", True)
    assert "\\Flagged" in dovecot.flags(ALICE, src)[uids[0]]
    store_flag(session, src, [uids[0]], "\\Flagged", False)
    assert "\\Flagged" not in dovecot.flags(ALICE, src)[uids[0]]
    # another client expunges one of the two before Odoo moves them
    dovecot.expunge(ALICE, src, [uids[1]])
    session.examine(dest)  # as a new session would, Odoo opens src after the expunge
    moved = move_messages(session, src, [uids[0], uids[1]], dest)
    assert moved.gone == {uids[1]} and moved.new_uids[uids[0]] in dovecot.uids(ALICE, dest)
    delete_messages(session, src, [uids[2]], trash)
    assert len(dovecot.uids(ALICE, trash)) == 1
    delete_messages(session, trash, dovecot.uids(ALICE, trash), trash)
    assert dovecot.uids(ALICE, trash) == []
    name = f"Filed-{next(_ids)}"
    path, uid, uidvalidity = file_message(session, None, _raw(next(_ids)), create_as=name)
    assert path == name and dovecot.uids(ALICE, name) == [uid] and uidvalidity
    assert "\\Seen" in dovecot.flags(ALICE, name)[uid]
