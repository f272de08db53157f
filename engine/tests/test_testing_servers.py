"""The real test servers of the test kit (testkit/) behave like the servers they stand for."""

from __future__ import annotations

import ast
import smtplib
import ssl
import subprocess
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from testkit.mail_servers import (
    DovecotServer,
    SMTPTestServer,
    free_port,
    generate_certificate,
    wait_for_port,
)

ALICE = "alice@example.com"
BOB = "bob@example.com"


def test_free_port_is_bindable():
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_generate_certificate_has_san(tmp_path):
    cert, key = generate_certificate(str(tmp_path))
    text = subprocess.run(
        ["openssl", "x509", "-in", cert, "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)


def test_testing_module_does_not_import_pytest():
    import testkit.mail_servers

    tree = ast.parse(Path(testkit.mail_servers.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] != "pytest" for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] != "pytest"


def test_dovecot_ports_and_special_folders(dovecot):
    with IMAPClient("127.0.0.1", dovecot.imap_port, ssl=False, timeout=5) as client:
        assert b"STARTTLS" in client.capabilities()
        client.login(BOB, "bob-pass")
        caps = client.capabilities()
        for cap in (b"CONDSTORE", b"QRESYNC", b"UIDPLUS", b"MOVE", b"SPECIAL-USE"):
            assert cap in caps
        folders = {name: flags for flags, _delim, name in client.list_folders()}
        for name, flag in [("Sent", b"\\Sent"), ("Drafts", b"\\Drafts"), ("Trash", b"\\Trash"),
                           ("Junk", b"\\Junk"), ("Archive", b"\\Archive")]:  # fmt: skip
            assert flag in folders[name]
        assert set(client.list_sub_folders()) >= {
            (f, b"/", n) for f, _d, n in client.list_folders() if n == "Sent"
        } or any(n == "Sent" for _f, _d, n in client.list_sub_folders())
    ctx = ssl.create_default_context(cafile=dovecot.certfile)
    with IMAPClient(
        "127.0.0.1", dovecot.imaps_port, ssl=True, ssl_context=ctx, timeout=5
    ) as client:
        client.login(ALICE, "alice-pass")


def test_dovecot_helpers(dovecot, fresh_folder):
    uid = dovecot.append(ALICE, fresh_folder, b"Subject: helper\r\n\r\nbody\r\n", flags=["\\Seen"])
    assert dovecot.uids(ALICE, fresh_folder) == [uid]
    assert dovecot.flags(ALICE, fresh_folder) == {uid: ("\\Seen",)}
    assert dovecot.messages(ALICE, fresh_folder) == {uid: b"Subject: helper\r\n\r\nbody\r\n"}
    dovecot.set_flags(ALICE, fresh_folder, [uid], ["\\Flagged"])
    assert dovecot.flags(ALICE, fresh_folder) == {uid: ("\\Flagged",)}
    out = dovecot.doveadm("mailbox", "status", "-u", ALICE, "messages", fresh_folder)
    assert "messages=1" in out
    old = dovecot.uidvalidity(ALICE, fresh_folder)
    new = dovecot.reset_uidvalidity(ALICE, fresh_folder)
    assert new != old and dovecot.uids(ALICE, fresh_folder) == [uid]
    dovecot.expunge(ALICE, fresh_folder, [uid])
    assert dovecot.uids(ALICE, fresh_folder) == []
    # bob's mailbox is separate
    assert fresh_folder not in {n for _f, _d, n in dovecot.client(BOB).list_folders()}


def test_imap_settings_per_security(dovecot):
    none = dovecot.imap_settings(ALICE)
    assert (none.port, none.cafile, none.password) == (dovecot.imap_port, None, "alice-pass")
    assert dovecot.imap_settings(ALICE, "starttls").cafile == dovecot.certfile
    assert dovecot.imap_settings(ALICE, "ssl").port == dovecot.imaps_port


def test_users_passwords_restart_and_parallel_instances():
    with (
        DovecotServer({"carol@example.com": "one"}) as first,
        DovecotServer({"dave@example.com": "x"}) as second,
    ):
        assert first.imap_port != second.imap_port and first.base_dir != second.base_dir
        first.add_user("erin@example.com", "erin-pass")
        with first.client("erin@example.com"):
            pass
        first.set_password("carol@example.com", "two")
        with pytest.raises(LoginError):
            IMAPClient("127.0.0.1", first.imap_port, ssl=False, timeout=5).login(
                "carol@example.com", "one"
            )
        uid = first.append("carol@example.com", "INBOX", b"Subject: kept\r\n\r\nx\r\n")
        with pytest.raises(LoginError):  # users are per instance
            IMAPClient("127.0.0.1", second.imap_port, ssl=False, timeout=5).login(
                "carol@example.com", "two"
            )
        port = first.imap_port
        first.restart()
        assert first.imap_port == port
        assert first.uids("carol@example.com", "INBOX") == [uid]
        base_dir = first.base_dir
    import os

    assert not os.path.exists(base_dir)
    assert not wait_for_port(port, timeout=0.3)


def test_dovecot_start_failure_reports_log(tmp_path):
    server = DovecotServer({"x@example.com": "x"}, base_dir=str(tmp_path))
    blocker = __import__("socket").create_server(("127.0.0.1", 0))
    try:
        server.imap_port = blocker.getsockname()[1]  # already taken
        server.imaps_port = free_port()
        with pytest.raises(RuntimeError) as info:
            server.start(timeout=5)
        assert "dovecot" in str(info.value).lower()
    finally:
        blocker.close()
        server.stop()


def test_smtpd_records_and_waits():
    with SMTPTestServer({ALICE: "alice-pass"}) as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=5) as smtp:
            smtp.login(ALICE, "alice-pass")
            smtp.sendmail(ALICE, [BOB], b"Subject: direct\r\n\r\nx\r\n")
        msgs = server.wait_for(1)
        assert msgs[0].data == b"Subject: direct\r\n\r\nx\r\n" and msgs[0].rcpt_tos == [BOB]
        with pytest.raises(TimeoutError):
            server.wait_for(2, timeout=0.2)
        server.clear()
        assert server.messages == []
        ctx = ssl.create_default_context(cafile=server.certfile)
        with smtplib.SMTP_SSL("127.0.0.1", server.ssl_port, context=ctx, timeout=5) as smtp:
            smtp.login(ALICE, "alice-pass")
        with smtplib.SMTP("127.0.0.1", server.port, timeout=5) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login(ALICE, "wrong")
            assert "xoauth2" not in smtp.esmtp_features["auth"].lower()
    assert not wait_for_port(server.port, timeout=0.3)


def test_runtime_packages_hold_no_test_server_and_never_import_the_kit():
    """engine/ is runtime code only; models, wizards and controllers never import testkit."""
    root = Path(__file__).resolve().parents[2]
    assert not [p.name for p in (root / "engine").glob("*.py")
                if p.name.startswith(("testing", "demo"))]
    for package in ("engine", "models", "wizard", "controllers"):
        for path in (root / package).glob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    assert "testkit" not in (node.module or ""), f"{path} imports the test kit"
                elif isinstance(node, ast.Import):
                    assert all("testkit" not in a.name for a in node.names), path
