"""Raw RFC 5322 bytes to :class:`ParsedMessage`, and the other way round.

Everything here is built on Python's :mod:`email` package with the modern
policies (:data:`email.policy.default` to read, :data:`email.policy.SMTP` to
write); the module adds what the package does not do for us:

* **limits** (:class:`ParseLimits`): header block size, size of one header
  field, MIME nesting depth, number of parts, wall time. Over a limit the
  message is returned with ``malformed=True`` and a warning, never an
  exception (reliability notes M09, M10);
* **safe strings**: every string returned is valid Unicode without NUL (so it
  can be stored in PostgreSQL), display strings (subject, names, filenames)
  carry no control or bidi-override characters (M03, M07), undecodable bytes
  become U+FFFD with a warning (M02);
* **header injection checks** for every value we write (M04,
  CVE-2024-6923): CR, LF, NUL, other line breaks, and RFC 2047 encoded-words
  that decode to one of them are refused with
  :class:`~engine.errors.HeaderInjection`; the built bytes are parsed again
  and their header list compared with the intended one;
* **threading helpers** (:func:`reply_headers`, :func:`normalize_subject`).

Nothing here imports Odoo.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import html
import mimetypes
import re
import secrets
import time
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import errors as email_errors
from email import policy as email_policy
from email import utils as email_utils
from email.generator import BytesGenerator
from email.header import decode_header
from email.headerregistry import Address as _HeaderAddress
from email.message import EmailMessage, Message
from email.parser import BytesFeedParser, BytesHeaderParser
from html.parser import HTMLParser
from io import BytesIO

from .errors import HeaderInjection

__all__ = [
    "Address",
    "Attachment",
    "ParseLimits",
    "ParsedMessage",
    "address_list",
    "build_message",
    "check_header_value",
    "forward_subject",
    "html_to_text",
    "is_valid_message_id",
    "make_message_id",
    "normalize_email",
    "normalize_subject",
    "parse_message",
    "reply_headers",
    "reply_subject",
]

#: Policy used to parse the MIME tree: the fast compat32 header handling.
_READ_POLICY = email_policy.compat32
#: Policy whose header registry parses the few header values we read (RFC 5322
#: addresses, RFC 2047 words). Parsing the whole tree with it is 3x slower, since
#: the feed parser then runs the registry on every Content-Type of every part.
_HEADER_POLICY = email_policy.default
#: Policy used to write mail: CRLF line endings, 78-column folding.
_WRITE_POLICY = email_policy.SMTP
#: Policy used to re-serialize attached messages as received (no refolding).
_RAW_POLICY = email_policy.compat32.clone(linesep="\r\n")

#: At most this many References are written by :func:`reply_headers`
#: (the first one, then the last ones). Odoo routes on the last 32.
MAX_REFERENCES = 21
#: Longest msg-id accepted (RFC 5322 line length limit).
MAX_MSG_ID_LENGTH = 998
#: Bytes of the raw message kept in ``body_text`` when it could not be parsed.
EXCERPT_BYTES = 64 * 1024
#: HTML larger than this is not converted to text (only its head is).
MAX_HTML_TO_TEXT = 2 * 1024 * 1024
#: At most this many warnings are kept on one message.
MAX_WARNINGS = 50

#: At most this many Authentication-Results fields are kept (topmost first).
MAX_AUTH_RESULTS = 10

# --------------------------------------------------------------------------
# Boundary dataclasses
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """One mailbox of an address header (RFC 5322 §3.4).

    :ivar name: display name, RFC 2047 decoded, without control characters;
        ``""`` when absent.
    :ivar email: the addr-spec as written in the message (case kept).
    """

    name: str
    email: str

    @property
    def normalized(self) -> str:
        """``normalize_email(self.email)``: lower-cased, ``""`` if invalid."""
        return normalize_email(self.email)

    def __str__(self) -> str:
        if self.name:
            try:
                return str(_HeaderAddress(display_name=self.name, addr_spec=self.email))
            except (ValueError, TypeError, email_errors.HeaderParseError):
                return f"{self.name} <{self.email}>"
        return self.email


@dataclass(frozen=True)
class Attachment:
    """One attached file, decoded (base64 / quoted-printable already undone).

    :ivar filename: decoded (RFC 2231 / RFC 2047) file name without path, control
        or bidi characters; derived as ``attachment-N.<ext>`` when the part has none.
    :ivar content_type: lower-case ``maintype/subtype``.
    :ivar data: the decoded bytes, never re-encoded through text.
    :ivar content_id: the Content-ID without angle brackets (the value used
        by ``cid:`` URLs in HTML), ``""`` when absent.
    :ivar inline: ``True`` for ``Content-Disposition: inline`` parts and parts
        with a Content-ID and no disposition (images shown in the HTML body).
    """

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False

    @property
    def size(self) -> int:
        """Size of :attr:`data` in bytes."""
        return len(self.data)


@dataclass(frozen=True)
class ParseLimits:
    """Hard limits applied by :func:`parse_message` (reliability notes M09, M10).

    :ivar max_header_bytes: size of the top-level header block, in bytes.
    :ivar max_depth: MIME nesting depth (the top-level message is depth 0).
    :ivar max_parts: number of MIME parts, containers included.
    :ivar max_seconds: wall time for one message, in seconds. Checked between
        parsing steps (every 64 KB of input, every part), so one step may
        overrun it; single steps are kept small by the other limits.
    :ivar max_header_field_bytes: size of one header field (unfolded), in
        bytes; larger fields are dropped before parsing (the header parser
        is quadratic in the number of encoded-words).
    """

    max_header_bytes: int = 256 * 1024
    max_depth: int = 30
    max_parts: int = 1000
    max_seconds: float = 10.0
    max_header_field_bytes: int = 32 * 1024


@dataclass(frozen=True)
class ParsedMessage:
    """The fields of one received message that the model layer needs.

    :ivar message_id: the Message-ID in ``<id@host>`` form, ``""`` when absent
        (the caller derives a deterministic key, e.g. from a hash of the raw
        bytes, see reliability note M01).
    :ivar in_reply_to: first msg-id of In-Reply-To, ``""`` when absent.
    :ivar references: msg-ids of References, in order, duplicates removed.
    :ivar date: the Date header as an aware UTC datetime; ``None`` when missing
        or unparseable. Never use it for sync decisions (use INTERNALDATE).
    :ivar subject: RFC 2047 decoded, unfolded, whitespace collapsed.
    :ivar from_: From mailboxes (usually one).
    :ivar sender, to, cc, bcc, reply_to: the other address headers.
    :ivar body_text: the first text/plain body, or text derived from the HTML
        body when there is only HTML; for a message that could not be parsed,
        a decoded excerpt (at most :data:`EXCERPT_BYTES`) of the raw message.
        Line endings are ``\\n``.
    :ivar body_html: the first text/html body as sent (not sanitized: Odoo's
        ``fields.Html`` sanitizer does that), ``""`` when none.
    :ivar attachments: every other leaf part, inline images included.
    :ivar malformed: ``True`` when parsing failed, a limit was hit, or the MIME
        structure is broken (no header, multipart without its boundary). The
        caller then keeps the raw bytes (reliability note M01).
    :ivar warnings: human-readable reasons: email package defects, limits,
        charsets replaced... (untranslated, technical).
    :ivar size: ``len(raw)`` in bytes.
    :ivar gm_msgid: reserved for Gmail's ``X-GM-MSGID`` (set by the IMAP layer).
    :ivar authentication_results: the raw ``Authentication-Results`` field values
        (RFC 8601), topmost (added last, by the receiving server) first; read
        them with :func:`parse_authentication_results`.
    """

    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    date: datetime | None
    subject: str
    from_: tuple[Address, ...]
    sender: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    body_text: str
    body_html: str
    attachments: tuple[Attachment, ...]
    malformed: bool
    warnings: tuple[str, ...]
    size: int
    gm_msgid: str = ""
    authentication_results: tuple[str, ...] = ()


# --------------------------------------------------------------------------
# Strings
# --------------------------------------------------------------------------

_ESCAPED_BYTES_RE = re.compile("[\udc80-\udcff]+")
_LONE_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls and DEL (tab, LF, CR handled by the callers).
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
# Bidi embeddings, overrides and isolates (RTLO spoofing); LRM/RLM are kept.
_BIDI_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")
_WS_RE = re.compile(r"\s+")
# Characters str.splitlines() splits on: the email package refuses them in headers.
_LINEBREAK_RE = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00]")
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
# Codecs that are text encodings for Python but not charsets, or are slow.
_REFUSED_CODECS = {"punycode", "idna", "unicode_escape", "raw_unicode_escape", "undefined"}


def _fix_surrogates(value: str) -> str:
    """Turn surrogate-escaped bytes (left by the email package for 8-bit
    headers) into text: UTF-8 when they are UTF-8 (RFC 6532), else windows-1252."""

    def repl(match: re.Match[str]) -> str:
        raw = bytes(ord(c) - 0xDC00 for c in match.group())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("cp1252", "replace")

    value = _ESCAPED_BYTES_RE.sub(repl, value)
    return _LONE_SURROGATE_RE.sub("\ufffd", value)


def _clean_display(value: str) -> str:
    """One-line display string: no controls, no bidi overrides, spaces collapsed."""
    value = _fix_surrogates(value)
    value = _CONTROL_RE.sub(" ", value)
    value = _BIDI_RE.sub("", value)
    return _WS_RE.sub(" ", value).strip()


def _clean_body(value: str) -> str:
    """Body text: valid Unicode, no NUL, ``\\n`` line endings."""
    value = _fix_surrogates(value).replace("\x00", "")
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _unfold(value: str) -> str:
    """RFC 5322 §2.2.3 unfolding: remove CRLF (and bare CR/LF)."""
    return re.sub(r"\r\n|\r|\n", "", value)


def _decode_text(payload: bytes, charset: str | None) -> tuple[str, str]:
    """Decode a text part; never raises (reliability note M02).

    :returns: ``(text, warning)``; ``warning`` is ``""`` when the declared
        charset decoded the bytes cleanly.
    """
    warning = ""
    cs = (charset or "").strip().strip('"').lower()
    if cs:
        try:
            codec = codecs.lookup(cs)
            if codec.name in _REFUSED_CODECS:
                raise LookupError(cs)
        except LookupError:
            warning = f"unknown charset {cs!r}, decoded as UTF-8"
        else:
            try:
                return payload.decode(codec.name), ""
            except (UnicodeDecodeError, LookupError):
                warning = f"text is not valid {cs}, decoded with replacement characters"
    elif not payload.isascii():
        warning = "8-bit text without charset"
    try:
        return payload.decode("utf-8"), warning
    except UnicodeDecodeError:
        if not warning:
            warning = "text is not valid UTF-8, decoded as windows-1252"
        return payload.decode("cp1252", "replace"), warning


# --------------------------------------------------------------------------
# Addresses and identifiers
# --------------------------------------------------------------------------

_EMAIL_RE = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]"
_DOT_ATOM_TEXT = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_NO_FOLD_LITERAL = r"\[[\x21-\x5a\x5e-\x7e]*\]"
_MSG_ID_RE = re.compile(rf"<{_DOT_ATOM_TEXT}@(?:{_DOT_ATOM_TEXT}|{_NO_FOLD_LITERAL})>")
_DOT_ATOM_RE = re.compile(_DOT_ATOM_TEXT)
# Lenient extraction from received mail: anything bracketed without spaces.
_LENIENT_ID_RE = re.compile(rf"<([^<>\s]{{1,{MAX_MSG_ID_LENGTH - 2}}})>")
_FIELD_NAME_RE = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")


def normalize_email(value: str) -> str:
    """Normalize an email address for matching.

    Follows Odoo's ``odoo.tools.mail.email_normalize`` exactly, since contacts
    are matched on ``res.partner.email_normalized``: spaces stripped, the
    domain lower-cased, an ASCII local part lower-cased (RFC 5321 §2.4 lets it
    be case-sensitive, but no provider treats it so), a non-ASCII local part
    kept as written (SMTPUTF8, RFC 6531, makes no case promise). A dotless
    domain (``admin@intranet``, RFC 5321 §2.3.5) is accepted, as Odoo does.
    A ``Name <a@b>`` form is reduced to its addr-spec.

    :param value: an address as written, e.g. ``" Jane.Doe@Example.COM "``.
    :returns: ``"jane.doe@example.com"`` (``"Élodie@acme.fr"`` for
        ``"Élodie@ACME.fr"``), or ``""`` when ``value`` is not one plain
        ``local@domain`` address (quoted local parts are refused).
    """
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if "<" in value:
        match = re.search(r"<([^<>]*)>\s*$", value)
        if not match:
            return ""
        value = match.group(1).strip()
    if not _EMAIL_RE.match(value):
        return ""
    local, domain = value.rsplit("@", 1)
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return ""
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return ""
    if any(unicodedata.category(c).startswith("C") for c in value):
        return ""
    if local.isascii():
        local = local.lower()
    return f"{local}@{domain.lower()}"


def is_valid_message_id(value: str) -> bool:
    """Strict RFC 5322 §3.6.4 ``msg-id``: ``"<" id-left "@" id-right ">"``.

    ``id-left`` is a dot-atom-text, ``id-right`` a dot-atom-text or a
    no-fold-literal (``[...]``); no whitespace, no comments, no obsolete
    forms, at most :data:`MAX_MSG_ID_LENGTH` characters.

    :param value: e.g. ``"<1234.abcd@mail.example.com>"``.
    :returns: whether ``value`` is exactly one such msg-id.
    """
    return (
        isinstance(value, str)
        and len(value) <= MAX_MSG_ID_LENGTH
        and _MSG_ID_RE.fullmatch(value) is not None
    )


def _ascii_domain(domain: str) -> str:
    domain = domain.strip().rstrip(".")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise HeaderInjection(f"invalid domain {domain!r}") from exc
    return domain.lower()


def make_message_id(domain: str) -> str:
    """Make a new, unique Message-ID (RFC 5322 §3.6.4).

    :param domain: the right-hand side, usually the sender's domain; an IDN
        domain is IDNA-encoded.
    :returns: ``"<32 random hex digits@domain>"``.
    :raises HeaderInjection: when ``domain`` is not a dot-atom-text.
    """
    domain = _ascii_domain(domain or "")
    if not _DOT_ATOM_RE.fullmatch(domain):
        raise HeaderInjection(f"invalid Message-ID domain {domain!r}")
    return f"<{secrets.token_hex(16)}@{domain}>"


def _extract_ids(value: str) -> list[str]:
    """Bracketed ids of a received In-Reply-To / References / Message-ID value,
    lenient (any bracketed token without whitespace), in order, unique."""
    seen: dict[str, None] = {}
    for match in _LENIENT_ID_RE.finditer(_unfold(value)):
        seen.setdefault(f"<{match.group(1)}>", None)
    return list(seen)


def _parse_message_id(value: str) -> str:
    ids = _extract_ids(value)
    if ids:
        return ids[0]
    bare = _unfold(value).strip()
    # Some mailers omit the brackets: "Message-ID: abc@host".
    if bare and "@" in bare and not re.search(r"[\s<>]", bare) and len(bare) <= 996:
        return f"<{bare}>"
    return ""


def reply_headers(
    parent_message_id: str,
    parent_references: Sequence[str],
    parent_in_reply_to: str = "",
) -> tuple[str, tuple[str, ...]]:
    """In-Reply-To and References of a reply, per RFC 5322 §3.6.4.

    * In-Reply-To is the parent's Message-ID (``""`` if it has none);
    * References is the parent's References followed by its Message-ID; when
      the parent has no References but its In-Reply-To holds exactly one id,
      that id takes their place.

    Ids that are not strict msg-ids (:func:`is_valid_message_id`) are dropped,
    duplicates removed, and References kept to :data:`MAX_REFERENCES` (the
    first id, which names the thread root, then the most recent ones).

    :param parent_message_id: the parent's ``<id@host>``, may be ``""``.
    :param parent_references: the parent's References ids, in order (a single
        string of space-separated ids is accepted too).
    :param parent_in_reply_to: the parent's In-Reply-To value.
    :returns: ``(in_reply_to, references)``, both possibly empty.
    """
    if isinstance(parent_references, str):
        parent_references = _extract_ids(parent_references) or parent_references.split()
    parent_id = (parent_message_id or "").strip()
    parent_id = parent_id if is_valid_message_id(parent_id) else ""
    refs = [r.strip() for r in parent_references if isinstance(r, str)]
    refs = [r for r in refs if is_valid_message_id(r)]
    if not refs and parent_in_reply_to:
        irt = _extract_ids(parent_in_reply_to)
        if len(irt) == 1 and is_valid_message_id(irt[0]):
            refs = irt
    if parent_id:
        refs.append(parent_id)
    unique = list(dict.fromkeys(refs))
    # keep the parent id last even if it was also listed earlier
    if parent_id and unique and unique[-1] != parent_id:
        unique.remove(parent_id)
        unique.append(parent_id)
    if len(unique) > MAX_REFERENCES:
        unique = unique[:1] + unique[-(MAX_REFERENCES - 1):]
    return parent_id, tuple(unique)


# --------------------------------------------------------------------------
# Subjects
# --------------------------------------------------------------------------

_PREFIX_WORDS = (
    r"re|fwd?|aw|wg|sv|vs|antw|antwort|tr|réf|ref|rif|odp|enc|res|"
    r"回复|回覆|答复|答覆|转发|轉發|転送"
)
_PREFIX_RE = re.compile(
    rf"^\s*(?:\[[^\[\]]*\]\s*)*(?:{_PREFIX_WORDS})\s*(?:\[\d+\]|\(\d+\))?\s*:\s*",
    re.IGNORECASE,
)
_TAGS_RE = re.compile(r"^\s*(?:\[[^\[\]]*\]\s*)+")
_RE_ONCE_RE = re.compile(r"^re\s*(?:\[\d+\]|\(\d+\))?\s*:", re.IGNORECASE)
_FWD_ONCE_RE = re.compile(r"^fwd?\s*:", re.IGNORECASE)


def normalize_subject(subject: str) -> str:
    """Subject reduced for the thread fallback (matching a reply whose
    In-Reply-To and References were rewritten or dropped).

    Removes any number of leading reply/forward prefixes, in English and the
    usual localized forms (``Re``, ``Fwd``, ``Fw``, ``AW``, ``WG``, ``SV``,
    ``VS``, ``Antw``, ``TR``, ``Réf``, ``RIF``, ``Odp``, ``Enc``, ``Res``,
    ``回复``, ``转发``..., also ``Re[2]:`` and full-width colons), leading
    ``[list-tag]`` groups, then collapses whitespace and case-folds.
    NFKC-normalizes first, so full-width and composed forms compare equal.

    :param subject: a decoded subject, e.g. ``"RE: [acme] AW: Quote #12"``.
    :returns: e.g. ``"quote #12"``; ``""`` for an empty or prefix-only subject.
    """
    if not isinstance(subject, str):
        return ""
    value = _strip_reply_prefixes(subject)
    value = _TAGS_RE.sub("", value)
    return _WS_RE.sub(" ", value).strip().casefold()


def _strip_reply_prefixes(subject: str) -> str:
    """*subject* NFKC-normalized, without its leading reply/forward prefixes."""
    value = unicodedata.normalize("NFKC", _clean_display(subject))
    for _ in range(100):  # bounded: each round removes at least one character
        stripped = _PREFIX_RE.sub("", value, count=1)
        if stripped == value:
            break
        value = stripped
    return value


def subject_topic(subject: str) -> str:
    """A subject without its leading reply/forward prefixes, case and list tags kept,
    as a name for what the thread is about (e.g. a lead created from it).

    The prefixes are those of :func:`normalize_subject` (NFKC-normalized first, so a
    full-width colon is one too).

    :param subject: a decoded subject, e.g. ``"RE: AW: Quote #12"``.
    :returns: e.g. ``"Quote #12"``; the subject itself (stripped) when only prefixes.
    """
    if not isinstance(subject, str):
        return ""
    value = _strip_reply_prefixes(subject)
    value = _WS_RE.sub(" ", value).strip()
    return value or _WS_RE.sub(" ", _clean_display(subject)).strip()


def _one_line(value: str) -> str:
    return _clean_display(value or "")


def reply_subject(subject: str) -> str:
    """Subject of a reply: ``"Re: "`` added once.

    A subject that already starts with ``Re:`` (any case, also ``Re[2]:``)
    is returned unchanged; localized prefixes (``AW:``, ``SV:``...) are kept
    and get ``Re:`` in front, as most clients do. Control characters (an
    encoded CR/LF in a received subject) become spaces, so the result always
    passes :func:`check_header_value`.

    :param subject: the parent's decoded subject.
    :returns: e.g. ``"Re: Quote"``.
    """
    value = _one_line(subject)
    if _RE_ONCE_RE.match(value):
        return value
    return f"Re: {value}".rstrip()


def forward_subject(subject: str) -> str:
    """Subject of a forward: ``"Fwd: "`` added once (``Fw:``/``Fwd:`` kept).

    :param subject: the forwarded message's decoded subject.
    :returns: e.g. ``"Fwd: Quote"``.
    """
    value = _one_line(subject)
    if _FWD_ONCE_RE.match(value):
        return value
    return f"Fwd: {value}".rstrip()


# --------------------------------------------------------------------------
# HTML to text
# --------------------------------------------------------------------------

_BLOCK_TAGS = {
    "p", "div", "br", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5",
    "h6", "blockquote", "pre", "hr", "section", "article", "header", "footer", "dt", "dd",
}
_SKIP_TAGS = {"script", "style", "head", "title", "template", "noscript"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag, attrs):  
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "pre":
            self.pre += 1
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        if tag == "li":
            self.chunks.append("- ")

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data):
        if self.skip:
            return
        self.chunks.append(data if self.pre else _WS_RE.sub(" ", data))


def html_to_text(value: str) -> str:
    """Readable plain text of an HTML body (for ``body_text`` and snippets).

    Drops ``script``, ``style`` and ``head``, turns block elements into line
    breaks, decodes entities. Never raises; output is plain text, not HTML.

    :param value: HTML source (at most :data:`MAX_HTML_TO_TEXT` characters
        are read).
    :returns: text with ``\\n`` line endings, at most one blank line in a row.
    """
    value = (value or "")[:MAX_HTML_TO_TEXT]
    try:
        parser = _TextExtractor()
        parser.feed(value)
        parser.close()
        text = "".join(parser.chunks)
    except Exception:  # noqa: BLE001 - HTMLParser may assert on odd input
        text = html.unescape(re.sub(r"<[^>]*>", " ", value))
    lines = [line.strip() for line in text.replace("\r", "").split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return _clean_body(text).strip()


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


class _LimitHit(Exception):
    """Internal: a :class:`ParseLimits` limit was reached."""


_HEADER_END_RE = re.compile(rb"\r?\n\r?\n")
_ESSENTIAL_HEADERS = {
    b"from", b"sender", b"to", b"cc", b"bcc", b"reply-to", b"subject", b"date",
    b"message-id", b"in-reply-to", b"references", b"mime-version", b"content-type",
    b"content-transfer-encoding", b"content-disposition", b"content-id",
}
# Defects that mean the MIME structure could not be recovered.
_STRUCTURE_DEFECTS = (
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.MultipartInvariantViolationDefect,
)
_EXTENSIONS = {
    "text/plain": ".txt", "text/html": ".html", "text/csv": ".csv", "text/calendar": ".ics",
    "text/xml": ".xml", "application/pdf": ".pdf", "application/zip": ".zip",
    "application/octet-stream": ".bin", "application/json": ".json",
    "application/msword": ".doc", "application/ms-tnef": ".dat",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls", "image/png": ".png", "image/jpeg": ".jpg",
    "image/gif": ".gif", "image/svg+xml": ".svg", "image/webp": ".webp",
    "message/rfc822": ".eml", "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt", "text/rfc822-headers": ".txt",
}


def _extension(content_type: str) -> str:
    ext = _EXTENSIONS.get(content_type)
    if ext is None:
        try:
            ext = mimetypes.guess_extension(content_type, strict=True)
        except Exception:  # noqa: BLE001
            ext = None
    return ext or ".bin"


def _clean_filename(value: str) -> str:
    """File name without path, control or bidi characters, at most 200 chars."""
    value = _clean_display(value)
    if "=?" in value:  # RFC 2047 inside a parameter: not standard, but common
        with contextlib.suppress(Exception):
            value = _clean_display(str(_HEADER_POLICY.header_factory("subject", value)))
    value = re.split(r"[/\\]", value)[-1].strip().lstrip(".").strip()
    if len(value) > 200:
        stem, dot, ext = value.rpartition(".")
        value = (stem[: 190] + dot + ext[:9]) if dot and len(ext) < 10 else value[:200]
    return value


class _Collector:
    """Mutable state of one parse: fields found so far, warnings, limits."""

    def __init__(self, limits: ParseLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + max(0.0, limits.max_seconds)
        self.warnings: list[str] = []
        self.malformed = False
        self.body_text: str | None = None
        self.body_html: str | None = None
        self.attachments: list[Attachment] = []

    def warn(self, message: str, *, malformed: bool = False) -> None:
        if malformed:
            self.malformed = True
        if message not in self.warnings:
            self.warnings.append(message)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise _LimitHit(f"parse time over {self.limits.max_seconds:g} s")

    def defects(self, part: Message, where: str) -> None:
        for defect in getattr(part, "defects", ()):  # list on every Message
            if isinstance(defect, _STRUCTURE_DEFECTS):
                self.warn(f"{where}: {type(defect).__name__}", malformed=True)
            else:
                text = _clean_display(str(defect))[:200]
                self.warn(f"{where}: {type(defect).__name__}" + (f" ({text})" if text else ""))


def _split_fields(block: bytes) -> list[bytes]:
    """Header fields of a raw header block, each with its continuation lines
    and line endings (so joining them gives the block back)."""
    fields: list[bytes] = []
    for line in block.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def _precheck_headers(raw: bytes, col: _Collector) -> bytes:
    """Enforce the header limits on the top-level header block.

    :returns: the bytes to parse: ``raw`` itself, or ``raw`` without the
        oversized header fields (then ``col.malformed`` is set).
    """
    limits = col.limits
    if raw[:1] in (b"\n",) or raw[:2] == b"\r\n":
        return raw
    match = _HEADER_END_RE.search(raw)
    if match is None:
        end = len(raw)  # headers only
    else:  # the block ends after the first line break of the blank-line match
        end = match.start() + (2 if raw.startswith(b"\r\n", match.start()) else 1)
    block = raw[:end]
    fields = _split_fields(block)
    too_big = [f for f in fields if len(f) > limits.max_header_field_bytes]
    if len(block) <= limits.max_header_bytes and not too_big:
        return raw
    kept: list[bytes] = []
    if too_big:
        names = sorted({f.split(b":", 1)[0][:40].decode("ascii", "replace") for f in too_big})
        col.warn(
            f"header field over {limits.max_header_field_bytes} bytes dropped: {', '.join(names)}",
            malformed=True,
        )
    total = 0
    essential_only = len(block) > limits.max_header_bytes
    if essential_only:
        col.warn(
            f"header block of {len(block)} bytes over the {limits.max_header_bytes} byte limit; "
            "only essential fields kept",
            malformed=True,
        )
    for f in fields:
        if len(f) > limits.max_header_field_bytes:
            continue
        name = f.split(b":", 1)[0].strip().lower()
        if essential_only and name not in _ESSENTIAL_HEADERS:
            continue
        if total + len(f) > limits.max_header_bytes:
            break
        kept.append(f)
        total += len(f)
    if kept and not kept[-1].endswith(b"\n"):
        kept[-1] += b"\r\n"
    return b"".join(kept) + raw[end:]


def _feed(data: bytes, col: _Collector) -> tuple[EmailMessage | None, str]:
    """Parse with the email package, chunk by chunk, under the limits.

    :returns: ``(root, error)``: the (possibly partial) root message, and a
        non-empty reason when parsing stopped early.
    """
    limits = col.limits
    state: dict = {"count": 0, "root": None}
    parser: BytesFeedParser | None = None

    def factory(policy=_READ_POLICY):
        msg = Message(policy=policy)
        if parser is None:  # FeedParser.__init__ probes the factory once
            return msg
        state["count"] += 1
        if state["count"] > limits.max_parts:
            raise _LimitHit(f"more than {limits.max_parts} MIME parts")
        stack = getattr(parser, "_msgstack", None)
        if stack is not None and len(stack) > limits.max_depth:
            raise _LimitHit(f"MIME nesting deeper than {limits.max_depth}")
        col.check_time()
        if state["root"] is None:
            state["root"] = msg
        return msg

    try:
        parser = BytesFeedParser(_factory=factory, policy=_READ_POLICY)
        step = 64 * 1024
        for start in range(0, len(data), step):
            parser.feed(data[start:start + step])
            col.check_time()
        root = parser.close()
        return root, ""
    except _LimitHit as exc:
        return state["root"], str(exc)
    except RecursionError:
        return state["root"], "MIME structure too deep (recursion limit)"
    except MemoryError:
        return state["root"], "out of memory while parsing"
    except Exception as exc:  # noqa: BLE001 - never raise on input bytes
        return state["root"], f"parser error: {type(exc).__name__}: {exc}"[:300]


def _raw_headers(msg: Message, col: _Collector) -> dict[str, list[str]]:
    """Raw (unparsed) header values by lower-case name; oversized ones skipped."""
    out: dict[str, list[str]] = {}
    try:
        items = list(msg.raw_items())
    except Exception:  # noqa: BLE001
        return out
    for name, value in items:
        if not isinstance(value, str):
            value = str(value)
        if len(value) > col.limits.max_header_field_bytes:
            col.warn(f"header {name[:40]} over {col.limits.max_header_field_bytes} bytes ignored",
                     malformed=True)
            continue
        out.setdefault(str(name).strip().lower(), []).append(value)
    return out


def _parse_subject(value: str, col: _Collector) -> str:
    # 8-bit bytes (RFC 6532 UTF-8, or Latin-1 from old mailers) decoded first,
    # else the email package turns each of them into U+FFFD.
    value = _fix_surrogates(_unfold(value))
    try:
        header = _HEADER_POLICY.header_factory("subject", value)
        return _clean_display(str(header))
    except Exception as exc:  # noqa: BLE001
        col.warn(f"Subject not decodable ({type(exc).__name__})")
    try:
        parts = decode_header(value)
        text = "".join(
            p.decode(cs or "ascii", "replace") if isinstance(p, bytes) else p for p, cs in parts
        )
        return _clean_display(text)
    except Exception:  # noqa: BLE001
        return _clean_display(value)


def _parse_addresses(name: str, values: list[str], col: _Collector) -> tuple[Address, ...]:
    found: list[Address] = []
    for value in values:
        value = _fix_surrogates(_unfold(value))
        try:
            header = _HEADER_POLICY.header_factory(name, value)
            pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
            if header.defects:
                col.warn(f"{name}: address header has defects")
        except Exception:  # noqa: BLE001 - fall back to the lenient parser
            col.warn(f"{name}: address header not parseable, read leniently")
            try:
                pairs = email_utils.getaddresses([value])
            except Exception:  # noqa: BLE001
                pairs = []
        for display, spec in pairs:
            spec = _clean_display(spec or "").replace(" ", "")
            if not spec or spec == "<>":
                continue
            display = _clean_display(display or "")
            if "@" in display:
                col.warn(f"{name}: display name contains '@'")
            found.append(Address(name=display, email=spec))
    return tuple(found)


def _parse_date(value: str, col: _Collector) -> datetime | None:
    try:
        parsed = email_utils.parsedate_to_datetime(_unfold(value).strip())
    except Exception:  # noqa: BLE001
        col.warn("Date header not parseable")
        return None
    if parsed is None:
        col.warn("Date header not parseable")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        col.warn("Date header out of range")
        return None


def _part_payload(part: Message, col: _Collector, where: str) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001
        col.warn(f"{where}: payload not decodable ({type(exc).__name__})")
        data = None
    if not isinstance(data, (bytes, bytearray)):
        data = b""
    return bytes(data)


def _serialize(msg: Message) -> bytes:
    buf = BytesIO()
    BytesGenerator(buf, mangle_from_=False, policy=_RAW_POLICY).flatten(msg, unixfrom=False)
    return buf.getvalue()


def _walk(root: EmailMessage, col: _Collector) -> None:
    """Iterative, depth- and part-bounded walk filling bodies and attachments."""
    limits = col.limits
    stack: list[tuple[Message, int]] = [(root, 0)]
    seen = 0
    while stack:
        col.check_time()
        part, depth = stack.pop()
        seen += 1
        if seen > limits.max_parts:
            raise _LimitHit(f"more than {limits.max_parts} MIME parts")
        if depth > limits.max_depth:
            raise _LimitHit(f"MIME nesting deeper than {limits.max_depth}")
        where = "message" if depth == 0 else f"part {seen}"
        if depth and any(
            len(str(v)) > limits.max_header_field_bytes for _, v in part.raw_items()
        ):
            col.warn(f"{where}: header over {limits.max_header_field_bytes} bytes, part skipped",
                     malformed=True)
            continue
        col.defects(part, where)
        try:
            ctype = part.get_content_type()
        except Exception:  # noqa: BLE001
            col.warn(f"{where}: Content-Type not parseable")
            ctype = "application/octet-stream"
        # get_payload() without decode=True would decode 8-bit text with the
        # declared charset (any codec, e.g. punycode): only used on containers.
        payload = part.get_payload() if part.is_multipart() else None
        if ctype.startswith("multipart/"):
            if isinstance(payload, list):
                children = [p for p in payload if isinstance(p, Message)]
                stack.extend((child, depth + 1) for child in reversed(children))
                continue
            # a multipart whose boundary was never found: treat as text
            ctype = "text/plain"
        if isinstance(payload, list):  # message/rfc822, message/delivery-status...
            try:
                if ctype == "message/rfc822" and payload:
                    data = _serialize(payload[0])
                else:
                    data = b"".join(_serialize(p) for p in payload if isinstance(p, Message))
            except Exception as exc:  # noqa: BLE001
                col.warn(f"{where}: attached message not serializable ({type(exc).__name__})")
                data = b""
            _add_attachment(part, ctype, data, col, where)
            continue
        _leaf(part, ctype, col, where)


def _part_meta(part: Message, col: _Collector, where: str) -> tuple[str | None, str, str]:
    try:
        disposition = part.get_content_disposition()
    except Exception:  # noqa: BLE001
        disposition = None
    try:
        filename = part.get_filename() or ""
    except Exception:  # noqa: BLE001
        col.warn(f"{where}: file name not decodable")
        filename = ""
    cid = ""
    for name, value in part.raw_items():
        if name.lower() == "content-id":
            cid = _clean_display(_unfold(str(value))).strip().strip("<>").strip()
            break
    return disposition, _clean_filename(str(filename)), cid


def _leaf(part: Message, ctype: str, col: _Collector, where: str) -> None:
    disposition, filename, _cid = _part_meta(part, col, where)
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        target = "body_text" if ctype == "text/plain" else "body_html"
        if getattr(col, target) is None:
            data = _part_payload(part, col, where)
            try:
                charset = part.get_content_charset()
            except Exception:  # noqa: BLE001
                charset = None
            text, warning = _decode_text(data, charset)
            if warning:
                col.warn(f"{where}: {warning}")
            col.defects(part, where)  # decoding may add defects (bad base64)
            setattr(col, target, _clean_body(text))
            return
    data = _part_payload(part, col, where)
    col.defects(part, where)
    _add_attachment(part, ctype, data, col, where)


def _add_attachment(part: Message, ctype: str, data: bytes, col: _Collector, where: str) -> None:
    disposition, filename, cid = _part_meta(part, col, where)
    if not filename:
        filename = f"attachment-{len(col.attachments) + 1}{_extension(ctype)}"
    inline = disposition == "inline" or (disposition is None and bool(cid))
    col.attachments.append(
        Attachment(filename=filename, content_type=ctype, data=data, content_id=cid, inline=inline)
    )


def _excerpt(raw: bytes) -> str:
    match = _HEADER_END_RE.search(raw, 0, 1024 * 1024)
    start = match.end() if match else 0
    chunk = raw[start:start + EXCERPT_BYTES] or raw[:EXCERPT_BYTES]
    text, _warning = _decode_text(chunk, None)
    return _clean_body(text)


def parse_message(raw: bytes, limits: ParseLimits | None = None) -> ParsedMessage:
    """Parse one raw message (RFC 5322, MIME RFC 2045-2047, RFC 2231).

    Never raises for bytes input: a message that cannot be parsed, or that
    hits one of ``limits``, is returned with ``malformed=True``, a warning
    naming the reason, the fields that could be read safely (subject, From,
    Message-ID, ... from the top-level headers) and, when no text body was
    found, a decoded excerpt of the raw message in ``body_text``.

    Steps: the top-level header block is checked against
    ``max_header_bytes`` / ``max_header_field_bytes`` (oversized fields are
    dropped before parsing); the email package's feed parser reads the bytes
    64 KB at a time with a part factory that stops at ``max_parts`` and
    ``max_depth``; an iterative walk picks the first text/plain and text/html
    parts that are not attachments as bodies and every other leaf part as an
    :class:`Attachment`; ``max_seconds`` is checked between steps.

    :param raw: the message as fetched (``BODY.PEEK[]``), any line endings;
        ``bytearray``/``memoryview`` accepted, ``str`` is UTF-8 encoded.
    :param limits: defaults to :class:`ParseLimits()`.
    :returns: a :class:`ParsedMessage`.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    raw = bytes(raw)
    limits = limits or ParseLimits()
    col = _Collector(limits)
    root: EmailMessage | None = None
    headers: dict[str, list[str]] = {}
    try:
        data = _precheck_headers(raw, col)
        root, error = _feed(data, col)
        if error:
            col.warn(error, malformed=True)
        if root is None:
            # Not even the top-level headers were read: read them alone.
            try:
                root = BytesHeaderParser(policy=_READ_POLICY).parsebytes(
                    data[: limits.max_header_bytes]
                )
            except Exception:  # noqa: BLE001
                root = None
        if root is not None:
            headers = _raw_headers(root, col)
            if not headers:
                col.warn("no header fields", malformed=True)
            if not error:
                try:
                    _walk(root, col)
                except _LimitHit as exc:
                    col.warn(str(exc), malformed=True)
                except RecursionError:
                    col.warn("MIME structure too deep (recursion limit)", malformed=True)
            else:
                # Keep what the partial tree holds, bounded as usual.
                with contextlib.suppress(Exception):
                    _walk(root, col)
    except Exception as exc:  # noqa: BLE001 - the contract is: never raise
        col.warn(f"parse failed: {type(exc).__name__}", malformed=True)

    def first(name: str) -> str:
        values = headers.get(name)
        return values[0] if values else ""

    def safe(func, *args, default):
        try:
            return func(*args)
        except Exception:  # noqa: BLE001
            col.warn(f"{args[0] if args else ''} not readable")
            return default

    message_id = safe(_parse_message_id, first("message-id"), default="")
    if not message_id:
        col.warn("no Message-ID")
    in_reply_to_ids = safe(_extract_ids, first("in-reply-to"), default=[])
    references = safe(_extract_ids, " ".join(headers.get("references", [])), default=[])
    subject = _parse_subject(first("subject"), col) if "subject" in headers else ""
    date = _parse_date(first("date"), col) if "date" in headers else None
    addrs = {
        key: safe(_parse_addresses, key, headers.get(key, []), col, default=())
        for key in ("from", "sender", "to", "cc", "bcc", "reply-to")
    }

    body_text = col.body_text or ""
    body_html = col.body_html or ""
    if not body_text and body_html:
        body_text = html_to_text(body_html)
    if col.malformed and not body_text and not body_html:
        body_text = _excerpt(raw)

    warnings = col.warnings
    if len(warnings) > MAX_WARNINGS:
        warnings = warnings[:MAX_WARNINGS] + [f"... {len(warnings) - MAX_WARNINGS} more warnings"]
    return ParsedMessage(
        message_id=message_id,
        in_reply_to=in_reply_to_ids[0] if in_reply_to_ids else "",
        references=tuple(references),
        date=date,
        subject=subject,
        from_=addrs["from"],
        sender=addrs["sender"],
        to=addrs["to"],
        cc=addrs["cc"],
        bcc=addrs["bcc"],
        reply_to=addrs["reply-to"],
        body_text=body_text,
        body_html=body_html,
        attachments=tuple(col.attachments),
        malformed=col.malformed,
        warnings=tuple(warnings),
        size=len(raw),
        authentication_results=tuple(
            _unfold(v) for v in headers.get("authentication-results", [])[:MAX_AUTH_RESULTS]),
    )


