"""IMAPSession against a real Dovecot (testkit.mail_servers.DovecotServer)."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import subprocess
import threading
import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from engine.errors import (
    AuthenticationFailed,
    CapabilityMissing,
    CertificateChanged,
    CertificateUntrusted,
    ConnectionLost,
    ConnectionRefused,
    ConnectTimeout,
    FolderGone,
    TLSFailed,
    UnknownHost,
)
from engine.imap import FolderInfo, IMAPSession, IMAPSettings, guess_special_use
from testkit.mail_servers import free_port

ALICE = "alice@example.com"


def _msg(subject: str, body: str = "hello") -> bytes:
    return (
        f"From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}@example.com>\r\n"
        f"\r\n{body}\r\n"
    ).encode()


# -- connecting and logging in -----------------------------------------------------


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_login_each_security_mode(dovecot, security):
    settings = dovecot.imap_settings(ALICE, security)
    with IMAPSession(settings) as imap:
        assert "IMAP4REV1" in imap.capabilities
        assert all(c == c.upper() for c in imap.capabilities)
        if security == "none":
            assert imap.server_fingerprint == ""
        else:
            assert len(imap.server_fingerprint) == 64
        assert imap.examine("INBOX").uidvalidity > 0


def test_settings_repr_hides_secrets():
    settings = IMAPSettings("h", 993, "ssl", "u", password="s3cret-pw", access_token="tok-123")
    assert "s3cret-pw" not in repr(settings)
    assert "tok-123" not in repr(settings)
    with pytest.raises(ValueError):
        IMAPSettings("h", 993, "tls", "u")


def test_wrong_password(dovecot):
    settings = dovecot.imap_settings(ALICE, password="not-the-password")
    with pytest.raises(AuthenticationFailed) as info:
        IMAPSession(settings).open()
    err = info.value
    assert err.protocol == "imap" and err.step == "login"
    assert "not-the-password" not in str(err)
    assert "AUTHENTICATIONFAILED" in str(err) or "failed" in str(err).lower()


def test_closed_port_is_refused():
    settings = IMAPSettings("127.0.0.1", free_port(), "none", ALICE, "x", timeout=5)
    with pytest.raises(ConnectionRefused) as info:
        IMAPSession(settings).open()
    assert info.value.protocol == "imap"


def test_unknown_host():
    settings = IMAPSettings("nonexistent.invalid", 993, "ssl", ALICE, "x", timeout=5)
    with pytest.raises(UnknownHost) as info:
        IMAPSession(settings).open()
    assert info.value.step == "dns"


def test_default_verification_rejects_self_signed(dovecot):
    settings = dovecot.imap_settings(ALICE, "ssl", cafile=None)
    with pytest.raises(CertificateUntrusted) as info:
        IMAPSession(settings).open()
    err = info.value
    assert err.step == "tls" and err.protocol == "imap"
    assert len(err.fingerprint) == 64
    assert "self-signed" in str(err)
    # The fingerprint the error shows is the one the server presents.
    pinned = dataclasses.replace(
        settings, allow_self_signed=True, pinned_fingerprint=err.fingerprint
    )
    with IMAPSession(pinned) as imap:
        assert imap.server_fingerprint == err.fingerprint


def test_starttls_untrusted_has_fingerprint(dovecot):
    settings = dovecot.imap_settings(ALICE, "starttls", cafile=None)
    with pytest.raises(CertificateUntrusted) as info:
        IMAPSession(settings).open()
    assert len(info.value.fingerprint) == 64


def test_hostname_mismatch_is_untrusted(tmp_path):
    """A trusted certificate for another name: CertificateUntrusted naming the mismatch."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=other.test",
         "-addext", "subjectAltName=DNS:other.test"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(str(cert), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        # Two handshakes: the verified one, then the fingerprint probe.
        for _ in range(2):
            try:
                conn, _ = listener.accept()
                with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.sendall(b"* OK ready\r\n")
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        settings = IMAPSettings("127.0.0.1", port, "ssl", ALICE, "x", timeout=5, cafile=str(cert))
        with pytest.raises(CertificateUntrusted) as info:
            IMAPSession(settings).open()
        assert "does not match" in str(info.value)
        assert len(info.value.fingerprint) == 64
    finally:
        listener.close()
        thread.join(5)


def test_allow_self_signed_trust_on_first_use_then_pin(dovecot):
    tofu = dovecot.imap_settings(ALICE, "ssl", cafile=None, allow_self_signed=True)
    with IMAPSession(tofu) as imap:
        fingerprint = imap.server_fingerprint
    assert len(fingerprint) == 64
    colons = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    with IMAPSession(dataclasses.replace(tofu, pinned_fingerprint=colons)) as imap:
        assert imap.server_fingerprint == fingerprint
    wrong = dataclasses.replace(tofu, pinned_fingerprint="00" * 32)
    with pytest.raises(CertificateChanged):
        IMAPSession(wrong).open()
    # Pinning works for STARTTLS too.
    starttls = dovecot.imap_settings(ALICE, "starttls", cafile=None, allow_self_signed=True)
    with pytest.raises(CertificateChanged):
        IMAPSession(dataclasses.replace(starttls, pinned_fingerprint="ab" * 32)).open()
    with IMAPSession(dataclasses.replace(starttls, pinned_fingerprint=fingerprint)):
        pass


def test_tls_to_plain_port_is_tls_failed(dovecot):
    settings = dovecot.imap_settings(ALICE, "ssl", port=dovecot.imap_port)
    with pytest.raises(TLSFailed) as info:
        IMAPSession(settings).open()
    assert not isinstance(info.value, CertificateUntrusted)
    assert "security mode" in str(info.value)


class _SilentServer:
    """A real listening socket that accepts connections and never speaks."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def close(self):
        self._stop = True
        self.thread.join(2)
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize("security", ["none", "ssl"])
def test_silent_server_times_out(security):
    server = _SilentServer()
    try:
        settings = IMAPSettings("127.0.0.1", server.port, security, ALICE, "x", timeout=1.0)
        start = time.monotonic()
        with pytest.raises((ConnectTimeout, ConnectionLost)):
            IMAPSession(settings).open()
        assert time.monotonic() - start < 5
    finally:
        server.close()


@pytest.mark.parametrize("security", ["none", "ssl"])
def test_connect_timeout_bounds_a_server_that_never_greets(security):
    """A server that accepts and never greets costs ``connect_timeout``, not the read
    ``timeout`` (which stays for the commands of a live session)."""
    server = _SilentServer()
    try:
        settings = IMAPSettings("127.0.0.1", server.port, security, ALICE, "x", timeout=30.0,
                                connect_timeout=0.5)
        start = time.monotonic()
        with pytest.raises((ConnectTimeout, ConnectionLost)):
            IMAPSession(settings).open()
        assert time.monotonic() - start < 3
    finally:
        server.close()


def test_read_timeout_applies_after_the_greeting(dovecot):
    settings = dataclasses.replace(dovecot.imap_settings(ALICE), timeout=7.0,
                                   connect_timeout=0.5)
    with IMAPSession(settings) as imap:
        assert imap.client.socket().gettimeout() == 7.0


# -- folders -------------------------------------------------------------------------


def test_list_folders_special_use(dovecot, fresh_folder):
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        folders = {f.name: f for f in imap.list_folders()}
    assert folders["INBOX"].special_use == "\\Inbox"
    for name, role in [("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"),
                       ("Junk", "\\Junk"), ("Archive", "\\Archive")]:  # fmt: skip
        assert folders[name].special_use == role
        assert folders[name].selectable
        assert folders[name].delimiter == "/"
    assert folders[fresh_folder].special_use == ""
    assert all(isinstance(f, FolderInfo) and isinstance(f.name, str) for f in folders.values())


def test_list_folders_heuristics_do_not_override_server_roles(dovecot):
    # "Spam" looks like Junk, but the server already flags "Junk" as \Junk.
    # "Sent Items" below a parent is not flagged by the server either.
    dovecot.create_folder(ALICE, "Spam")
    dovecot.create_folder(ALICE, "Ünïcode Ordner")
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        folders = {f.name: f for f in imap.list_folders()}
    assert folders["Spam"].special_use == ""
    assert "Ünïcode Ordner" in folders


def test_guess_special_use_names():
    assert guess_special_use("[Gmail]/Sent Mail", "/") == "\\Sent"
    assert guess_special_use("[Gmail]/All Mail", "/") == "\\All"
    assert guess_special_use("INBOX.Gesendete Elemente", ".") == "\\Sent"
    assert guess_special_use("Deleted Items", "/") == "\\Trash"
    assert guess_special_use("Junk E-mail", "/") == "\\Junk"
    assert guess_special_use("Entwürfe", "/") == "\\Drafts"
    assert guess_special_use("Envoyés", "/") == "\\Sent"
    assert guess_special_use("inbox", "/") == "\\Inbox"
    assert guess_special_use("Projects/INBOX", "/") == ""
    assert guess_special_use("Clients", "/") == ""


def test_create_folder_is_idempotent(dovecot):
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        imap.create_folder("Work/Clients")
        imap.create_folder("Work/Clients")
        names = {f.name for f in imap.list_folders()}
    assert "Work/Clients" in names


def test_examine_status_and_missing_folder(dovecot, fresh_folder):
    uid1 = dovecot.append(ALICE, fresh_folder, _msg("one"))
    uid2 = dovecot.append(ALICE, fresh_folder, _msg("two"))
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        status = imap.examine(fresh_folder)
        assert status.name == fresh_folder
        assert status.uidvalidity > 0
        assert status.uidnext == uid2 + 1 and uid1 < uid2
        assert status.exists == 2
        assert (
            imap.condstore and isinstance(status.highest_modseq, int) and status.highest_modseq > 0
        )
        with pytest.raises(FolderGone) as info:
            imap.examine("No Such Folder")
        assert info.value.step == "select" and info.value.protocol == "imap"


def test_uidvalidity_change_is_visible(dovecot, fresh_folder):
    dovecot.append(ALICE, fresh_folder, _msg("kept"))
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        before = imap.examine(fresh_folder).uidvalidity
    new = dovecot.reset_uidvalidity(ALICE, fresh_folder)
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        after = imap.examine(fresh_folder)
    assert after.uidvalidity == new != before
    assert after.exists == 1


# -- messages ---------------------------------------------------------------------------


def test_search_uids_since_and_min_uid(dovecot, fresh_folder):
    old_time = datetime.now(UTC) - timedelta(days=30)
    old = dovecot.append(ALICE, fresh_folder, _msg("old"), msg_time=old_time)
    new1 = dovecot.append(ALICE, fresh_folder, _msg("new 1"))
    new2 = dovecot.append(ALICE, fresh_folder, _msg("new 2"))
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        imap.examine(fresh_folder)
        assert imap.search_uids() == [old, new1, new2]
        assert imap.search_uids(since=date.today() - timedelta(days=2)) == [new1, new2]
        assert imap.search_uids(min_uid=new2) == [new2]
        # "n:*" matches the last message even when n is above every UID.
        assert imap.search_uids(min_uid=new2 + 100) == []
        assert imap.search_uids(since=date.today() - timedelta(days=60), min_uid=new1) == [
            new1,
            new2,
        ]


def test_fetch_does_not_set_seen(dovecot, fresh_folder):
    raw = _msg("peek", body="caf\u00e9 body")
    msg_time = datetime(2024, 5, 17, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    uid = dovecot.append(ALICE, fresh_folder, raw, flags=["\\Flagged"], msg_time=msg_time)
    seen_uid = dovecot.append(ALICE, fresh_folder, _msg("seen"), flags=["\\Seen"])
    assert dovecot.flags(ALICE, fresh_folder) == {uid: ("\\Flagged",), seen_uid: ("\\Seen",)}
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        imap.examine(fresh_folder)
        fetched = list(imap.fetch([seen_uid, uid, 9999], batch_size=1))
    assert [m.uid for m in fetched] == [uid, seen_uid]  # UID order, vanished UID skipped
    first = fetched[0]
    assert first.raw == raw
    assert first.size == len(raw)
    assert first.flags == ("\\Flagged",)
    assert first.internal_date == msg_time  # same instant (Dovecot keeps UTC)
    assert first.internal_date.tzinfo is not None
    assert isinstance(first.modseq, int)
    # Flags are exactly as before: no \Seen added by the fetch.
    assert dovecot.flags(ALICE, fresh_folder) == {uid: ("\\Flagged",), seen_uid: ("\\Seen",)}


def test_fetch_skips_expunged_uids(dovecot, fresh_folder):
    uids = [dovecot.append(ALICE, fresh_folder, _msg(f"m{i}")) for i in range(3)]
    dovecot.expunge(ALICE, fresh_folder, [uids[1]])
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        imap.examine(fresh_folder)
        assert [m.uid for m in imap.fetch(uids)] == [uids[0], uids[2]]
        assert list(imap.fetch([])) == []


def test_append_returns_uid(dovecot, fresh_folder):
    raw = _msg("appended")
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        uid = imap.append(fresh_folder, raw)
        uid2 = imap.append(
            fresh_folder, raw, flags=(), msg_time=datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
        )
        with pytest.raises(FolderGone):
            imap.append("No Such Folder", raw)
    assert uid2 == uid + 1
    assert dovecot.messages(ALICE, fresh_folder) == {uid: raw, uid2: raw}
    assert dovecot.flags(ALICE, fresh_folder) == {uid: ("\\Seen",), uid2: ()}


def test_flags_move_delete(dovecot, fresh_folder, folder_factory):
    dest = folder_factory()
    uids = [dovecot.append(ALICE, fresh_folder, _msg(f"mv{i}")) for i in range(4)]
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        imap.add_flags(fresh_folder, uids[:2], ["\\Seen", "\\Flagged"])
        imap.remove_flags(fresh_folder, [uids[1]], ["\\Flagged"])
        flags = dovecot.flags(ALICE, fresh_folder)
        assert set(flags[uids[0]]) == {"\\Seen", "\\Flagged"}
        assert flags[uids[1]] == ("\\Seen",)

        mapping = imap.move(fresh_folder, [uids[0], uids[2]], dest)
        assert set(mapping) == {uids[0], uids[2]}
        assert sorted(mapping.values()) == dovecot.uids(ALICE, dest)
        assert dovecot.uids(ALICE, fresh_folder) == [uids[1], uids[3]]
        moved = dovecot.messages(ALICE, dest)
        assert moved[mapping[uids[0]]] == _msg("mv0")

        imap.delete(fresh_folder, [uids[3]])
        assert dovecot.uids(ALICE, fresh_folder) == [uids[1]]
        with pytest.raises(FolderGone):
            imap.move(fresh_folder, [uids[1]], "No Such Folder")


def test_move_without_move_capability_uses_copy(dovecot, fresh_folder, folder_factory):
    dest = folder_factory()
    uids = [dovecot.append(ALICE, fresh_folder, _msg(f"cp{i}")) for i in range(2)]
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        imap.capabilities = imap.capabilities - {"MOVE"}
        mapping = imap.move(fresh_folder, uids, dest)
    assert sorted(mapping) == uids
    assert sorted(mapping.values()) == dovecot.uids(ALICE, dest)
    assert dovecot.uids(ALICE, fresh_folder) == []


def test_fetch_flags_changed_since(dovecot, fresh_folder):
    uids = [dovecot.append(ALICE, fresh_folder, _msg(f"f{i}")) for i in range(3)]
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        status = imap.examine(fresh_folder)
        assert imap.fetch_flags() == {u: () for u in uids}
        assert imap.fetch_flags([uids[0]]) == {uids[0]: ()}
        assert imap.fetch_flags(changed_since=status.highest_modseq) == {}
    # Another client changes a flag.
    dovecot.set_flags(ALICE, fresh_folder, [uids[1]], ["\\Seen"])
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        status2 = imap.examine(fresh_folder)
        assert status2.highest_modseq > status.highest_modseq
        assert imap.fetch_flags(changed_since=status.highest_modseq) == {uids[1]: ("\\Seen",)}
        assert imap.fetch_flags(changed_since=status2.highest_modseq) == {}


def test_fetch_flags_empty_folder(dovecot, fresh_folder):
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        imap.examine(fresh_folder)
        assert imap.fetch_flags() == {}
        assert imap.search_uids() == []


def test_connection_lost_mid_session(dovecot):
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        imap.examine("INBOX")
        dovecot.kick(ALICE)
        time.sleep(0.2)
        with pytest.raises(ConnectionLost) as info:
            imap.fetch_flags()
        assert info.value.protocol == "imap"


def test_xoauth2_against_dovecot_introspection():
    """Dovecot's oauth2 passdb asks a real local HTTP introspection endpoint."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    from testkit.mail_servers import DovecotServer

    tokens = {"good-token": ALICE}
    seen = []

    class Introspect(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            token = form.get("token", [""])[0]
            seen.append(token)
            user = tokens.get(token)
            body = json.dumps(
                {"active": True, "email": user} if user else {"active": False}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Introspect)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{http.server_address[1]}/introspect"
    try:
        with DovecotServer({ALICE: "alice-pass"}, oauth2_introspection_url=url) as server:
            settings = server.imap_settings(ALICE, password="", access_token="good-token")
            with IMAPSession(settings) as imap:
                assert imap.examine("INBOX").uidvalidity > 0
            assert "good-token" in seen
            bad = dataclasses.replace(settings, access_token="revoked-token")
            with pytest.raises(AuthenticationFailed) as info:
                IMAPSession(bad).open()
            assert "revoked-token" not in str(info.value)
            # The password still works, and a token is never checked as a password.
            with IMAPSession(server.imap_settings(ALICE)):
                pass
            with pytest.raises(AuthenticationFailed):
                IMAPSession(
                    server.imap_settings(ALICE, password="", access_token="alice-pass")
                ).open()
    finally:
        http.shutdown()
        http.server_close()


def test_xoauth2_not_offered_is_capability_missing(dovecot):
    settings = dovecot.imap_settings(ALICE, password="", access_token="some-token")
    with pytest.raises(CapabilityMissing) as info:
        IMAPSession(settings).open()
    assert "some-token" not in str(info.value)


def test_search_message_id_and_file_once(dovecot, fresh_folder):
    from engine.sync import file_message_once

    raw = _msg("filed once")
    with IMAPSession(dovecot.imap_settings(ALICE)) as imap:
        imap.examine(fresh_folder)
        assert imap.search_message_id("<filed.once@example.com>") == []
        path, uid, uidvalidity, appended = file_message_once(
            imap, fresh_folder, raw, "<filed.once@example.com>")
        assert (path, appended) == (fresh_folder, True) and uid and uidvalidity
        # a retried send: found by Message-ID, not APPENDed again
        again = file_message_once(imap, fresh_folder, raw, "<filed.once@example.com>")
        assert again == (fresh_folder, uid, uidvalidity, False)
        with pytest.raises(ValueError):
            imap.search_message_id("<x@y>\r\nA1 LOGOUT")
    assert list(dovecot.messages(ALICE, fresh_folder)) == [uid]
