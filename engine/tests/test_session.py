"""The shared session scaffolding (engine.session) and the connection probe (engine.sync).

Real Dovecot and aiosmtpd on loopback (conftest fixtures).
"""

from __future__ import annotations

import pytest

from engine import errors, sync
from engine.imap import IMAPSession
from engine.session import OPEN_STEPS, ServerSession
from engine.smtp import SMTPSession

ALICE = "alice@example.com"


def test_both_sessions_share_one_scaffold():
    for cls in (IMAPSession, SMTPSession):
        assert issubclass(cls, ServerSession)
        for name in ("__enter__", "__exit__", "__repr__", "_where", "_scrub",
                     "_probe_fingerprint", "_open_transport"):
            assert name not in cls.__dict__, f"{cls.__name__} redefines {name}"
    assert OPEN_STEPS == {"ssl": "tls", "starttls": "starttls", "none": "connect"}


def test_scrub_hides_password_and_token(dovecot, smtpd):
    imap = IMAPSession(dovecot.imap_settings(ALICE, password="s3cret-pw", access_token="tok-9"))
    smtp = SMTPSession(smtpd.smtp_settings(ALICE, password="s3cret-pw"))
    for session in (imap, smtp):
        text = session._scrub(ValueError("login s3cret-pw tok-9 refused"))
        assert "s3cret-pw" not in text and "***" in text
    assert "tok-9" not in imap._scrub("x tok-9")
    assert repr(imap).startswith("<IMAPSession alice@example.com@127.0.0.1:")
    assert repr(smtp).startswith("<SMTPSession alice@example.com@127.0.0.1:")


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_probe_connection_lists_folders_and_reads_fingerprints(dovecot, smtpd, security):
    probe = sync.probe_connection(dovecot.imap_settings(ALICE, security),
                                  smtpd.smtp_settings(ALICE, security))
    assert "INBOX" in {f.name for f in probe.folders}
    if security == "none":
        assert probe.imap_fingerprint == probe.smtp_fingerprint == ""
    else:
        assert len(probe.imap_fingerprint) == 64 and len(probe.smtp_fingerprint) == 64


def test_probe_connection_names_the_failing_protocol(dovecot, smtpd):
    with pytest.raises(errors.AuthenticationFailed) as imap_err:
        sync.probe_connection(dovecot.imap_settings(ALICE, password="wrong"),
                              smtpd.smtp_settings(ALICE))
    assert imap_err.value.protocol == "imap"
    with pytest.raises(errors.AuthenticationFailed) as smtp_err:
        sync.probe_connection(dovecot.imap_settings(ALICE),
                              smtpd.smtp_settings(ALICE, password="wrong"))
    assert smtp_err.value.protocol == "smtp"
    assert "wrong" not in str(smtp_err.value)


def test_untrusted_certificate_reported_with_fingerprint_by_both(dovecot, smtpd):
    for session in (IMAPSession(dovecot.imap_settings(ALICE, "ssl", cafile=None)),
                    SMTPSession(smtpd.smtp_settings(ALICE, "starttls", cafile=None))):
        with pytest.raises(errors.CertificateUntrusted) as err:
            session.open()
        assert len(err.value.fingerprint) == 64