# --------------------------------------------------------------------------
# Sender authentication (Authentication-Results, RFC 8601)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class AuthResults:
    """SPF, DKIM and DMARC verdicts of one ``Authentication-Results`` field.

    :ivar authserv_id: the authserv-id of the field read (RFC 8601 §2.5),
        lower-case; ``""`` when the message carries no usable field (then every
        result is ``""``: unknown, not failed).
    :ivar spf, dkim, dmarc: lower-case result keywords (RFC 8601 §2.7: ``pass``,
        ``fail``, ``softfail``, ``neutral``, ``none``, ``temperror``,
        ``permerror``, ``policy``), ``""`` when the method is not reported. For
        DKIM, ``pass`` when any signature passed, else the first result.
    :ivar spf_domain: domain of ``smtp.mailfrom`` (or ``smtp.helo``) of the SPF
        result, lower-case.
    :ivar dkim_domains: ``header.d`` (or the domain of ``header.i``) of every
        passing DKIM signature, lower-case.
    :ivar dmarc_from: ``header.from`` of the DMARC result, lower-case.
    """

    authserv_id: str = ""
    spf: str = ""
    dkim: str = ""
    dmarc: str = ""
    spf_domain: str = ""
    dkim_domains: tuple[str, ...] = ()
    dmarc_from: str = ""


