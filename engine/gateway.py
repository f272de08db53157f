"""Mail that reaches Odoo through its mail gateway (forwarding mode): who it was for, what it is.

In forwarding mode a shared mailbox (``support@company.com``) forwards its mail to a
receiving address generated on the database's alias domain. A forwarded message's To and
Cc still name only the support address; the receiving address is the envelope recipient,
which the delivering MTA records in a trace field: ``Delivered-To`` (Postfix local
delivery, qmail, Gmail), ``X-Original-To`` (Postfix, before alias expansion),
``Envelope-To`` (Exim) or ``X-Envelope-To`` (Sendmail milters, some hosts).

Everything here is a pure function of the message bytes; only the header block is read
(:class:`email.parser.BytesHeaderParser`), so a huge or broken body costs nothing.
"""

from __future__ import annotations

import hashlib
import re
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from .mime import _parse_message_id, normalize_email

#: Trace fields naming the envelope recipient, most specific first.
ENVELOPE_FIELDS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
#: Header fields also searched for the receiving address (mail sent straight to it).
VISIBLE_FIELDS = ("To", "Cc")

_BOUNCE_SENDER_RE = re.compile(r"^(mailer-daemon|postmaster|mail-daemon)@", re.IGNORECASE)
_REPORT_RE = re.compile(r"multipart/report", re.IGNORECASE)
_DSN_RE = re.compile(r"report-type\s*=\s*\"?(delivery-status|disposition-notification)", re.IGNORECASE)
_AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list"})


def _headers(raw: bytes):
    """The header block of *raw* as a :class:`email.message.Message` (no body parsed)."""
    return BytesHeaderParser(policy=compat32).parsebytes(raw or b"")


def _addresses(values) -> list[str]:
    out = []
    for _name, addr in getaddresses([str(v) for v in values if v]):
        norm = normalize_email(addr)
        if norm and norm not in out:
            out.append(norm)
    return out


def delivery_addresses(raw: bytes) -> list[str]:
    """Normalized addresses the message was delivered to, envelope first.

    The envelope trace fields (:data:`ENVELOPE_FIELDS`) come first, in field order,
    then To and Cc; duplicates removed.

    :param raw: the RFC 5322 message bytes.
    :returns: list of normalized addresses (:func:`engine.mime.normalize_email`).
    """
    msg = _headers(raw)
    values = []
    for name in ENVELOPE_FIELDS + VISIBLE_FIELDS:
        values.extend(msg.get_all(name) or [])
    return _addresses(values)


def sender_address(raw: bytes) -> str:
    """The normalized From address of *raw*, ``""`` when there is none."""
    found = _addresses(_headers(raw).get_all("From") or [])
    return found[0] if found else ""


def header_value(raw: bytes, name: str) -> str:
    """The first value of header field *name* in *raw*, unfolded and stripped; ``""`` if absent."""
    value = _headers(raw).get(name)
    return " ".join(str(value).split()) if value is not None else ""


def automatic_kind(raw: bytes) -> str:
    """Whether *raw* was sent by a machine: ``"bounce"``, ``"auto_reply"``, ``"bulk"`` or
    ``""`` (a person's mail).

    * bounce: a delivery or disposition report (``multipart/report``,
      :rfc:`3462`, :rfc:`3464`, :rfc:`8098`), a sender ``MAILER-DAEMON@``/``postmaster@``,
      or a null return path (``Return-Path: <>``, :rfc:`5321` section 4.5.5) on mail
      not marked as an automatic reply (responders use the null path too);
    * auto_reply: ``Auto-Submitted`` other than ``no`` (:rfc:`3834` section 5, set by
      Exchange, Gmail and Sieve vacation out-of-office replies), ``X-Autoreply`` /
      ``X-Autorespond`` (older responders), ``Precedence: auto_reply``;
    * bulk: mailing-list and mass mail: a ``List-Id`` (:rfc:`2919`) or
      ``List-Unsubscribe`` (:rfc:`2369`) field, ``Precedence: bulk|junk|list``.

    None of them is the other party's answer; none creates a contact or a lead.

    :param raw: the RFC 5322 message bytes (only the header block is read).
    """
    msg = _headers(raw)
    content_type = str(msg.get("Content-Type", ""))
    return_path = str(msg.get("Return-Path", "")).strip()
    if (_REPORT_RE.search(content_type) and _DSN_RE.search(content_type)) \
            or _BOUNCE_SENDER_RE.search(sender_address(raw)):
        return "bounce"
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if (auto and auto != "no") or msg.get("X-Autoreply") or msg.get("X-Autorespond") \
            or precedence == "auto_reply":
        # before the null return path: RFC 3834 section 3.3 asks responders for one
        return "auto_reply"
    if return_path == "<>":
        return "bounce"
    if precedence in _AUTO_PRECEDENCE or msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return "bulk"
    return ""


