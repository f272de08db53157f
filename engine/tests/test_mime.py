"""engine.mime: parsing under limits, building without injection, threading helpers."""

import base64
import time
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email import policy as email_policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import HeaderInjection
from engine.mime import (
    Address,
    Attachment,
    ParseLimits,
    address_list,
    build_message,
    check_header_value,
    forward_subject,
    html_to_text,
    is_valid_message_id,
    make_message_id,
    normalize_email,
    normalize_subject,
    parse_message,
    reply_headers,
    reply_subject,
    subject_topic,
)

ELODIE = Address("Élodie Durand", "elodie.durand@acme-industries.fr")
JOSE = Address("José Núñez", "jose.nunez@iberica-logistica.es")
LI = Address("李雷", "li.lei@huaxin-tech.cn")
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def build(**kw):
    args = {"from_": ELODIE, "to": [JOSE], "subject": "Hello", "body_text": "Hi!\n",
            "date": WHEN}
    args.update(kw)
    return build_message(**args)


# --------------------------------------------------------------------------
# build -> parse round trips
# --------------------------------------------------------------------------


def test_round_trip_plain_text():
    message_id, raw = build(cc=[LI], bcc=["Secret <secret@example.com>"],
                            subject="Devis été – 报价 n° 42",
                            body_text="Bonjour,\nvoici le devis.\n")
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert b"secret@example.com" not in raw, "Bcc never goes into the bytes"
    assert raw.isascii(), "non-ASCII is RFC 2047 / transfer encoded"
    parsed = parse_message(raw)
    assert not parsed.malformed, parsed.warnings
    assert parsed.message_id == message_id
    assert parsed.subject == "Devis été – 报价 n° 42"
    assert parsed.from_ == (ELODIE,)
    assert parsed.to == (JOSE,)
    assert parsed.cc == (LI,)
    assert parsed.bcc == ()
    assert parsed.date == WHEN
    assert parsed.body_text == "Bonjour,\nvoici le devis.\n"
    assert parsed.body_html == ""
    assert parsed.attachments == ()
    assert parsed.size == len(raw)
    assert parsed.warnings == ()


def test_round_trip_alternative_related_and_mixed():
    logo = Attachment("logo.png", "image/png", PNG, content_id="logo.1@acme-industries.fr",
                      inline=True)
    pdf = Attachment("Devis été 2024.pdf", "application/pdf", b"%PDF-1.4\n%\xe2\xe3\n")
    csv = Attachment("prix.csv", "text/csv", "sku;prix\nP-1;12,50 €\n".encode())
    html = '<p>Bonjour <img src="cid:logo.1@acme-industries.fr"></p>'
    _mid, raw = build(body_text="Bonjour", body_html=html, attachments=[logo, pdf, csv])
    tree = message_from_bytes(raw, policy=email_policy.default)
    assert tree.get_content_type() == "multipart/mixed"
    alternative = tree.get_payload()[0]
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == [
        "text/plain", "multipart/related"]
    assert b"filename*=utf-8''Devis%20%C3%A9t%C3%A9%202024.pdf" in raw  # RFC 2231
    parsed = parse_message(raw)
    assert not parsed.malformed, parsed.warnings
    assert parsed.body_text.strip() == "Bonjour"
    assert parsed.body_html.strip() == html
    by_name = {a.filename: a for a in parsed.attachments}
    assert set(by_name) == {"logo.png", "Devis été 2024.pdf", "prix.csv"}
    assert by_name["logo.png"].content_id == "logo.1@acme-industries.fr"
    assert by_name["logo.png"].inline and by_name["logo.png"].data == PNG
    assert by_name["Devis été 2024.pdf"].data == pdf.data
    assert not by_name["Devis été 2024.pdf"].inline
    assert by_name["prix.csv"].data == csv.data, "attachments are bytes, never re-encoded text"
    assert by_name["prix.csv"].size == len(csv.data)