def _strip_comments(value: str) -> str:
    """*value* without RFC 5322 comments (nested parentheses), quoted strings kept."""
    out, depth, quoted, escaped = [], 0, False, False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            out.append(char)
            if char == '"':
                quoted = False
        elif char == '"' and depth == 0:
            quoted = True
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _split_unquoted(value: str, sep: str) -> list[str]:
    parts, current, quoted = [], [], False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


_RESINFO_TOKEN = re.compile(r'([^\s=]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')


def _domain_of(value: str) -> str:
    value = value.strip().strip('"').lower()
    return value.rpartition("@")[2].strip(".") if value else ""


def parse_authentication_results(
    values: Sequence[str], trusted_ids: Sequence[str] = ()
) -> AuthResults:
    """Read the SPF, DKIM and DMARC verdicts the receiving server recorded.

    Only one field is trusted (RFC 8601 §5, §7.2: a field can be forged by
    anyone upstream): with *trusted_ids*, the topmost field whose authserv-id is
    one of them; without, the topmost field, which the receiving MTA prepends
    last (trusted only when that MTA strips or overrides incoming fields with
    its own authserv-id, as Postfix/OpenDMARC, Exchange Online and Gmail do).

    :param values: raw field values, topmost first
        (``ParsedMessage.authentication_results``), e.g.
        ``["mx.example.com; spf=pass smtp.mailfrom=a.example; dkim=pass
        header.d=a.example; dmarc=pass header.from=a.example"]``.
    :param trusted_ids: authserv-ids (host names, case-insensitive) to accept.
    :returns: an :class:`AuthResults`; all empty when no field qualifies or the
        field reports ``none`` (RFC 8601 §2.2). Never raises on bad input.
    """
    trusted = {t.strip().lower() for t in trusted_ids if t and t.strip()}
    for value in values:
        parts = _split_unquoted(_strip_comments(value or ""), ";")
        head = parts[0].split()
        if not head:
            continue
        authserv_id = head[0].strip('"').lower()
        if trusted and authserv_id not in trusted:
            continue
        results: dict[str, list[tuple[str, dict[str, str]]]] = {}
        for resinfo in parts[1:]:
            tokens = _RESINFO_TOKEN.findall(resinfo)
            if not tokens:
                continue
            method = tokens[0][0].split("/")[0].lower()
            result = tokens[0][1].strip('"').lower()
            props = {k.lower(): v.strip('"') for k, v in tokens[1:]}
            results.setdefault(method, []).append((result, props))
        if not results:  # "none": this server checked nothing (RFC 8601 §2.2)
            return AuthResults()
        spf = results.get("spf", [("", {})])[0]
        dkims = results.get("dkim", [])
        dmarc = results.get("dmarc", [("", {})])[0]
        passing = tuple(dict.fromkeys(
            d for d in (_domain_of(p.get("header.d") or p.get("header.i") or "")
                        for r, p in dkims if r == "pass") if d))
        dkim = "pass" if passing or any(r == "pass" for r, _p in dkims) else (
            dkims[0][0] if dkims else "")
        return AuthResults(
            authserv_id=authserv_id,
            spf=spf[0],
            dkim=dkim,
            dmarc=dmarc[0],
            spf_domain=_domain_of(spf[1].get("smtp.mailfrom") or spf[1].get("smtp.helo") or ""),
            dkim_domains=passing,
            dmarc_from=_domain_of(dmarc[1].get("header.from") or ""),
        )
    return AuthResults()


