"""engine.gateway: the receiving address of forwarded mail, machine mail, the delivery key."""

from __future__ import annotations

from engine.gateway import automatic_kind, delivery_addresses, delivery_key, sender_address

FORWARDED = (
    b"Delivered-To: support-7f3k@alias.example.com\r\n"
    b"X-Original-To: Support-7F3K@alias.example.com\r\n"
    b"From: \"Doe, John\" <john@customer.example>\r\n"
    b"To: Support <support@company.example>\r\n"
    b"Cc: sales@company.example\r\n"
    b"Subject: Order 12\r\n"
    b"Message-ID: <a1@customer.example>\r\n\r\nHello\r\n"
)


def test_envelope_recipient_first_then_to_and_cc():
    assert delivery_addresses(FORWARDED) == [
        "support-7f3k@alias.example.com", "support@company.example", "sales@company.example"]


def test_other_mta_trace_fields():
    for field in (b"Envelope-To", b"X-Envelope-To"):
        raw = field + b": inbox-1@alias.example.com\r\nTo: a@b.example\r\n\r\nx"
        assert delivery_addresses(raw)[0] == "inbox-1@alias.example.com"


def test_no_header_block_is_not_an_error():
    assert delivery_addresses(b"") == []
    assert delivery_addresses(b"garbage without headers") == []
    assert automatic_kind(b"") == ""
    assert sender_address(b"") == ""


def test_sender_with_comma_in_display_name():
    assert sender_address(FORWARDED) == "john@customer.example"


def test_people_mail_is_not_automatic():
    assert automatic_kind(FORWARDED) == ""
    assert automatic_kind(b"Auto-Submitted: no\r\nFrom: a@b.example\r\n\r\nx") == ""


def test_auto_replies():
    for header in (b"Auto-Submitted: auto-replied", b"Auto-Submitted: auto-generated",
                   b"X-Autoreply: yes", b"X-Autorespond: vacation", b"Precedence: auto_reply",
                   b"auto-submitted:  Auto-Replied; owner-email=a@b.example"):
        assert automatic_kind(header + b"\r\nFrom: a@b.example\r\n\r\nx") == "auto_reply", header


def test_bulk_and_list_mail():
    for header in (b"Precedence: bulk", b"Precedence: junk", b"Precedence: LIST",
                   b"List-Id: Sales news <news.shop.example>",
                   b"List-Unsubscribe: <mailto:leave@shop.example>"):
        assert automatic_kind(header + b"\r\nFrom: a@b.example\r\n\r\nx") == "bulk", header
    assert automatic_kind(b"Precedence: first-class\r\nFrom: a@b.example\r\n\r\nx") == ""


def test_bounces():
    dsn = (b"From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n")
    assert automatic_kind(dsn) == "bounce"
    assert automatic_kind(b"Return-Path: <>\r\nFrom: a@b.example\r\n\r\nx") == "bounce"
    assert automatic_kind(b"From: postmaster@b.example\r\n\r\nx") == "bounce"
    # a bounce that also says Auto-Submitted (as RFC 3464 reports do) stays a bounce
    assert automatic_kind(b"Auto-Submitted: auto-replied\r\n" + dsn) == "bounce"


DSN = (b"From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n"
       b"To: sales@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
       b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n"
       b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\nI could not deliver it.\r\n"
       b"--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
       b"Reporting-MTA: dns; mx.example\r\n\r\n"
       b"Final-Recipient: rfc822; Gone@Client.Example\r\nAction: failed\r\n"
       b"Status: 5.1.1\r\n\r\n"
       b"Final-Recipient: rfc822; late@client.example\r\nAction: delayed\r\n"
       b"Status: 4.4.1\r\n\r\n"
       b"Original-Recipient: rfc822; old@client.example\r\nAction: failed\r\n"
       b"Status: 5.1.1\r\n\r\n"
       b"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <x@y>\r\n"
       b"--b1--\r\n")