def test_html_only_gets_a_derived_text_part():
    _mid, raw = build(body_text="", body_html="<h1>Offer</h1><p>Price: 10&nbsp;€</p>"
                                                 "<script>alert(1)</script>")
    parsed = parse_message(raw)
    assert "Offer" in parsed.body_text and "Price: 10 €" in parsed.body_text
    assert "alert" not in parsed.body_text
    assert "<script>" in parsed.body_html, "the parser does not sanitize: Odoo does"


def test_build_is_deterministic_with_message_id_and_date():
    att = [Attachment("a.bin", "application/octet-stream", b"\x00\x01")]
    one = build(message_id="<fixed@acme-industries.fr>", body_html="<b>x</b>", attachments=att)
    two = build(message_id="<fixed@acme-industries.fr>", body_html="<b>x</b>", attachments=att)
    assert one == two


def test_build_keeps_the_date_offset_and_makes_ids():
    paris = datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    message_id, raw = build(date=paris)
    assert b"Date: Wed, 01 May 2024 14:30:00 +0200" in raw
    assert is_valid_message_id(message_id) and message_id.endswith("@acme-industries.fr>")
    assert parse_message(raw).date == WHEN.replace(hour=12)


def test_reply_headers_are_written():
    irt, refs = reply_headers("<b@x.org>", ["<a@x.org>"])
    _mid, raw = build(in_reply_to=irt, references=refs, subject=reply_subject("Quote"))
    parsed = parse_message(raw)
    assert parsed.in_reply_to == "<b@x.org>"
    assert parsed.references == ("<a@x.org>", "<b@x.org>")
    assert parsed.subject == "Re: Quote"


def test_idn_domain_is_idna_encoded():
    _mid, raw = build(to=[Address("Bücher", "info@bücher.example")])
    assert b"info@xn--bcher-kva.example" in raw


# --------------------------------------------------------------------------
# header injection
# --------------------------------------------------------------------------

BAD_VALUES = ["a\r\nBcc: evil@x.com", "a\nBcc: evil@x.com", "a\rb", "a\x00b", "trailing\r\n",
              "=?utf-8?q?a=0D=0ABcc:_x@evil.com?=", "=?utf-8?b?aGkNCkJjYzogZXZpbEB4?=",
              "line\u2028separator"]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_check_header_value_refuses(value):
    with pytest.raises(HeaderInjection):
        check_header_value("Subject", value)


def test_check_header_value_accepts_normal_text_and_checks_names():
    check_header_value("Subject", "Devis été – =?not an encoded word")
    check_header_value("X-Custom", "=?utf-8?q?caf=C3=A9?=")
    with pytest.raises(HeaderInjection):
        check_header_value("Bad Name", "x")
    with pytest.raises(HeaderInjection):
        check_header_value("Bad:Name", "x")


@pytest.mark.parametrize("value", BAD_VALUES)
def test_build_refuses_injection_everywhere(value):
    with pytest.raises(HeaderInjection):
        build(subject=value)
    with pytest.raises(HeaderInjection):
        build(from_=Address(value, "a@example.com"))
    with pytest.raises(HeaderInjection):
        build(to=[Address(value, "a@example.com")])
    with pytest.raises(HeaderInjection):
        build(cc=[f"{value} <a@example.com>"])
    with pytest.raises(HeaderInjection):
        build(message_id=f"<a@example.com>{value}")
    with pytest.raises(HeaderInjection):
        build(in_reply_to=f"<a@example.com>{value}")
    with pytest.raises(HeaderInjection):
        build(references=["<a@example.com>", f"<b@example.com>{value}"])
    with pytest.raises(HeaderInjection):
        build(extra_headers={"X-Custom": value})
    with pytest.raises(HeaderInjection):
        build(attachments=[Attachment(f"x{value}.pdf", "application/pdf", b"x")])