def _aligned(a: str, b: str) -> bool:
    """Relaxed alignment (RFC 7489 §3.1), approximated without the public suffix list:
    equal domains, or one a subdomain of the other."""
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def sender_warning(auth: AuthResults, from_email: str) -> str:
    """Why the From address of a message may be forged, or ``""``.

    A warning when DMARC failed, or (no DMARC verdict) when the From domain is
    aligned with neither a passing DKIM signature nor a passing SPF domain.
    A message without a usable ``Authentication-Results`` field gets no warning:
    its authentication is unknown (local delivery, servers that do not check).

    :param auth: from :func:`parse_authentication_results`.
    :param from_email: the From addr-spec, e.g. ``"jane@example.com"``.
    :returns: an English sentence, or ``""``.
    """
    if not auth.authserv_id:
        return ""
    domain = _domain_of(from_email)
    if auth.dmarc == "fail":
        return (f"DMARC failed for {auth.dmarc_from or domain or 'the sender domain'} "
                f"(checked by {auth.authserv_id}): the From address may be forged.")
    if auth.dmarc == "pass":
        return ""
    spf_ok = auth.spf == "pass" and _aligned(auth.spf_domain, domain)
    dkim_ok = any(_aligned(d, domain) for d in auth.dkim_domains)
    if spf_ok or dkim_ok:
        return ""
    return (f"The sender domain {domain or '(none)'} is not confirmed by DKIM or SPF "
            f"(checked by {auth.authserv_id}): the From address may be forged.")


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------