def test_bounced_recipients_read_the_delivery_status():
    from engine.gateway import bounced_recipients

    assert automatic_kind(DSN) == "bounce"
    assert bounced_recipients(DSN) == ["gone@client.example", "old@client.example"]
    assert bounced_recipients(FORWARDED) == []
    assert bounced_recipients(b"") == []
    assert bounced_recipients(b"Content-Type: message/delivery-status\r\n\r\ngarbage") == []


def test_delivery_key_is_the_bytes():
    assert delivery_key(FORWARDED) == delivery_key(bytes(FORWARDED))
    assert delivery_key(FORWARDED) != delivery_key(FORWARDED + b" ")
    assert delivery_key(FORWARDED).startswith("sha256:") and len(delivery_key(b"")) == 71


def test_header_value():
    from engine.gateway import header_value

    raw = b"X-Test: abc\r\n  def\r\nTo: a@b.example\r\n\r\nx"
    assert header_value(raw, "x-test") == "abc def"
    assert header_value(raw, "X-Missing") == ""


def _report(report_type, third_type, third, status_type=b"message/delivery-status",
            status=b"Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; x@y.example"
                   b"\r\nAction: failed\r\nStatus: 5.1.1\r\n"):
    return (
        b"From: MAILER-DAEMON@mx.example\r\nTo: sales@company.example\r\n"
        b"Message-ID: <report-1@mx.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=" + report_type + b"; boundary=\"b\"\r\n"
        b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
        b"--b\r\nContent-Type: " + status_type + b"\r\n\r\n" + status + b"\r\n"
        b"--b\r\nContent-Type: " + third_type + b"\r\n\r\n" + third + b"\r\n--b--\r\n")


ORIGINAL_HEADERS = (b"From: sales@company.example\r\nTo: x@y.example\r\nSubject: Offer\r\n"
                    b"Message-ID: <offer-7@company.example>\r\n"
                    b"In-Reply-To: <older@y.example>\r\n")


def test_report_original_from_rfc822_headers_part():
    from engine.gateway import report_original_message_id

    raw = _report(b"delivery-status", b"text/rfc822-headers", ORIGINAL_HEADERS)
    assert report_original_message_id(raw) == "<offer-7@company.example>"


def test_report_original_from_returned_message():
    from engine.gateway import report_original_message_id

    raw = _report(b"delivery-status", b"message/rfc822", ORIGINAL_HEADERS + b"\r\nOffer.\r\n")
    assert report_original_message_id(raw) == "<offer-7@company.example>"
    # the report's own Message-ID is never taken for the original's
    assert report_original_message_id(
        _report(b"delivery-status", b"text/plain", b"nothing here")) == ""


def test_report_original_internationalized_and_base64():
    import base64

    from engine.gateway import report_original_message_id

    raw = _report(b"delivery-status", b"message/global-headers", ORIGINAL_HEADERS)
    assert report_original_message_id(raw) == "<offer-7@company.example>"
    encoded = _report(b"delivery-status",
                      b"text/rfc822-headers\r\nContent-Transfer-Encoding: base64",
                      base64.encodebytes(ORIGINAL_HEADERS))
    assert report_original_message_id(encoded) == "<offer-7@company.example>"


def test_disposition_notification_names_the_original():
    from engine.gateway import report_original_message_id

    raw = _report(b"disposition-notification", b"text/rfc822-headers", b"Subject: x\r\n",
                  status_type=b"message/disposition-notification",
                  status=b"Reporting-UA: mua.example\r\nFinal-Recipient: rfc822; x@y.example"
                         b"\r\nOriginal-Message-ID: <offer-8@company.example>\r\n"
                         b"Disposition: manual-action/MDN-sent-manually; displayed\r\n")
    assert report_original_message_id(raw) == "<offer-8@company.example>"


def test_no_report_no_original():
    from engine.gateway import report_original_message_id

    assert report_original_message_id(FORWARDED) == ""
    assert report_original_message_id(b"") == ""
    assert report_original_message_id(b"\xff\xfe garbage \r\n\r\n\x00") == ""
    broken = _report(b"delivery-status", b"text/rfc822-headers", b"Message-ID: not an id\r\n")
    assert report_original_message_id(broken) == ""