def test_build_refuses_invalid_ids_addresses_and_structural_extras():
    with pytest.raises(HeaderInjection):
        build(message_id="no-brackets@example.com")
    with pytest.raises(HeaderInjection):
        build(in_reply_to="<with space@example.com>")
    with pytest.raises(HeaderInjection):
        build(to=["not an address"])
    with pytest.raises(HeaderInjection):
        build(to=[Address("x", "a@@b")])
    with pytest.raises(HeaderInjection):
        build(extra_headers={"Bcc": "evil@x.com"})
    with pytest.raises(HeaderInjection):
        build(extra_headers={"Content-Type": "text/html"})
    with pytest.raises(HeaderInjection):
        build(attachments=[Attachment("x", "text/html; x=y", b"")])
    with pytest.raises(HeaderInjection):
        build(from_=["a@example.com", "b@example.com"])


def test_received_subject_with_encoded_crlf_replies_safely():
    raw = crlf("From: a@b.example\nSubject: =?utf-8?q?Hi=0D=0ABcc:_evil@x.com?=\n"
               "Message-ID: <m1@b.example>\n\nbody\n")
    parsed = parse_message(raw)
    assert "\r" not in parsed.subject and "\n" not in parsed.subject
    _mid, out = build(subject=reply_subject(parsed.subject))
    headers = message_from_bytes(out, policy=email_policy.compat32)
    assert headers["Bcc"] is None
    assert headers.get_all("Subject") and len(headers.get_all("Subject")) == 1


# --------------------------------------------------------------------------
# parsing details
# --------------------------------------------------------------------------


def test_rfc2047_subject_and_names():
    raw = crlf(
        "From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <juergen@mueller.example>\n"
        "To: =?utf-8?b?5p2O6Zu3?= <li@huaxin.example>, \"O'Connor, Sarah\" <s@nw.example>\n"
        "Subject: =?utf-8?q?Angebot_f=C3=BCr?=\n =?utf-8?q?_F=C3=B6rderb=C3=A4nder?=\n"
        "Message-ID: <x1@mueller.example>\n\nHallo\n")
    parsed = parse_message(raw)
    assert parsed.subject == "Angebot für Förderbänder"
    assert parsed.from_ == (Address("Jürgen Müller", "juergen@mueller.example"),)
    assert parsed.to == (Address("李雷", "li@huaxin.example"),
                         Address("O'Connor, Sarah", "s@nw.example"))


def test_raw_8bit_headers_are_decoded_not_replaced():
    raw = (b"From: Jos\xc3\xa9 <jose@x.example>\r\nSubject: caf\xc3\xa9 / f\xfcr\r\n"
           b"Message-ID: <8bit@x.example>\r\n\r\nhi\r\n")
    parsed = parse_message(raw)
    assert parsed.from_[0].name == "José"
    assert parsed.subject == "café / für"


def test_subject_unfolded_and_controls_removed():
    raw = crlf("Subject: Hello\n\tworld\x07 \u202eevil\nFrom: a@b.example\n\nx\n")
    assert parse_message(raw).subject == "Hello world evil"


def test_rfc2231_and_rfc2047_filenames_and_derived_names():
    raw = crlf(
        "From: a@b.example\nSubject: files\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nsee files\n"
        "--B\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment;\n filename*0*=utf-8''Devis%20%C3%A9;\n"
        " filename*1*=t%C3%A9.pdf\n\nJVBERi0=\n"
        "--B\nContent-Type: application/pdf; name=\"=?utf-8?q?R=C3=A9f_42.pdf?=\"\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0=\n"
        "--B\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\n"
        + base64.b64encode(PNG).decode() + "\n"
        "--B\nContent-Type: text/csv\nContent-Disposition: attachment\n"
        "Content-Transfer-Encoding: quoted-printable\n\nprix;12,50 =E2=82=AC\n"
        "--B\nContent-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename=\"../../etc/passwd\"\n\nroot\n"
        "--B--\n")
    parsed = parse_message(raw)
    assert not parsed.malformed, parsed.warnings
    names = [a.filename for a in parsed.attachments]
    assert names == ["Devis été.pdf", "Réf 42.pdf", "attachment-3.png", "attachment-4.csv",
                     "passwd"]
    assert parsed.attachments[0].data == b"%PDF-"
    assert parsed.attachments[2].data == PNG
    assert parsed.attachments[3].data == "prix;12,50 €".encode()  # CRLF belongs to --B