def bounced_recipients(raw: bytes) -> list[str]:
    """Normalized addresses a delivery-status report (:rfc:`3464`) says failed.

    Reads each per-recipient group of the ``message/delivery-status`` part: its
    ``Final-Recipient`` (or ``Original-Recipient``), ``rfc822;`` address type, when
    ``Action: failed`` (delayed, delivered, relayed and expanded are not bounces).
    Without a machine-readable part, nothing is guessed: ``[]``.

    :param raw: the RFC 5322 message bytes.
    :returns: list of normalized addresses, in report order, no duplicates.
    """
    from email.parser import BytesParser

    try:
        msg = BytesParser(policy=compat32).parsebytes(raw or b"")
    except Exception:  # noqa: BLE001 (a broken report bounces nobody)
        return []
    out = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        groups = part.get_payload()
        if not isinstance(groups, list):
            continue
        for group in groups[1:]:  # the first group is per-message (Reporting-MTA)
            if str(group.get("Action", "")).strip().lower() != "failed":
                continue
            field = group.get("Final-Recipient") or group.get("Original-Recipient") or ""
            kind, _sep, address = str(field).partition(";")
            if kind.strip().lower() != "rfc822":
                continue
            norm = normalize_email(address.strip())
            if norm and norm not in out:
                out.append(norm)
    return out


#: Parts of a report that hold the original message (:rfc:`3464` section 2, :rfc:`6533`
#: section 3 for internationalized mail), or its header block only.
_ORIGINAL_PARTS = ("message/rfc822", "text/rfc822-headers", "message/global",
                   "message/global-headers")
#: Parts of a disposition notification naming the original (:rfc:`8098` section 3.2.5).
_MDN_PARTS = ("message/disposition-notification", "message/global-disposition-notification")


def report_original_message_id(raw: bytes) -> str:
    """The Message-ID of the mail a delivery or disposition report is about.

    A delivery-status report (:rfc:`3464` section 2: ``multipart/report``) returns the
    original message, or only its header block, in its third part
    (``message/rfc822`` or ``text/rfc822-headers``; ``message/global`` and
    ``message/global-headers`` for internationalized mail, :rfc:`6533`); a disposition
    notification (:rfc:`8098` section 3.2.5) names it in ``Original-Message-ID``.
    Non-standard bounces that attach the original as ``message/rfc822`` (qmail,
    old Exchange) are read the same way. The first of these parts found wins.

    :param raw: the RFC 5322 message bytes.
    :returns: the msg-id in ``<id@host>`` form; ``""`` when the report names none (or
        the message cannot be parsed).
    """
    from email.parser import BytesParser, HeaderParser

    try:
        msg = BytesParser(policy=compat32).parsebytes(raw or b"")
    except Exception:  # noqa: BLE001 (a broken report names nothing)
        return ""
    if not msg.is_multipart():
        return ""
    for part in msg.walk():
        if part is msg:
            continue
        kind = part.get_content_type()
        if kind in _MDN_PARTS:
            payload = part.get_payload()
            fields_ = payload[0] if isinstance(payload, list) and payload else None
            if fields_ is not None:
                found = _parse_message_id(str(fields_.get("Original-Message-ID", "")))
                if found:
                    return found
            continue
        if kind not in _ORIGINAL_PARTS:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):  # message/rfc822: the enclosed message
            original = payload[0] if payload else None
        else:  # the header block as text (decoded from its transfer encoding)
            text = part.get_payload(decode=True) or b""
            original = HeaderParser(policy=compat32).parsestr(
                text.decode("utf-8", "replace").lstrip("\r\n"))
        if original is not None:
            found = _parse_message_id(str(original.get("Message-ID", "")))
            if found:
                return found
    return ""


#: Warnings of ``engine.mime.parse_message`` that mean a parsing limit (``ParseLimits``)
#: was reached: the message is shown as "too large to display", the original kept.
_LIMIT_WARNING_RE = re.compile(
    r"parse time over|more than \d+ MIME parts|MIME nesting deeper|MIME structure too deep"
    r"|header block of \d+ bytes over|MemoryError|too large", re.IGNORECASE)


def over_parse_limits(warnings: str) -> bool:
    """Whether the stored parse warnings (newline-separated, as
    ``crm.inbox.message.parse_warning``) say a parsing limit was reached
    (``engine.mime.ParseLimits``: size of the header block, parts, depth, time)."""
    return bool(_LIMIT_WARNING_RE.search(warnings or ""))


def delivery_key(raw: bytes) -> str:
    """The key of one delivered message: ``"sha256:<hex>"`` of its bytes.

    A re-delivery of the same bytes (an MTA retrying after a timeout) has the same key;
    it cannot collide with a synced copy, whose key is (folder, UIDVALIDITY, UID).
    """
    return "sha256:" + hashlib.sha256(raw or b"").hexdigest()


__all__ = [
    "ENVELOPE_FIELDS",
    "automatic_kind",
    "bounced_recipients",
    "delivery_addresses",
    "delivery_key",
    "header_value",
    "over_parse_limits",
    "report_original_message_id",
    "sender_address",
]
