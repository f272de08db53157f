"""A real out-of-office reply: Dovecot's Pigeonhole Sieve ``vacation`` (RFC 5230) answers
mail delivered through LMTP (RFC 2033); the reply reaches aiosmtpd through Dovecot's
``submission_host``, then is delivered to the sender's mailbox, where it is recognised."""

from __future__ import annotations

import pytest

from engine.gateway import automatic_kind, sender_address
from testkit.mail_servers import DovecotServer, SMTPTestServer

CUSTOMER = "bob@example.com"
SALES = "alice@example.com"
VACATION = """require ["vacation"];
vacation :days 1 :subject "Out of office" :from "bob@example.com"
  "I am away until Monday, your mail will be read then.";
"""


@pytest.fixture(scope="module")
def lmtp_servers():
    with SMTPTestServer(auth_required=False) as relay:
        users = {CUSTOMER: "bob-pass", SALES: "alice-pass"}
        with DovecotServer(users, lmtp=True, submission=(relay.host, relay.port)) as dovecot:
            yield dovecot, relay


def test_vacation_reply_is_recognised_as_automatic(lmtp_servers):
    dovecot, relay = lmtp_servers
    relay.clear()
    dovecot.set_sieve(CUSTOMER, VACATION)
    question = (b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.com>\r\n"
                b"Subject: Your quote\r\nMessage-ID: <q-1@example.com>\r\n"
                b"Date: Mon, 16 Nov 2026 10:00:00 +0000\r\n\r\nHere is the quote.\r\n")
    assert dovecot.deliver(CUSTOMER, question, mail_from=SALES) == {}
    reply = relay.wait_for(1, timeout=15)[0]
    assert reply.rcpt_tos == [SALES]
    assert reply.mail_from in ("", "<>")  # RFC 5230 section 5.6: null return path
    assert automatic_kind(reply.data) == "auto_reply"
    assert sender_address(reply.data) == CUSTOMER
    assert b"In-Reply-To: <q-1@example.com>" in reply.data
    # delivered on to the sales mailbox as an MTA would: still an automatic reply,
    # though LMTP adds Return-Path: <>
    assert dovecot.deliver(SALES, reply.data, mail_from="") == {}
    stored = list(dovecot.messages(SALES, "INBOX").values())
    assert len(stored) == 1 and b"Return-Path: <>" in stored[0]
    assert automatic_kind(stored[0]) == "auto_reply"
    # the person's own question is not automatic
    assert automatic_kind(question) == ""
