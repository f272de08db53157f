"""SMTPSession against real aiosmtpd servers (testkit.mail_servers.SMTPTestServer)."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest

from engine.errors import (
    AuthenticationFailed,
    CapabilityMissing,
    CertificateChanged,
    CertificateUntrusted,
    ConnectionLost,
    ConnectionRefused,
    ConnectTimeout,
    SendFailed,
    TLSFailed,
    UnknownHost,
)
from engine.smtp import SMTPSession, SMTPSettings
from testkit.mail_servers import SMTPTestServer, free_port

ALICE = "alice@example.com"
BOB = "bob@example.com"


def _raw(subject: str) -> bytes:
    return (
        f"From: Alice <{ALICE}>\r\nTo: Bob <{BOB}>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject}@example.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        ".leading dot must survive\r\n"
        "caf\u00e9\r\n"
    ).encode()


def _received(smtpd, subject: str):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for msg in smtpd.messages:
            if f"Subject: {subject}".encode() in msg.data:
                return msg
        time.sleep(0.02)
    raise AssertionError(f"message {subject!r} not received")


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_send_each_security_mode(smtpd, security):
    subject = f"mode-{security}"
    raw = _raw(subject)
    with SMTPSession(smtpd.smtp_settings(ALICE, security)) as smtp:
        assert "auth" in smtp.features
        refused = smtp.send(raw, ALICE, [BOB, "carol@example.com"])
        assert refused == {}
        assert (smtp.server_fingerprint == "") == (security == "none")
    msg = _received(smtpd, subject)
    assert msg.data == raw  # exact bytes, dot-stuffing undone by the server
    assert msg.mail_from == ALICE
    assert msg.rcpt_tos == [BOB, "carol@example.com"]
    assert msg.auth_login == ALICE
    assert msg.tls == (security != "none")


def test_bare_lf_is_sent_as_crlf(smtpd):
    with SMTPSession(smtpd.smtp_settings(ALICE)) as smtp:
        smtp.send(b"Subject: bare-lf\nFrom: a@example.com\n\nline1\nline2", ALICE, [BOB])
    msg = _received(smtpd, "bare-lf")
    assert msg.data == b"Subject: bare-lf\r\nFrom: a@example.com\r\n\r\nline1\r\nline2\r\n"


def test_connection_test_sends_nothing(smtpd):
    before = len(smtpd.messages)
    for security in ("none", "starttls", "ssl"):
        SMTPSession(smtpd.smtp_settings(ALICE, security)).test()
    assert len(smtpd.messages) == before


def test_settings_repr_hides_secrets():
    settings = SMTPSettings("h", 465, "ssl", "u", password="pw-secret", access_token="tok-secret")
    assert "pw-secret" not in repr(settings) and "tok-secret" not in repr(settings)
    with pytest.raises(ValueError):
        SMTPSettings("h", 465, "tls")


def test_wrong_password(smtpd):
    with pytest.raises(AuthenticationFailed) as info:
        SMTPSession(smtpd.smtp_settings(ALICE, "starttls", password="nope-nope")).test()
    assert info.value.protocol == "smtp" and info.value.step == "login"
    assert "nope-nope" not in str(info.value)
    assert "535" in str(info.value)


def test_refused_port():
    with pytest.raises(ConnectionRefused) as info:
        SMTPSession(SMTPSettings("127.0.0.1", free_port(), "none", timeout=5)).test()
    assert info.value.protocol == "smtp"


def test_unknown_host():
    with pytest.raises(UnknownHost):
        SMTPSession(SMTPSettings("nonexistent.invalid", 587, "starttls", timeout=5)).test()


def test_untrusted_certificate_then_pin(smtpd):
    settings = smtpd.smtp_settings(ALICE, "ssl", cafile=None)
    with pytest.raises(CertificateUntrusted) as info:
        SMTPSession(settings).test()
    fingerprint = info.value.fingerprint
    assert len(fingerprint) == 64 and "self-signed" in str(info.value)
    with pytest.raises(CertificateUntrusted) as info2:
        SMTPSession(smtpd.smtp_settings(ALICE, "starttls", cafile=None)).test()
    assert info2.value.fingerprint == fingerprint
    pinned = dataclasses.replace(settings, allow_self_signed=True, pinned_fingerprint=fingerprint)
    with SMTPSession(pinned) as smtp:
        assert smtp.server_fingerprint == fingerprint
    with pytest.raises(CertificateChanged):
        SMTPSession(dataclasses.replace(pinned, pinned_fingerprint="11" * 32)).test()


def test_tls_on_plain_port_is_tls_failed(smtpd):
    settings = smtpd.smtp_settings(ALICE, "ssl", port=smtpd.port)
    with pytest.raises(TLSFailed) as info:
        SMTPSession(settings).test()
    assert "security mode" in str(info.value)


def test_refused_recipient(smtpd):
    smtpd.refused_recipients.add("nobody@example.com")
    try:
        with SMTPSession(smtpd.smtp_settings(ALICE)) as smtp:
            refused = smtp.send(_raw("partly-refused"), ALICE, [BOB, "nobody@example.com"])
            assert set(refused) == {"nobody@example.com"}
            assert refused["nobody@example.com"][0] == 550
            with pytest.raises(SendFailed) as info:
                smtp.send(_raw("all-refused"), ALICE, ["nobody@example.com"])
            assert info.value.smtp_code == 550
            # The session stays usable after a refusal.
            assert smtp.send(_raw("after-refusal"), ALICE, [BOB]) == {}
    finally:
        smtpd.refused_recipients.discard("nobody@example.com")
    assert _received(smtpd, "partly-refused").rcpt_tos == [BOB]
    assert not any(b"Subject: all-refused" in m.data for m in smtpd.messages)


def test_sender_and_data_refused(smtpd):
    smtpd.refused_senders.add("spammer@example.com")
    try:
        with SMTPSession(smtpd.smtp_settings(ALICE)) as smtp:
            with pytest.raises(SendFailed) as info:
                smtp.send(_raw("bad-sender"), "spammer@example.com", [BOB])
            assert info.value.smtp_code == 550
            smtpd.refuse_data = True
            with pytest.raises(SendFailed) as info:
                smtp.send(_raw("data-refused"), ALICE, [BOB])
            assert info.value.smtp_code == 554
    finally:
        smtpd.refused_senders.discard("spammer@example.com")
        smtpd.refuse_data = False


def test_send_requires_auth(smtpd):
    with (
        SMTPSession(smtpd.smtp_settings("", password="")) as smtp,
        pytest.raises(SendFailed) as info,
    ):
        smtp.send(_raw("no-auth"), ALICE, [BOB])
    assert info.value.smtp_code == 530


def test_xoauth2():
    tokens = {ALICE: "good-token"}
    with SMTPTestServer(
        {ALICE: "alice-pass"}, xoauth2_validator=lambda u, t: tokens.get(u) == t
    ) as server:
        ok = server.smtp_settings(ALICE, "starttls", password="", access_token="good-token")
        with SMTPSession(ok) as smtp:
            assert "XOAUTH2" in smtp.features["auth"]
            smtp.send(_raw("xoauth2"), ALICE, [BOB])
        assert server.wait_for(1)[0].auth_login == ALICE
        with pytest.raises(AuthenticationFailed) as info:
            SMTPSession(dataclasses.replace(ok, access_token="expired-token")).test()
        assert "expired-token" not in str(info.value)


def test_xoauth2_not_offered_is_capability_missing(smtpd):
    settings = smtpd.smtp_settings(ALICE, password="", access_token="some-token")
    with pytest.raises(CapabilityMissing) as info:
        SMTPSession(settings).test()
    assert "some-token" not in str(info.value)


def test_silent_server_times_out():
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        start = time.monotonic()
        with pytest.raises((ConnectTimeout, ConnectionLost)):
            SMTPSession(SMTPSettings("127.0.0.1", port, "none", timeout=1.0)).test()
        assert time.monotonic() - start < 5
    finally:
        listener.close()


def test_message_over_the_advertised_size_is_refused_before_mail_from():
    from engine.errors import MessageTooLarge
    from engine.mime import build_message

    with SMTPTestServer({ALICE: "alice-pass"}, size_limit=20_000) as server:
        _mid, small = build_message(from_=ALICE, to=["bob@example.com"], subject="Small",
                                    body_text="x" * 1000)
        _mid, big = build_message(from_=ALICE, to=["bob@example.com"], subject="Big",
                                  body_text="y" * 30_000)
        with SMTPSession(server.smtp_settings(ALICE)) as smtp:
            assert smtp.size_limit == 20_000
            assert smtp.send(small, ALICE, ["bob@example.com"]) == {}
            before = server.mail_commands
            with pytest.raises(MessageTooLarge) as info:
                smtp.send(big, ALICE, ["bob@example.com"])
            assert server.mail_commands == before, "no MAIL FROM for a message too large"
        err = info.value
        assert err.limit == 20_000 and err.size > 30_000 and err.over == err.size - 20_000
        assert f"{err.over} bytes over" in str(err)
        assert len(server.messages) == 1