_STRUCTURAL_HEADERS = {
    "from", "sender", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to",
    "references", "mime-version", "content-type", "content-transfer-encoding",
    "content-disposition", "content-id", "reply-to",
}
_TOKEN_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+\-]{1,127}$")


def check_header_value(name: str, value: str) -> None:
    """Refuse a header value that could inject headers (RFC 5322 §2.2).

    Refused: CR, LF, NUL and the other characters Python treats as line
    breaks (VT, FF, FS, GS, RS, NEL, U+2028, U+2029); and RFC 2047
    encoded-words whose decoded text holds one of those (Python < 3.11.10
    would write them out decoded: CVE-2024-6923). The field name must be
    printable ASCII without ``:``.

    :param name: header field name, e.g. ``"Subject"``.
    :param value: the value we are about to set.
    :raises HeaderInjection: when ``name`` or ``value`` is unsafe.
    """
    if not isinstance(name, str) or not _FIELD_NAME_RE.match(name):
        raise HeaderInjection(f"invalid header name {name!r}")
    if not isinstance(value, str):
        raise HeaderInjection(f"{name}: header value must be a string")
    if _LINEBREAK_RE.search(value):
        raise HeaderInjection(f"{name}: CR, LF or NUL in header value")
    if "=?" in value:
        for match in _ENCODED_WORD_RE.finditer(value):
            decoded = b""
            with contextlib.suppress(Exception):  # undecodable: Python keeps it literal
                decoded = b"".join(
                    p if isinstance(p, bytes) else p.encode("utf-8", "replace")
                    for p, _cs in decode_header(match.group())
                )
            if re.search(rb"[\r\n\x00\x0b\x0c\x1c-\x1e]|\xc2\x85|\xe2\x80[\xa8\xa9]", decoded):
                raise HeaderInjection(f"{name}: encoded-word decodes to a line break")


