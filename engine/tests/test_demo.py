"""testkit.demo_mail: the demo mailbox is exact, deterministic, threaded and APPEND-able."""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from engine.mime import normalize_email, normalize_subject, parse_message
from testkit.demo_mail import DemoMessage, bulk_mailbox, demo_mailbox

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OWNER = "demo@example.com"


@pytest.fixture(scope="module")
def box():
    return demo_mailbox(owner=OWNER, count=200, now=NOW)


@pytest.fixture(scope="module")
def parsed(box):
    return [parse_message(m.raw) for m in box]


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 50, 200, 333])
def test_count_is_exact(count):
    messages = demo_mailbox(count=count, now=NOW)
    assert len(messages) == count
    assert all(isinstance(m, DemoMessage) for m in messages)


def test_deterministic_for_a_seed(box):
    assert demo_mailbox(owner=OWNER, count=200, now=NOW) == box
    other = demo_mailbox(owner=OWNER, count=200, now=NOW, seed=1)
    assert [m.raw for m in other] != [m.raw for m in box]


def test_raw_is_appendable(box):
    for message in box:
        raw = message.raw
        assert b"\x00" not in raw
        assert not re.search(rb"(?<!\r)\n|\r(?!\n)", raw), "CRLF line endings only"
        assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
        assert message.folder in ("INBOX", "Sent")


def test_times_and_flags(box):
    times = [m.msg_time for m in box]
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)
    assert min(times) >= NOW - timedelta(days=61) and max(times) <= NOW
    assert min(times) >= NOW - timedelta(days=80), "inside a 3-month sync window"
    assert max(times) - min(times) > timedelta(days=30), "spread over weeks"
    inbox = [m for m in box if m.folder == "INBOX"]
    sent = [m for m in box if m.folder == "Sent"]
    assert inbox and sent
    assert all("\\Seen" in m.flags for m in sent)
    seen = sum("\\Seen" in m.flags for m in inbox) / len(inbox)
    assert 0.15 < seen < 0.45
    assert 1 <= sum("\\Flagged" in m.flags for m in inbox) < len(inbox) // 4


def test_only_the_malformed_one_is_malformed(box, parsed):
    bad = [p for p in parsed if p.malformed]
    assert len(bad) == 1 and bad[0].warnings
    for message, p in zip(box, parsed, strict=True):
        if not p.malformed:
            assert p.message_id and p.from_ and p.date and p.subject, p
            assert p.body_text
            assert abs(p.date - message.msg_time) < timedelta(minutes=5)


@pytest.mark.parametrize("malformed", [0, 3, 5])
def test_malformed_count(malformed):
    parsed = [parse_message(m.raw) for m in demo_mailbox(count=30, malformed=malformed, now=NOW)]
    assert sum(p.malformed for p in parsed) == malformed


def test_sent_is_from_the_owner_inbox_is_not(box, parsed):
    for message, p in zip(box, parsed, strict=True):
        if p.malformed:
            continue
        from_owner = normalize_email(p.from_[0].email) == OWNER
        assert from_owner == (message.folder == "Sent")


def test_thread_headers_are_consistent(parsed):
    by_id = {p.message_id: p for p in parsed if p.message_id}
    assert len(by_id) == len([p for p in parsed if p.message_id]), "Message-IDs are unique"
    replies = [p for p in parsed if p.in_reply_to]
    assert len(replies) > len(parsed) // 3
    for reply in replies:
        parent = by_id[reply.in_reply_to]
        assert reply.references[-1] == parent.message_id
        assert reply.references[:-1] == parent.references[-len(reply.references) + 1:] or (
            len(reply.references) == 21)
        assert reply.date > parent.date
        assert normalize_subject(reply.subject) == normalize_subject(parent.subject)
        assert all(ref in by_id for ref in reply.references)
    roots = [p for p in parsed if not p.in_reply_to and not p.malformed]
    sizes = {}
    for p in parsed:
        if p.references:
            sizes[p.references[0]] = sizes.get(p.references[0], 1) + 1
    assert max(sizes.values()) <= 6 and min(sizes.values()) >= 2
    assert len(roots) < len(parsed) // 2


def test_one_reply_has_rewritten_headers(parsed):
    rewritten = [p for p in parsed if p.subject.startswith("RE: ") and not p.in_reply_to]
    assert len(rewritten) == 1
    reply = rewritten[0]
    assert reply.references == ()
    original = [p for p in parsed if p.subject == reply.subject[4:]]
    assert original, "the thread can be found by its normalized subject"
    assert normalize_subject(original[0].subject) == normalize_subject(reply.subject)
    shared = {normalize_email(a.email) for a in original[0].to} & {
        normalize_email(a.email) for a in reply.from_}
    assert shared, "and a common participant"


def test_content_variety(parsed):
    html = [p for p in parsed if p.body_html]
    assert 0.2 < len(html) / len(parsed) < 0.7
    assert any("https://tracker.example.net/pixel.gif" in p.body_html for p in html)
    assert any("<script" in p.body_html and "tracker.example.net" in p.body_html for p in html)
    assert any(not p.body_html and not p.attachments for p in parsed), "plain-text only mail"
    attachments = [a for p in parsed for a in p.attachments]
    types = {a.content_type for a in attachments}
    assert {"application/pdf", "image/png", "text/csv",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"} <= types
    assert any(not a.filename.isascii() for a in attachments)
    assert any(a.inline and a.content_id for a in attachments)
    inline = next(a for a in attachments if a.inline)
    assert any(f"cid:{inline.content_id}" in p.body_html for p in html)
    pdf = next(a for a in attachments if a.content_type == "application/pdf")
    assert pdf.data.startswith(b"%PDF-") and pdf.data.rstrip().endswith(b"%%EOF")
    png = next(a for a in attachments if a.content_type == "image/png")
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n")


def test_non_ascii_names_and_subjects(box, parsed):
    names = {a.name for p in parsed for a in p.from_}
    assert {"Élodie Durand", "José Núñez", "Jürgen Müller", "李雷"} & names
    assert any(not p.subject.isascii() for p in parsed)
    assert any(b"=?utf-8?" in m.raw for m in box), "RFC 2047 encoded headers"


def test_bulk_mailbox_is_fast_varied_and_parseable():
    started = time.perf_counter()
    messages = list(bulk_mailbox(500, seed=3, now=NOW))
    assert time.perf_counter() - started < 3
    assert len(messages) == 500
    assert list(bulk_mailbox(500, seed=3, now=NOW)) == messages
    with_attachment = 0
    ids = set()
    for raw in messages[:200]:
        assert not re.search(rb"(?<!\r)\n|\r(?!\n)", raw)
        p = parse_message(raw)
        assert not p.malformed, p.warnings
        ids.add(p.message_id)
        if p.attachments:
            with_attachment += 1
            assert 50_000 - 57 <= p.attachments[0].size <= 500_000
    assert len(ids) == 200
    assert 20 <= with_attachment <= 70
    sizes = [len(m) for m in messages]
    assert min(sizes) < 2_000 and max(sizes) > 100_000
