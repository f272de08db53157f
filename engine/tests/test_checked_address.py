"""Issue 9: sessions connect to the address that was checked, never to a second
lookup of the name; the builder refuses unsafe addresses (real Dovecot, aiosmtpd)."""

from __future__ import annotations

import pytest

from engine.errors import CertificateUntrusted, HeaderInjection
from engine.imap import IMAPSession
from engine.mime import Address, build_message
from engine.smtp import SMTPSession

ALICE = "alice@example.com"

UNRESOLVABLE = "imap.nowhere.invalid"  # .invalid never resolves (RFC 6761)


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_imap_connects_to_the_checked_address(dovecot, security):
    settings = dovecot.imap_settings(ALICE, security, host=UNRESOLVABLE, address="127.0.0.1",
                                     allow_self_signed=security != "none")
    with IMAPSession(settings) as imap:
        assert imap.examine("INBOX").uidvalidity > 0


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_smtp_connects_to_the_checked_address(smtpd, security):
    settings = smtpd.smtp_settings(ALICE, security, host=UNRESOLVABLE, address="127.0.0.1",
                                   allow_self_signed=security != "none")
    SMTPSession(settings).test()


def test_tls_still_verifies_the_host_name(dovecot):
    """The certificate is checked against the name, not against the address."""
    ok = dovecot.imap_settings(ALICE, "ssl", host="localhost", address="127.0.0.1")
    with IMAPSession(ok):
        pass
    wrong = dovecot.imap_settings(ALICE, "ssl", host="imap.other.test", address="127.0.0.1")
    with pytest.raises(CertificateUntrusted):
        IMAPSession(wrong).open()


@pytest.mark.parametrize("email", [
    "victim@x.com\r\nBcc: evil@x.com",
    "victim@x.com\nevil@x.com",
    "victim@x.com\x00",
    "=?utf-8?b?ZXZpbEB4LmNvbQ==?=@x.com",
    "=?utf-8?q?evil=40x.com?=",
])
def test_builder_refuses_unsafe_addresses(email):
    bad, good = [Address("", email)], [Address("", "ok@x.com")]
    for to, cc in ((bad, []), (good, bad)):
        with pytest.raises(HeaderInjection):
            build_message(from_=Address("", "me@x.com"), subject="s", body_text="b",
                          to=to, cc=cc)