def _as_address(value: Address | str) -> list[Address]:
    if isinstance(value, Address):
        check_header_value("Address", value.name)
        check_header_value("Address", value.email)
        if "=?" in value.email:
            raise HeaderInjection(f"encoded-word in email address {value.email!r}")
        if not normalize_email(value.email):
            raise HeaderInjection(f"invalid email address {value.email!r}")
        return [Address(name=_clean_display(value.name), email=value.email.strip())]
    if not isinstance(value, str):
        raise HeaderInjection(f"address must be Address or str, not {type(value).__name__}")
    check_header_value("Address", value)
    if not value.strip():
        return []
    try:
        header = _HEADER_POLICY.header_factory("to", value)
        parsed = [(a.display_name, a.addr_spec) for a in header.addresses]
    except Exception as exc:
        raise HeaderInjection(f"invalid address list {value!r}") from exc
    out = []
    for display, spec in parsed:
        if "=?" in spec:
            raise HeaderInjection(f"encoded-word in email address {spec!r}")
        if not normalize_email(spec):
            raise HeaderInjection(f"invalid email address {spec!r}")
        out.append(Address(name=_clean_display(display or ""), email=spec))
    if not out:
        raise HeaderInjection(f"no address in {value!r}")
    return out


def address_list(values: Sequence[Address | str] | Address | str) -> tuple[Address, ...]:
    """Addresses from :class:`Address` objects and ``"Name <a@b>"`` strings.

    A string may hold several comma-separated addresses (RFC 5322 §3.4
    ``address-list``, RFC 2047 encoded names decoded); a single string or
    :class:`Address` is accepted in place of a sequence.

    :param values: e.g. ``["Élodie <e@x.fr>", Address("", "a@b.c")]``.
    :returns: the addresses, in order.
    :raises HeaderInjection: on CR/LF/NUL or an invalid address.
    """
    if isinstance(values, (str, Address)):
        values = [values]
    out: list[Address] = []
    for value in values or ():
        out.extend(_as_address(value))
    return tuple(out)


