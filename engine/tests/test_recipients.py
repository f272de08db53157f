"""Reply and Reply all recipients (engine.recipients), checked on the real SMTP envelope.

Hypothesis generates header sets of one message (From, Reply-To, To, Cc) from a small
pool of addresses, written with varying case and display names, some of them the
sending account's own addresses; the message is parsed by ``engine.mime``; the reply is
built and submitted to aiosmtpd, and the envelope recipients the server received must be
exactly the ones a plain reading of RFC 5322 section 3.6.3 gives.
"""

from __future__ import annotations

import pytest
from conftest import ALICE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.mime import Address, build_message, parse_message
from engine.recipients import recipient_changes, reply_recipients
from engine.smtp import SMTPSession

OWN = ["alice@example.com", "sales@example.com"]  # the account and one alias
OTHERS = ["ann@client.example", "bob@client.example", "cy@partner.example",
          "dee@partner.example", "eve@else.example"]
POOL = OWN + OTHERS


@st.composite
def mailbox(draw):
    email = draw(st.sampled_from(POOL))
    local, domain = email.split("@")
    if draw(st.booleans()):
        local = local.upper() if draw(st.booleans()) else local.capitalize()
    if draw(st.booleans()):
        domain = domain.upper()
    name = draw(st.sampled_from(["", "Ann", "Doe, Jane", "Bob B."]))
    return Address(name=name, email=f"{local}@{domain}")


def header(addresses):
    out = []
    for a in addresses:
        if not a.name:
            out.append(a.email)
        elif "," in a.name:
            out.append(f'"{a.name}" <{a.email}>')
        else:
            out.append(f"{a.name} <{a.email}>")
    return ", ".join(out)


def expected(mode, from_, reply_to, to, cc):
    """The oracle: sets of normalized addresses, written from the RFC, not the code."""
    def norm(addrs):
        return [a.email.lower() for a in addrs]

    own = set(OWN)
    if set(norm(from_)) <= own:
        first, rest = norm(to), norm(cc)
    else:
        first, rest = norm(reply_to) or norm(from_), norm(to) + norm(cc)
    to_set = [a for i, a in enumerate(first) if a not in own and a not in first[:i]]
    cc_set = []
    if mode == "reply_all":
        for a in rest:
            if a not in own and a not in to_set and a not in cc_set:
                cc_set.append(a)
    return to_set, cc_set


def raw_message(from_, reply_to, to, cc):
    lines = [f"From: {header(from_)}", f"To: {header(to)}"]
    if cc:
        lines.append(f"Cc: {header(cc)}")
    if reply_to:
        lines.append(f"Reply-To: {header(reply_to)}")
    lines += ["Subject: Question", "Message-ID: <q@client.example>", "", "Hello"]
    return "\r\n".join(lines).encode() + b"\r\n"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.sampled_from(["reply", "reply_all"]),
       from_=st.lists(mailbox(), min_size=1, max_size=1),
       reply_to=st.lists(mailbox(), max_size=2),
       to=st.lists(mailbox(), min_size=1, max_size=4),
       cc=st.lists(mailbox(), max_size=4))
def test_reply_recipients_on_the_envelope(smtpd, mode, from_, reply_to, to, cc):
    parsed = parse_message(raw_message(from_, reply_to, to, cc))
    result = reply_recipients(mode, from_=parsed.from_, to=parsed.to, cc=parsed.cc,
                              reply_to=parsed.reply_to, own=[o.upper() for o in OWN])
    want_to, want_cc = expected(mode, from_, reply_to, to, cc)
    assert [a.email.lower() for a in result.to] == want_to
    assert [a.email.lower() for a in result.cc] == want_cc
    everyone = {a.email.lower() for a in (*from_, *to, *cc)}
    assert set(result.added) == set(want_to + want_cc) - everyone
    assert set(result.removed) == everyone - set(want_to + want_cc)
    if not (result.to or result.cc):
        return  # nothing to send (a message between our own addresses)
    _mid, raw = build_message(from_=Address("Alice", ALICE), to=result.to, cc=result.cc,
                              subject="Re: Question", body_text="Answer")
    smtpd.clear()
    with SMTPSession(smtpd.smtp_settings(ALICE)) as smtp:
        smtp.send(raw, ALICE, [a.email for a in (*result.to, *result.cc)])
    received = smtpd.wait_for(1)[0]
    assert [r.lower() for r in received.rcpt_tos] == want_to + want_cc
    reparsed = parse_message(received.data)
    assert [a.email.lower() for a in reparsed.to] == want_to
    assert [a.email.lower() for a in reparsed.cc] == want_cc


def test_reply_to_wins_over_from_and_the_change_is_shown():
    ann = Address("Ann", "ann@client.example")
    helpdesk = Address("Helpdesk", "tickets@client.example")
    result = reply_recipients("reply", from_=(ann,), to=(Address("", "alice@example.com"),),
                              reply_to=(helpdesk,), own=["alice@example.com"])
    assert result.to == (helpdesk,)
    assert result.added == ("tickets@client.example",)
    assert result.removed == ("ann@client.example", "alice@example.com")


def test_reply_to_our_own_message_goes_to_its_recipients():
    me = Address("Alice", "Alice@Example.com")
    result = reply_recipients("reply_all", from_=(me,), to=(Address("", "ann@client.example"),),
                              cc=(Address("", "bob@client.example"), me), own=["alice@example.com"])
    assert [a.email for a in result.to] == ["ann@client.example"]
    assert [a.email for a in result.cc] == ["bob@client.example"]


def test_bad_mode_and_changes():
    with pytest.raises(ValueError):
        reply_recipients("forward", from_=(), to=())
    a, b = Address("", "a@x.example"), Address("", "B@x.example")
    assert recipient_changes([a], [b, Address("", "b@x.example")]) == (("b@x.example",),
                                                                       ("a@x.example",))