def test_nested_multipart_and_first_bodies_win():
    raw = crlf(
        "From: a@b.example\nSubject: nested\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="outer"\n\n'
        "--outer\n"
        'Content-Type: multipart/alternative; boundary="inner"\n\n'
        "--inner\nContent-Type: text/plain; charset=utf-8\n\nplain é\n"
        "--inner\n"
        'Content-Type: multipart/related; boundary="rel"\n\n'
        "--rel\nContent-Type: text/html; charset=utf-8\n\n<p>html <img src=\"cid:img1\"></p>\n"
        "--rel\nContent-Type: image/png\nContent-ID: <img1>\nContent-Transfer-Encoding: base64\n\n"
        + base64.b64encode(PNG).decode() + "\n--rel--\n"
        "--inner--\n"
        "--outer\nContent-Type: text/plain\n\nsecond text part\n"
        "--outer\nContent-Type: message/rfc822\n\n"
        "From: c@d.example\nSubject: forwarded\n\ninner body\n"
        "--outer--\n")
    parsed = parse_message(raw)
    assert not parsed.malformed, parsed.warnings
    assert parsed.body_text == "plain é"
    assert parsed.body_html == '<p>html <img src="cid:img1"></p>'
    image, second, forwarded = parsed.attachments
    assert image.content_id == "img1" and image.inline and image.data == PNG
    assert second.filename == "attachment-2.txt" and second.data == b"second text part"
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename == "attachment-3.eml"
    assert b"Subject: forwarded" in forwarded.data


def test_missing_message_id_invalid_date_and_bare_ids():
    parsed = parse_message(crlf("From: a@b.example\nDate: yesterday-ish\nSubject: s\n\nx\n"))
    assert parsed.message_id == "" and parsed.date is None
    assert not parsed.malformed
    assert any("Date" in w for w in parsed.warnings)
    assert any("Message-ID" in w for w in parsed.warnings)
    parsed = parse_message(crlf("Message-ID: abc@host.example\nDate: Wed, 1 May 2024 14:00 "
                                "+0200\nIn-Reply-To: <p1@x> (comment) <p2@x>\n"
                                "References: <r1@x>\n <r2@x> <r1@x>\n\nx\n"))
    assert parsed.message_id == "<abc@host.example>"
    assert parsed.date == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parsed.in_reply_to == "<p1@x>"
    assert parsed.references == ("<r1@x>", "<r2@x>")