def parse_address_field(value: str) -> tuple[Address, ...]:
    """The addresses a user typed in a To, Cc or Bcc field, parsed strictly.

    Nothing is guessed, so the recipients sent (header and envelope) are exactly
    the ones the field shows (RFC 5322 §3.4 ``address-list``; empty elements and a
    trailing comma are tolerated).

    :param value: e.g. ``'"Doe, Jane" <jane@x.com>, bob@x.com'``; ``""``/``None``: none.
    :returns: the addresses, in order (``()`` for an empty field).
    :raises HeaderInjection: CR, LF, NUL or another line break (one field would
        become several headers or recipients); an RFC 2047 encoded-word
        (``=?...?=``: write names in plain text); text the parser had to guess
        about (a missing comma, an unclosed ``<``); an invalid address.
    """
    value = value or ""
    if not isinstance(value, str):
        raise HeaderInjection(f"address field must be a string, not {type(value).__name__}")
    if _LINEBREAK_RE.search(value):
        raise HeaderInjection("line break or NUL in an address field")
    if "=?" in value:
        raise HeaderInjection("encoded-word (=?...?=) in an address field")
    if not value.strip(" ,"):
        return ()
    try:
        header = _HEADER_POLICY.header_factory("to", value)
        parsed = [(a.display_name, a.addr_spec) for a in header.addresses]
    except Exception as exc:
        raise HeaderInjection(f"invalid address list {value!r}") from exc
    if any(isinstance(d, email_errors.InvalidHeaderDefect) for d in header.defects):
        raise HeaderInjection(f"cannot read {value!r} as comma-separated addresses")
    out = []
    for display, spec in parsed:
        if not normalize_email(spec) or "@" not in spec:
            raise HeaderInjection(f"invalid email address {spec!r}")
        out.append(Address(name=_clean_display(display or ""), email=spec))
    if not out:
        raise HeaderInjection(f"no address in {value!r}")
    return tuple(out)


def _header_address(addr: Address) -> _HeaderAddress:
    local, _, domain = addr.email.strip().rpartition("@")
    if not local.isascii():
        raise HeaderInjection(f"non-ASCII local part needs SMTPUTF8: {addr.email!r}")
    try:
        return _HeaderAddress(display_name=addr.name, username=local,
                              domain=_ascii_domain(domain))
    except (ValueError, TypeError, email_errors.HeaderParseError) as exc:
        raise HeaderInjection(f"invalid address {addr.email!r}") from exc


def _boundary(message_id: str, index: int, avoid: Sequence[str]) -> str:
    salt = 0
    while True:
        digest = hashlib.sha256(f"{message_id}/{index}/{salt}".encode()).hexdigest()[:32]
        boundary = f"=_{digest}"
        if not any(boundary in text for text in avoid):
            return boundary
        salt += 1


def build_message(
    *,
    from_: Address | str,
    to: Sequence[Address | str],
    cc: Sequence[Address | str] = (),
    bcc: Sequence[Address | str] = (),
    subject: str,
    body_text: str = "",
    body_html: str = "",
    in_reply_to: str = "",
    references: Sequence[str] = (),
    attachments: Sequence[Attachment] = (),
    message_id: str | None = None,
    date: datetime | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> tuple[str, bytes]:
    """Build one message to send (RFC 5322, MIME RFC 2045-2047, RFC 2231).

    Structure: ``text/plain`` alone; ``multipart/alternative`` (text, html)
    when there is HTML (a text part is derived from the HTML when
    ``body_text`` is empty); inline attachments with a ``content_id`` go in a
    ``multipart/related`` with the HTML; other attachments make the whole a
    ``multipart/mixed``. Non-ASCII subjects and names are RFC 2047 encoded,
    non-ASCII file names RFC 2231 encoded, IDN domains IDNA-encoded.
    MIME boundaries are derived from the Message-ID, so the same arguments
    give the same bytes.

    Bcc is validated but **not written** into the bytes: pass it to the SMTP
    envelope. Every header value goes through :func:`check_header_value`;
    Message-ID, In-Reply-To and References must be strict msg-ids
    (:func:`is_valid_message_id`). The output is parsed again and its header
    names compared with the intended ones.

    :param from_: the author.
    :param to: recipients (:class:`Address` or ``"Name <a@b>"`` strings).
    :param subject: decoded subject, one line.
    :param body_text: plain-text body; ``\\n`` line endings.
    :param body_html: HTML body.
    :param in_reply_to: parent msg-id, e.g. from :func:`reply_headers`.
    :param references: msg-ids, e.g. from :func:`reply_headers`.
    :param attachments: files; ``data`` is sent base64-encoded.
    :param message_id: ``<id@host>``; made with :func:`make_message_id` on
        the From domain when ``None``.
    :param date: aware datetime, written with its own UTC offset (naive is
        taken as UTC); now when ``None``.
    :param extra_headers: more fields (e.g. ``{"X-Mailer": "..."}``); may not
        replace a structural header (From, To, Subject, Content-*...).
    :returns: ``(message_id, raw)``; ``raw`` uses CRLF line endings.
    :raises HeaderInjection: on any unsafe or invalid header value or address.
    """
    authors = address_list([from_])
    if len(authors) != 1:
        raise HeaderInjection("From must be exactly one address")
    author = authors[0]
    to_list, cc_list = address_list(to), address_list(cc)
    address_list(bcc)  # validated only: Bcc goes to the SMTP envelope
    check_header_value("Subject", subject)
    if message_id is None:
        message_id = make_message_id(author.email.rpartition("@")[2])
    if not is_valid_message_id(message_id):
        raise HeaderInjection(f"invalid Message-ID {message_id!r}")
    if in_reply_to and not is_valid_message_id(in_reply_to):
        raise HeaderInjection(f"invalid In-Reply-To {in_reply_to!r}")
    if isinstance(references, str):
        references = references.split()
    for ref in references:
        if not is_valid_message_id(ref):
            raise HeaderInjection(f"invalid References id {ref!r}")
    extras = dict(extra_headers or {})
    for name, value in extras.items():
        check_header_value(name, value)
        if name.lower() in _STRUCTURAL_HEADERS:
            raise HeaderInjection(f"extra header may not set {name}")
    if date is None:
        date = datetime.now(UTC)
    elif date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    for att in attachments:
        check_header_value("filename", att.filename)
        check_header_value("Content-ID", att.content_id)
        if not re.fullmatch(r"[\x21-\x3b\x3d\x3f-\x7e]*", att.content_id):
            raise HeaderInjection(f"invalid Content-ID {att.content_id!r}")
        maintype, _, subtype = att.content_type.lower().partition("/")
        if not (_TOKEN_RE.match(maintype) and _TOKEN_RE.match(subtype)):
            raise HeaderInjection(f"invalid content type {att.content_type!r}")

    msg = EmailMessage(policy=_WRITE_POLICY)
    try:
        msg["From"] = _header_address(author)
        if to_list:
            msg["To"] = [_header_address(a) for a in to_list]
        if cc_list:
            msg["Cc"] = [_header_address(a) for a in cc_list]
        msg["Subject"] = subject
        msg["Date"] = email_utils.format_datetime(date)
        msg["Message-ID"] = message_id
        if in_reply_to:
            msg["In-Reply-To"] = in_reply_to
        if references:
            msg["References"] = " ".join(references)
        for name, value in extras.items():
            msg[name] = value
    except HeaderInjection:
        raise
    except (ValueError, TypeError, email_errors.MessageError) as exc:
        raise HeaderInjection(f"header refused: {exc}") from exc

    text = (body_text or "").replace("\r\n", "\n").replace("\r", "\n")
    if body_html and not text:
        text = html_to_text(body_html)
    msg.set_content(text)
    html_part = None
    if body_html:
        msg.add_alternative(body_html, subtype="html")
        html_part = msg.get_payload()[1]
    for att in attachments:
        maintype, _, subtype = att.content_type.lower().partition("/")
        kwargs: dict = {"filename": _clean_filename(att.filename) or None}
        if att.content_id:
            kwargs["cid"] = f"<{att.content_id}>"
        if maintype == "message" or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        if att.inline and att.content_id and html_part is not None:
            html_part.add_related(att.data, maintype, subtype, disposition="inline", **kwargs)
        else:
            msg.add_attachment(
                att.data, maintype, subtype,
                disposition="inline" if att.inline else "attachment", **kwargs,
            )
    for part in msg.walk():
        if part is not msg and "MIME-Version" in part:
            del part["MIME-Version"]  # only the top level carries it (RFC 2045 §4)
    containers = [p for p in msg.walk() if p.is_multipart()]
    for index, part in enumerate(containers):
        part.set_boundary(_boundary(message_id, index, (text, body_html)))
    try:
        raw = msg.as_bytes()
    except (ValueError, TypeError, UnicodeError, email_errors.MessageError) as exc:
        raise HeaderInjection(f"message not serializable: {exc}") from exc
    _verify_output(raw, msg, message_id)
    return message_id, raw


def _verify_output(raw: bytes, msg: EmailMessage, message_id: str) -> None:
    """Re-parse the built bytes: same header names, same Message-ID, CRLF only."""
    reparsed = BytesHeaderParser(policy=email_policy.compat32).parsebytes(raw)
    wanted = Counter(k.lower() for k in msg)
    got = Counter(k.lower() for k in reparsed)
    if wanted != got or "bcc" in got:
        raise HeaderInjection(f"built headers differ from the intended ones: {sorted(got - wanted)}")
    if (reparsed.get("Message-ID") or "").strip() != message_id:
        raise HeaderInjection("Message-ID changed on serialization")
    if re.search(rb"(?<!\r)\n|\r(?!\n)", raw):
        raise HeaderInjection("bare CR or LF in built message")