def test_naive_date_is_utc():
    parsed = parse_message(crlf("Date: Wed, 01 May 2024 14:00:00 -0000\n\nx\n"))
    assert parsed.date == datetime(2024, 5, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize("charset", ["x-unknown", "unknown-8bit", "punycode", "utf-8", None])
def test_bad_charsets_are_replaced_with_a_warning(charset):
    ctype = f"text/plain; charset={charset}" if charset else "text/plain"
    raw = b"From: a@b.example\r\nContent-Type: " + ctype.encode() + b"\r\n\r\nd\xe9j\xe0 \xff\r\n"
    parsed = parse_message(raw)
    assert not parsed.malformed
    assert parsed.body_text.startswith("déjà")
    assert parsed.warnings


def test_nul_and_surrogates_never_leak_into_strings():
    raw = b"Subject: a\xff\r\nFrom: \xff\xfe <x@y.example>\r\n\r\nnul\x00here \xed\xa0\x80\r\n"
    parsed = parse_message(raw)
    for text in (parsed.subject, parsed.body_text, parsed.from_[0].name):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates: PostgreSQL would refuse them


def test_invalid_base64_is_a_warning():
    raw = crlf("From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B"
               "\n\n--B\nContent-Type: text/plain\n\nhi\n--B\nContent-Type: application/pdf\n"
               "Content-Transfer-Encoding: base64\n\nJVBER!!!i0x=\n--B--\n")
    parsed = parse_message(raw)
    assert not parsed.malformed
    assert len(parsed.attachments) == 1
    assert any("Base64" in w for w in parsed.warnings)


def test_broken_structures_are_malformed_with_best_effort_fields():
    raw = crlf("From: Ann <ann@b.example>\nSubject: broken\nMessage-ID: <br@b.example>\n"
               'Content-Type: multipart/mixed; boundary="never"\n\n--other\nsome text\n')
    parsed = parse_message(raw)
    assert parsed.malformed
    assert parsed.subject == "broken" and parsed.message_id == "<br@b.example>"
    assert parsed.from_ == (Address("Ann", "ann@b.example"),)
    assert "some text" in parsed.body_text
    garbage = parse_message(b"\xff\xfe not a header\r\nFrom: a@b\r\n\r\nbody\r\n")
    assert garbage.malformed and "not a header" in garbage.body_text


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"x", b"\x00" * 10, b"From:", b":\r\n\r\n",
                                 b"Content-Type: multipart/mixed\r\n\r\n--\r\n"])
def test_degenerate_inputs(raw):
    parsed = parse_message(raw)
    assert parsed.size == len(raw)
    assert isinstance(parsed.body_text, str)


def test_parse_accepts_bytearray_and_memoryview():
    raw = crlf("Subject: s\n\nx\n")
    assert parse_message(bytearray(raw)).subject == "s"
    assert parse_message(memoryview(raw)).subject == "s"


# --------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    head = b"From: a@b.example\r\nSubject: deep\r\nMessage-ID: <deep@b.example>\r\n"
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth))
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nhello\r\n" + closing


def test_moderate_nesting_is_fine():
    parsed = parse_message(nested(10))
    assert not parsed.malformed and parsed.body_text.strip() == "hello"


@pytest.mark.parametrize("depth", [31, 200, 1000, 3000])
def test_deep_nesting_is_malformed_quickly(depth):
    started = time.perf_counter()
    parsed = parse_message(nested(depth))
    assert time.perf_counter() - started < 2
    assert parsed.malformed
    assert any("nesting" in w or "deep" in w for w in parsed.warnings)
    assert parsed.subject == "deep" and parsed.message_id == "<deep@b.example>"
    assert parsed.body_text  # an excerpt of the raw message


def test_too_many_parts():
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i
                     for i in range(3000))
    raw = (b"From: a@b.example\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary=B"
           b"\r\n\r\n" + parts + b"--B--\r\n")
    started = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - started < 3
    assert parsed.malformed
    assert any("parts" in w for w in parsed.warnings)
    assert parsed.subject == "many" and parsed.body_text.startswith("part 0")
    assert len(parsed.attachments) < 1000


def test_custom_limits():
    parsed = parse_message(nested(5), ParseLimits(max_depth=3))
    assert parsed.malformed
    parsed = parse_message(nested(5), ParseLimits(max_parts=3))
    assert parsed.malformed and any("parts" in w for w in parsed.warnings)


def test_time_limit():
    parsed = parse_message(nested(5), ParseLimits(max_seconds=0))
    assert parsed.malformed and any("time" in w for w in parsed.warnings)


def test_huge_header_block_keeps_essential_fields():
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 200) for i in range(2000))
    raw = (b"From: Ann <ann@b.example>\r\n" + filler + b"Subject: still here\r\n"
           b"Message-ID: <big@b.example>\r\n\r\nthe body\r\n")
    started = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - started < 1
    assert parsed.malformed
    assert parsed.subject == "still here" and parsed.message_id == "<big@b.example>"
    assert parsed.body_text.strip() == "the body"


def test_quadratic_encoded_word_subject_is_dropped_quickly():
    raw = (b"From: a@b.example\r\nSubject: " + b"=?utf-8?q?a?= " * 20000 + b"\r\n"
           b"Message-ID: <ew@b.example>\r\n\r\nbody\r\n")
    started = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - started < 1
    assert parsed.malformed and parsed.subject == ""
    assert parsed.message_id == "<ew@b.example>"


def test_100k_recipients_and_a_1mb_line():
    raw = (b"From: a@b.example\r\nTo: " + b", ".join(b"u%d@x.example" % i for i in range(100000))
           + b"\r\nSubject: s\r\n\r\nbody\r\n")
    started = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - started < 1
    assert parsed.malformed and parsed.to == () and parsed.subject == "s"
    parsed = parse_message(b"Subject: long\r\n\r\n" + b"x" * 1_000_000)
    assert not parsed.malformed and len(parsed.body_text) == 1_000_000


# --------------------------------------------------------------------------
# identifiers, threading, subjects, addresses
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value, valid", [
    ("<a@b>", True),
    ("<1234.abcd@mail.example.com>", True),
    ("<a.b.c+d=e@[127.0.0.1]>", True),
    ("<CAF=x_y-z!#$%&'*/?^`{|}~@host>", True),
    ("a@b", False),
    ("<a@b", False),
    ("<>", False),
    ("<a>", False),
    ("<a b@c>", False),
    ("<a@b c>", False),
    ("<a..b@c>", False),
    ("<.a@c>", False),
    ("<a@b.>", False),
    ('<"quoted"@c>', False),
    ("<a@b>\r\n", False),
    (" <a@b>", False),
    ("<a@b><c@d>", False),
    ("<a@[b[c]>", False),
    ("<é@b>", False),
    ("<" + "a" * 1000 + "@b>", False),
    (None, False),
])
def test_is_valid_message_id(value, valid):
    assert is_valid_message_id(value) is valid


def test_make_message_id():
    one, two = make_message_id("example.com"), make_message_id("bücher.example")
    assert is_valid_message_id(one) and one.endswith("@example.com>")
    assert two.endswith("@xn--bcher-kva.example>")
    assert one != make_message_id("example.com")
    with pytest.raises(HeaderInjection):
        make_message_id("bad domain\r\n")


def test_reply_headers_rfc5322():
    assert reply_headers("<c@x>", ["<a@x>", "<b@x>"]) == ("<c@x>", ("<a@x>", "<b@x>", "<c@x>"))
    # no References: a single In-Reply-To id is used instead
    assert reply_headers("<c@x>", [], "<b@x>") == ("<c@x>", ("<b@x>", "<c@x>"))
    assert reply_headers("<c@x>", [], "<a@x> <b@x>") == ("<c@x>", ("<c@x>",))
    # no Message-ID on the parent
    assert reply_headers("", ["<a@x>"]) == ("", ("<a@x>",))
    assert reply_headers("", []) == ("", ())
    # invalid ids dropped, duplicates removed, the parent id last
    assert reply_headers("bad id", ["<a@x>", "junk", "<a@x>"]) == ("", ("<a@x>",))
    assert reply_headers("<a@x>", ["<a@x>", "<b@x>"]) == ("<a@x>", ("<b@x>", "<a@x>"))
    # a string of ids is accepted
    assert reply_headers("<c@x>", "<a@x> <b@x>") == ("<c@x>", ("<a@x>", "<b@x>", "<c@x>"))


def test_reply_headers_bounded():
    refs = [f"<r{i}@x>" for i in range(500)]
    _irt, out = reply_headers("<last@x>", refs)
    assert len(out) == 21
    assert out[0] == "<r0@x>" and out[-1] == "<last@x>" and out[-2] == "<r499@x>"


@pytest.mark.parametrize("subject, expected", [
    ("Quote", "quote"),
    ("Re: Quote", "quote"),
    ("RE: re: Re[2]: Quote", "quote"),
    ("Fwd: Re: Quote", "quote"),
    ("FW: Quote", "quote"),
    ("AW: WG: Angebot für Förderbänder", "angebot für förderbänder"),
    ("SV: VS: Tilbud", "tilbud"),
    ("Antw: Offerte", "offerte"),
    ("TR: RÉF : Devis", "devis"),
    ("RIF: Preventivo", "preventivo"),
    ("Odp: Oferta", "oferta"),
    ("回复：报价请求", "报价请求"),
    ("转发: 回复: 报价请求", "报价请求"),
    ("[acme-sales] Re: [acme-sales] Quote", "quote"),
    ("  Re:   Quote   for  you ", "quote for you"),
    ("Re:", ""),
    ("", ""),
    ("Regarding the quote", "regarding the quote"),
    ("Trouble with order", "trouble with order"),
    ("STRASSE", "strasse"),
    ("Straße", "strasse"),
])
def test_normalize_subject(subject, expected):
    assert normalize_subject(subject) == expected


def test_reply_and_forward_subjects():
    assert reply_subject("Quote") == "Re: Quote"
    assert reply_subject("Re: Quote") == "Re: Quote"
    assert reply_subject("RE: Quote") == "RE: Quote"
    assert reply_subject("AW: Angebot") == "Re: AW: Angebot"
    assert reply_subject("a\r\nBcc: x") == "Re: a Bcc: x"
    assert forward_subject("Quote") == "Fwd: Quote"
    assert forward_subject("Fwd: Quote") == "Fwd: Quote"
    assert forward_subject("FW: Quote") == "FW: Quote"
    assert forward_subject("Re: Quote") == "Fwd: Re: Quote"


@pytest.mark.parametrize("value, expected", [
    ("Jane.Doe@Example.COM", "jane.doe@example.com"),
    ("  jane@example.com \n", "jane@example.com"),
    ("Jane <Jane@Example.com>", "jane@example.com"),
    ("élodie@acme.fr", "élodie@acme.fr"),
    # as Odoo's email_normalize: a non-ASCII local part keeps its case, the domain is lowered
    ("Élodie@ACME.fr", "Élodie@acme.fr"),
    ("Jürgen.Müller@Beispiel.DE", "Jürgen.Müller@beispiel.de"),
    ("ÉLODIE@Acmé.FR", "ÉLODIE@acmé.fr"),
    ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
    ("no-at-sign", ""),
    ("a@b@c.example", ""),
    ("a b@c.example", ""),
    # a dotless domain is a valid address (RFC 5321 §2.3.5) and Odoo normalizes it
    ("a@localhost", "a@localhost"),
    ("Admin@Intranet", "admin@intranet"),
    ("a@.example", ""),
    ("a..b@example.com", ""),
    ("@example.com", ""),
    ("a@", ""),
    ("", ""),
    (None, ""),
])
def test_normalize_email(value, expected):
    assert normalize_email(value) == expected


def test_address_normalized_and_address_list():
    assert Address("X", "Jane@Example.com").normalized == "jane@example.com"
    got = address_list(["Élodie Durand <elodie@acme.fr>, b@c.example",
                        Address("José", "jose@x.es"),
                        "=?utf-8?b?5p2O6Zu3?= <li@huaxin.example>", ""])
    assert got == (Address("Élodie Durand", "elodie@acme.fr"), Address("", "b@c.example"),
                   Address("José", "jose@x.es"), Address("李雷", "li@huaxin.example"))
    assert address_list("a@b.example") == (Address("", "a@b.example"),)
    with pytest.raises(HeaderInjection):
        address_list(["a@b.example\r\nBcc: evil@x.com"])
    with pytest.raises(HeaderInjection):
        address_list(["=?utf-8?q?x=0D=0ABcc:_evil@x.com?= <a@b.example>"])


def test_html_to_text():
    text = html_to_text("<html><head><title>T</title><style>p{}</style></head><body>"
                        "<p>Hello&amp;bye</p><ul><li>one</li><li>two</li></ul>"
                        "<script>x()</script><pre>a  b</pre></body></html>")
    assert text == "Hello&bye\n\n- one\n\n- two\n\na  b"


# --------------------------------------------------------------------------
# property tests
# --------------------------------------------------------------------------

SEEDS = [
    build(body_html="<p>x</p>", attachments=[Attachment("a.png", "image/png", PNG, "c@d", True),
                                             Attachment("b.pdf", "application/pdf", b"%PDF")])[1],
    nested(4),
    crlf("From: =?utf-8?q?J=C3=BCrgen?= <j@x.example>\nSubject: =?utf-8?b?5oql5Lu3?=\n"
         "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: "
         "quoted-printable\n\ncaf=E9=\nsoft break\n"),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_parse_never_raises_on_arbitrary_bytes(raw):
    parsed = parse_message(raw)
    assert parsed.size == len(raw)
    assert "\x00" not in parsed.body_text + parsed.body_html + parsed.subject


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(
        [b"", b"\r\n", b"\n", b"--", b"=?", b"?=", b"\x00", b"\xff", b":", b";", b'"',
         b"boundary=", b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n", b"=",
         b"\r\n\r\n", b" ", b"<", b">", b"=?utf-8?b?", b"*0*=utf-8''%"]),
              st.integers(0, 20)), max_size=8))
def test_parse_never_raises_on_mutated_messages(seed, mutations):
    raw = bytearray(seed)
    for position, insert, cut in mutations:
        position %= len(raw) + 1
        raw[position:position + cut] = insert
    parsed = parse_message(bytes(raw))
    assert parsed.size == len(raw)
    for text in (parsed.subject, parsed.body_text, parsed.body_html,
                 *(a.filename for a in parsed.attachments)):
        text.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(subject=st.text(max_size=80), name=st.text(max_size=30))
def test_built_headers_are_exactly_the_intended_ones(subject, name):
    try:
        _mid, raw = build(subject=subject, to=[Address(name, "x@y.example")],
                          bcc=["hidden@z.example"])
    except HeaderInjection:
        return
    headers = message_from_bytes(raw, policy=email_policy.compat32)
    assert sorted(k.lower() for k in headers) == sorted(
        ["from", "to", "subject", "date", "message-id", "mime-version", "content-type",
         "content-transfer-encoding"])
    parsed = parse_message(raw)
    assert not parsed.malformed, parsed.warnings
    assert parsed.to[0].email == "x@y.example"
    if "=?" not in subject:
        assert parsed.subject == " ".join(
            "".join(" " if ord(c) < 32 or 0x7f <= ord(c) <= 0x9f else c for c in subject)
            .replace("\u202a", "").replace("\u202b", "").replace("\u202c", "")
            .replace("\u202d", "").replace("\u202e", "").replace("\u2066", "")
            .replace("\u2067", "").replace("\u2068", "").replace("\u2069", "").split())


@pytest.mark.parametrize(("subject", "expected"), [
    ("Re: Terminvorschlag für die Vorführung", "Terminvorschlag für die Vorführung"),
    ("RE: AW: Quote #12", "Quote #12"),
    ("Fwd: Re[2]: Devis ligne 3", "Devis ligne 3"),
    ("回复：报价请求", "报价请求"),
    ("Re:", "Re:"),
    ("Anfrage Sensoren", "Anfrage Sensoren"),
])
def test_subject_topic(subject, expected):
    assert subject_topic(subject) == expected
