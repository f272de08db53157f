"""IMAP session over :class:`imapclient.IMAPClient`: UIDs only, timeouts always set.

One :class:`IMAPSession` is one authenticated connection. Message commands
work on UIDs (:rfc:`3501#section-2.3.1.1`), never on sequence numbers, and
never change ``\\Seen`` implicitly (``BODY.PEEK[]``). Every failure is raised as
an :mod:`engine.errors` class with ``protocol="imap"`` and ``step`` set; no
message contains the password or the access token.

Folder state: :meth:`IMAPSession.examine` selects a folder read-only;
:meth:`~IMAPSession.search_uids`, :meth:`~IMAPSession.fetch` and
:meth:`~IMAPSession.fetch_flags` then work on the selected folder. Methods
that take a ``folder`` argument select it themselves (read-write when they
change it).
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timezone

from imapclient import IMAPClient, SocketTimeout
from imapclient import tls as imapclient_tls
from imapclient.exceptions import CapabilityError, IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.response_parser import parse_fetch_response

from . import tls
from .errors import (
    AuthenticationFailed,
    CapabilityMissing,
    EngineError,
    FolderGone,
    ProtocolFailed,
    Throttled,
    TLSFailed,
)
from .oauth import xoauth2_string
from .session import ServerSession

_logger = logging.getLogger(__name__)

PROTOCOL = "imap"
SECURITY_MODES = ("ssl", "starttls", "none")

#: RFC 6154 special-use attributes (plus ``\\Inbox``) reported in :attr:`FolderInfo.special_use`.
SPECIAL_USE_FLAGS = (
    "\\Inbox",
    "\\Sent",
    "\\Drafts",
    "\\Trash",
    "\\Junk",
    "\\Archive",
    "\\All",
    "\\Flagged",
)

#: Folder names (last hierarchy component, case-insensitive) used when the
#: server does not announce special-use attributes.
_NAME_ROLES = {
    **dict.fromkeys(
        ("sent", "sent items", "sent messages", "sent mail", "gesendet", "gesendete elemente",
         "gesendete objekte", "envoyés", "éléments envoyés", "enviados", "posta inviata", "inviata"),
        "\\Sent",
    ),
    **dict.fromkeys(
        ("trash", "deleted items", "deleted messages", "bin", "papierkorb", "corbeille",
         "gelöschte elemente", "éléments supprimés", "papelera", "cestino"),
        "\\Trash",
    ),
    **dict.fromkeys(
        ("junk", "spam", "junk e-mail", "junk email", "bulk mail", "junk mail", "spamverdacht",
         "courrier indésirable", "indésirables"),
        "\\Junk",
    ),
    **dict.fromkeys(("drafts", "draft", "entwürfe", "brouillons", "borradores", "bozze"), "\\Drafts"),
    **dict.fromkeys(("archive", "archives", "archiv"), "\\Archive"),
    "all mail": "\\All",
}  # fmt: skip

_APPENDUID_RE = re.compile(r"\[APPENDUID (\d+) ([\d:,]+)\]", re.IGNORECASE)
_COPYUID_RE = re.compile(r"(?:\[COPYUID )?(\d+) ([\d:,*]+) ([\d:,*]+)\]?", re.IGNORECASE)
_MISSING_FOLDER_RE = re.compile(
    r"NONEXISTENT|TRYCREATE|doesn't exist|does not exist|not exist|no such|unknown mailbox|not found",
    re.IGNORECASE,
)
_TRANSIENT_LOGIN_RE = re.compile(r"\[(UNAVAILABLE|INUSE|SERVERBUG|LIMIT|THROTTLED)\]",
                                 re.IGNORECASE)
_APP_PASSWORD_RE = re.compile(r"application-specific password|app password", re.IGNORECASE)
_ALREADY_EXISTS_RE = re.compile(r"ALREADYEXISTS|already exists", re.IGNORECASE)


@dataclass(frozen=True)
class IMAPSettings:
    """How to reach and log in to an IMAP server.

    :ivar host: host name or IP address.
    :ivar port: TCP port (993 for ``ssl``, 143 for ``starttls``/``none``).
    :ivar security: ``"ssl"`` (implicit TLS, :rfc:`8314`), ``"starttls"``
        (:rfc:`3501#section-6.2.1`) or ``"none"`` (tests, local servers).
    :ivar username: login name.
    :ivar password: password for LOGIN; ignored when ``access_token`` is set.
    :ivar access_token: OAuth 2 access token; when set, SASL ``XOAUTH2``
        (Google/Microsoft IMAP OAuth docs) is used instead of LOGIN.
    :ivar timeout: seconds, for every read (and for the connect when
        ``connect_timeout`` is ``None``).
    :ivar connect_timeout: seconds for the TCP connect, the TLS handshake of
        implicit TLS and the server's greeting (:rfc:`3501#section-7.1`); ``None``:
        ``timeout``. A server that accepts and never greets costs this, not
        ``timeout``.
    :ivar allow_self_signed: accept any certificate at the handshake and
        trust it by its pinned fingerprint instead (see :mod:`engine.tls`).
    :ivar pinned_fingerprint: SHA-256 hex of the accepted certificate; ``""``
        = trust on first use (read :attr:`IMAPSession.server_fingerprint`).
    :ivar cafile: optional PEM file of extra trusted CA certificates.
    :ivar address: IP address to connect to, already vetted
        (:func:`engine.discovery.check_host_safe`); ``""``: resolve *host*. TLS
        still sends and verifies *host* (SNI, certificate name).
    """

    host: str
    port: int
    security: str
    username: str
    password: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    timeout: float = 30.0
    allow_self_signed: bool = False
    pinned_fingerprint: str = ""
    cafile: str | None = None
    address: str = ""
    connect_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {SECURITY_MODES}, not {self.security!r}")


@dataclass(frozen=True)
class FolderInfo:
    """One LIST entry (:rfc:`3501#section-7.2.2`).

    :ivar name: decoded folder name (modified UTF-7 undone), full path.
    :ivar delimiter: hierarchy delimiter, ``""`` when the server has none.
    :ivar flags: LIST attributes as sent (``"\\\\HasNoChildren"``...).
    :ivar special_use: ``""`` or one of :data:`SPECIAL_USE_FLAGS`, from the
        server's attributes (:rfc:`6154`) or else from the folder name.
    :ivar selectable: false for ``\\Noselect`` / ``\\NonExistent`` folders.
    """

    name: str
    delimiter: str
    flags: tuple[str, ...]
    special_use: str
    selectable: bool


@dataclass(frozen=True)
class FolderStatus:
    """What EXAMINE reported (:rfc:`3501#section-6.3.2`, :rfc:`7162#section-3.1.2`).

    :ivar highest_modseq: ``HIGHESTMODSEQ`` or ``None`` without CONDSTORE.
    """

    name: str
    uidvalidity: int
    uidnext: int
    exists: int
    highest_modseq: int | None


@dataclass(frozen=True)
class FetchedMessage:
    """One fetched message.

    :ivar uid: the message UID in the selected folder.
    :ivar flags: flags as str (``"\\\\Seen"``, keywords), ``\\Recent`` left out.
    :ivar raw: the full RFC 5322 message bytes (``BODY[]``).
    :ivar internal_date: INTERNALDATE, timezone-aware, or ``None``.
    :ivar size: RFC822.SIZE in bytes.
    :ivar modseq: MODSEQ (:rfc:`7162`) or ``None`` without CONDSTORE.
    """

    uid: int
    flags: tuple[str, ...]
    raw: bytes
    internal_date: datetime | None
    size: int
    modseq: int | None


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _flags(values) -> tuple[str, ...]:
    return tuple(f for f in (_text(v) for v in values or ()) if f.lower() != "\\recent")


def _aware(value) -> datetime | None:
    """INTERNALDATE as an aware datetime with a stdlib :class:`datetime.timezone`."""
    if not isinstance(value, datetime):
        return None
    offset = value.utcoffset()
    if offset is None:
        return value.replace(tzinfo=UTC)
    return value.replace(tzinfo=timezone(offset))


def _uid_set(uids: Sequence[int]) -> str:
    """Compact IMAP sequence set: ``[1, 2, 3, 7]`` -> ``"1:3,7"``."""
    ordered = sorted({int(u) for u in uids})
    parts: list[str] = []
    start = prev = None
    for uid in ordered:
        if start is None:
            start = prev = uid
        elif uid == prev + 1:
            prev = uid
        else:
            parts.append(f"{start}:{prev}" if start != prev else str(start))
            start = prev = uid
    if start is not None:
        parts.append(f"{start}:{prev}" if start != prev else str(start))
    return ",".join(parts)


def _expand_uid_set(text: str) -> list[int]:
    """``"1:3,7"`` -> ``[1, 2, 3, 7]`` (order kept, as COPYUID pairs them by position)."""
    result: list[int] = []
    for part in text.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            step = 1 if b >= a else -1
            result.extend(range(a, b + step, step))
        elif part:
            result.append(int(part))
    return result


def _copyuid_map(text: str) -> dict[int, int]:
    match = _COPYUID_RE.search(text or "")
    if not match:
        return {}
    src, dst = _expand_uid_set(match.group(2)), _expand_uid_set(match.group(3))
    if len(src) != len(dst):
        return {}
    return dict(zip(src, dst, strict=True))


def guess_special_use(name: str, delimiter: str) -> str:
    """Role of a folder from its name alone (used when the server sends none).

    Matches the last hierarchy component (so ``"[Gmail]/Sent Mail"`` is
    ``\\Sent``); ``INBOX`` is ``\\Inbox`` only at the top level.
    """
    if name.upper() == "INBOX":
        return "\\Inbox"
    last = name.rsplit(delimiter, 1)[-1] if delimiter else name
    return _NAME_ROLES.get(last.strip().lower(), "")


class _PlainIMAP4(IMAP4WithTimeout):
    """imaplib connection whose socket goes to a vetted address."""

    def __init__(self, address: str, host: str, port: int, timeout: float | None) -> None:
        self._address = address
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return tls.open_tcp(self.host, self.port,
                            timeout if timeout is not None else self._timeout, self._address)


class _TLSIMAP4(imapclient_tls.IMAP4_TLS):
    """Implicit-TLS connection to a vetted address; SNI and verification use the host."""

    def __init__(self, address: str, host: str, port: int, ssl_context, timeout) -> None:
        self._address = address
        super().__init__(host, port, ssl_context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = tls.open_tcp(self.host, self.port,
                            timeout if timeout is not None else self._timeout, self._address)
        return imapclient_tls.wrap_socket(sock, self.ssl_context, self.host)


class _IMAPClient(IMAPClient):
    """IMAPClient that connects to :attr:`IMAPSettings.address` when set."""

    def __init__(self, host: str, *args, address: str = "", **kwargs) -> None:
        self._address = address
        super().__init__(host, *args, **kwargs)

    def _create_IMAP4(self):
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _TLSIMAP4(self._address, self.host, self.port, self.ssl_context,
                             connect_timeout)
        return _PlainIMAP4(self._address, self.host, self.port, connect_timeout)


class IMAPSession(ServerSession):
    """An authenticated IMAP connection; use it as a context manager.

    ``__enter__`` calls :meth:`open` (connect, TLS, login, ENABLE CONDSTORE),
    ``__exit__`` calls :meth:`close` (LOGOUT, falling back to a shutdown).
    Settings, secret scrubbing, TLS and the pin: :class:`engine.session.ServerSession`.

    :ivar capabilities: upper-case capability names after login.
    :ivar server_fingerprint: SHA-256 hex of the server certificate, ``""``
        without TLS. With ``allow_self_signed`` and no pin, store it as the pin.
    :ivar condstore: CONDSTORE is enabled (MODSEQ and HIGHESTMODSEQ available).
    """

    PROTOCOL = PROTOCOL

    def __init__(self, settings: IMAPSettings) -> None:
        super().__init__(settings)
        self.capabilities: frozenset[str] = frozenset()
        self.condstore = False
        self._client: IMAPClient | None = None
        self._selected: str | None = None
        self._readonly = True

    # -- errors --------------------------------------------------------------

    def _map(self, exc: BaseException, step: str, *, connected: bool = True) -> EngineError:
        """Turn any exception raised while talking to the server into an engine error."""
        if isinstance(exc, EngineError):
            return exc
        if not connected and step != "login" and isinstance(exc, IMAPClientError):
            # greeting / STARTTLS: the bytes come from whatever listens on that port;
            # they are never echoed (an error message must not turn into a port scanner)
            s = self.settings
            return ProtocolFailed(
                f"{s.host}:{s.port} did not answer as an IMAP server during {step}",
                step=step, protocol=PROTOCOL,
            )
        if isinstance(exc, IMAPClientAbortError):
            return tls.classify_network_error(
                ConnectionResetError(str(exc)), step=step, connected=True, **self._where()
            )
        err = tls.classify_network_error(exc, step=step, connected=connected, **self._where())
        if err is not None:
            return err
        if isinstance(exc, LoginError):
            return AuthenticationFailed(
                f"IMAP server rejected the login of {self.settings.username!r}: {self._scrub(exc)}",
                step=step,
                protocol=PROTOCOL,
            )
        if isinstance(exc, IMAPClientError):
            return ProtocolFailed(
                f"IMAP {step} failed: {self._scrub(exc)}", step=step, protocol=PROTOCOL
            )
        return ProtocolFailed(
            f"IMAP {step} failed: {type(exc).__name__}: {self._scrub(exc)}",
            step=step,
            protocol=PROTOCOL,
        )

    def _folder_error(self, exc: BaseException, step: str, folder: str) -> EngineError:
        if (
            isinstance(exc, IMAPClientError)
            and not isinstance(exc, IMAPClientAbortError)
            and _MISSING_FOLDER_RE.search(str(exc))
        ):
            return FolderGone(
                f"folder {folder!r} does not exist: {exc}", step=step, protocol=PROTOCOL
            )
        return self._map(exc, step)

    @property
    def client(self) -> IMAPClient:
        """The underlying :class:`imapclient.IMAPClient` (after :meth:`open`)."""
        if self._client is None:
            raise ProtocolFailed("IMAP session is not open", step="state", protocol=PROTOCOL)
        return self._client

    # -- connection ----------------------------------------------------------

    def _connect(self, ctx: ssl.SSLContext | None) -> IMAPClient:
        """TCP connect, greeting, and TLS (implicit or STARTTLS) with ``ctx``."""
        s = self.settings
        timeout = SocketTimeout(
            connect=min(s.connect_timeout or s.timeout, s.timeout), read=s.timeout)
        if s.security == "ssl":
            client = _IMAPClient(s.host, s.port, ssl=True, ssl_context=ctx, timeout=timeout,
                                 address=s.address)
        else:
            client = _IMAPClient(s.host, s.port, ssl=False, timeout=timeout, address=s.address)
            if s.security == "starttls":
                try:
                    client.starttls(ctx)
                except CapabilityError as exc:
                    client.shutdown()
                    raise TLSFailed(
                        f"{s.host}:{s.port} does not offer STARTTLS; "
                        "check the security mode (SSL/TLS on port 993?) and the port",
                        step="starttls",
                        protocol=PROTOCOL,
                    ) from exc
                except BaseException:
                    _safe_shutdown(client)
                    raise
        return client

    @staticmethod
    def _socket_of(conn: IMAPClient) -> ssl.SSLSocket:
        return conn.socket()

    @staticmethod
    def _drop(conn: IMAPClient) -> None:
        _safe_shutdown(conn)

    def open(self) -> None:
        """Connect, negotiate TLS, check the pin, log in, ENABLE CONDSTORE.

        :raises UnknownHost, ConnectionRefused, ConnectTimeout, ConnectionLost:
            the server could not be reached.
        :raises CertificateUntrusted: verification failed (``fingerprint`` set
            when it could be read).
        :raises CertificateChanged: the certificate differs from the pin.
        :raises TLSFailed: handshake failed (wrong security mode or port),
            or STARTTLS not offered.
        :raises AuthenticationFailed: LOGIN or AUTHENTICATE answered NO.
        """
        s = self.settings
        client = self._open_transport()
        self._client = client
        try:
            self._login(client)
            self.capabilities = frozenset(_text(c).upper() for c in client.capabilities())
            if "CONDSTORE" in self.capabilities and "ENABLE" in self.capabilities:
                try:
                    enabled = client.enable("CONDSTORE")
                    self.condstore = any(_text(c).upper() == "CONDSTORE" for c in enabled)
                except IMAPClientError as exc:
                    if isinstance(exc, IMAPClientAbortError):
                        raise
                    _logger.info("ENABLE CONDSTORE refused by %s: %s", s.host, exc)
            # imapclient: keep INTERNALDATE timezone-aware.
            client.normalise_times = False
        except BaseException as exc:
            self._client = None
            _safe_shutdown(client)
            if isinstance(exc, EngineError):
                raise
            if not isinstance(exc, Exception):
                raise
            raise self._map(exc, "login", connected=False) from exc

    def _login(self, client: IMAPClient) -> None:
        """LOGIN, or ``AUTHENTICATE XOAUTH2`` when an access token is set."""
        s = self.settings
        if s.access_token:
            if "AUTH=XOAUTH2" not in {_text(c).upper() for c in client.capabilities()}:
                raise CapabilityMissing(
                    f"{s.host} does not offer AUTH=XOAUTH2 (OAuth login)",
                    step="login",
                    protocol=PROTOCOL,
                )
            try:
                auth_string = xoauth2_string(s.username, s.access_token)
            except ValueError as exc:
                raise AuthenticationFailed(f"XOAUTH2 login refused before sending: {exc}",
                                           step="login", protocol=PROTOCOL) from None
            state = {"sent": False}

            def xoauth2(challenge: bytes) -> str:
                # First continuation: send the credentials. A second one carries
                # the base64 JSON error; answer empty so the server sends NO.
                if state["sent"]:
                    return ""
                state["sent"] = True
                return auth_string

            try:
                client.sasl_login("XOAUTH2", xoauth2)
            except LoginError as exc:
                raise self._login_error(exc, "XOAUTH2 token") from None
        else:
            try:
                client.login(s.username, s.password)
            except LoginError as exc:
                raise self._login_error(exc, "login") from None

    def _login_error(self, exc: LoginError, what: str) -> EngineError:
        """NO to LOGIN/AUTHENTICATE: wrong credentials, or a transient refusal.

        ``[UNAVAILABLE]``, ``[INUSE]``, ``[SERVERBUG]`` and ``[LIMIT]``
        (:rfc:`5530`) say nothing about the credentials: they become
        :class:`ConnectFailed` (retry later), never an authentication failure.
        """
        text = self._scrub(exc)
        if _TRANSIENT_LOGIN_RE.search(text):
            return Throttled(
                f"IMAP server temporarily refused the login: {text}",
                step="login",
                protocol=PROTOCOL,
            )
        hint = ""
        if _APP_PASSWORD_RE.search(text):
            hint = "app_password_required"
        return AuthenticationFailed(
            f"IMAP server rejected the {what} of {self.settings.username!r}: {text}",
            hint=hint,
            step="login",
            protocol=PROTOCOL,
        )

    def close(self) -> None:
        """LOGOUT, or shut the socket down when LOGOUT fails. Never raises."""
        client, self._client = self._client, None
        self._selected = None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001 -- closing must not raise
            _safe_shutdown(client)

    # -- folders ---------------------------------------------------------------

    def list_folders(self) -> list[FolderInfo]:
        """LIST ``"" "*"``: every folder with its delimiter, flags and role.

        Roles come from RFC 6154 attributes when the server sends any for that
        role; otherwise from the folder name (:func:`guess_special_use`).

        :raises ConnectionLost, ProtocolFailed:
        """
        try:
            entries = self.client.list_folders()
        except Exception as exc:
            raise self._map(exc, "list") from exc
        raw: list[tuple[str, str, tuple[str, ...], str]] = []
        server_roles: set[str] = set()
        for flags, delimiter, name in entries:
            flag_strs = tuple(_text(f) for f in flags)
            role = next(
                (f for f in flag_strs for s in SPECIAL_USE_FLAGS if f.lower() == s.lower()), ""
            )
            role = next((s for s in SPECIAL_USE_FLAGS if s.lower() == role.lower()), "")
            if role:
                server_roles.add(role)
            raw.append((_text(name), _text(delimiter) if delimiter else "", flag_strs, role))
        folders = []
        for name, delimiter, flags, role in raw:
            if not role:
                guess = guess_special_use(name, delimiter)
                if guess and (guess == "\\Inbox" or guess not in server_roles):
                    role = guess
            lower = {f.lower() for f in flags}
            selectable = not ({"\\noselect", "\\nonexistent"} & lower)
            folders.append(FolderInfo(name, delimiter, flags, role, selectable))
        return folders

    def create_folder(self, name: str) -> None:
        """CREATE ``name`` (and SUBSCRIBE it); no error if it already exists.

        :raises ProtocolFailed: the server refused (invalid name, quota...).
        """
        try:
            self.client.create_folder(name)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError) or not _ALREADY_EXISTS_RE.search(str(exc)):
                raise self._map(exc, "create") from exc
        except Exception as exc:
            raise self._map(exc, "create") from exc
        try:
            self.client.subscribe_folder(name)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                raise self._map(exc, "create") from exc
            _logger.info("SUBSCRIBE %r refused: %s", name, exc)

    def _select(self, folder: str, readonly: bool) -> dict:
        if self._selected == folder and (readonly or not self._readonly):
            return {}
        step = "examine" if readonly else "select"
        try:
            info = self.client.select_folder(folder, readonly=readonly)
        except Exception as exc:
            self._selected = None
            raise self._folder_error(exc, "select", folder) from exc
        self._selected, self._readonly = folder, readonly
        _logger.debug("%s %r", step, folder)
        return info

    def examine(self, folder: str) -> FolderStatus:
        """EXAMINE ``folder`` (read-only SELECT, :rfc:`3501#section-6.3.2`).

        With CONDSTORE enabled, ``HIGHESTMODSEQ`` is returned (:rfc:`7162`).

        :raises FolderGone: the folder does not exist.
        :raises ConnectionLost, ProtocolFailed:
        """
        self._selected = None
        info = self._select(folder, readonly=True)
        highest = info.get(b"HIGHESTMODSEQ")
        return FolderStatus(
            name=folder,
            uidvalidity=int(info.get(b"UIDVALIDITY", 0)),
            uidnext=int(info.get(b"UIDNEXT", 0)),
            exists=int(info.get(b"EXISTS", 0)),
            highest_modseq=int(highest) if highest is not None and self.condstore else None,
        )

    def _require_selected(self, step: str) -> None:
        if self._selected is None:
            raise ProtocolFailed(
                f"IMAP {step}: no folder selected (call examine() first)",
                step=step,
                protocol=PROTOCOL,
            )

    # -- messages (selected folder) ----------------------------------------------

    def search_uids(self, since: date | None = None, min_uid: int = 1) -> list[int]:
        """``UID SEARCH UID <min_uid>:* [SINCE <date>]`` in the selected folder.

        Never searches by ``UNSEEN``. ``n:*`` always matches the last message
        even when its UID is below ``n`` (:rfc:`3501#section-6.4.8`), so the
        result is filtered to ``uid >= min_uid``.

        :param since: INTERNALDATE day lower bound (server's time zone).
        :param min_uid: smallest UID wanted (>= 1).
        :returns: ascending UIDs.
        :raises ConnectionLost, ProtocolFailed:
        """
        self._require_selected("search")
        min_uid = max(1, int(min_uid))
        criteria: list = ["UID", f"{min_uid}:*"]
        if since is not None:
            criteria += ["SINCE", since]
        try:
            found = self.client.search(criteria)
        except Exception as exc:
            raise self._map(exc, "search") from exc
        return sorted(int(u) for u in found if int(u) >= min_uid)

    def search_message_id(self, message_id: str) -> list[int]:
        """``UID SEARCH HEADER Message-ID <message_id>`` in the selected folder
        (:rfc:`3501#section-6.4.4`): the copies of one message, e.g. to APPEND a
        sent copy only once.

        IMAP's HEADER search is a substring match: the result is kept as the
        server gives it, the caller passes the whole ``<id@host>`` value.

        :param message_id: the Message-ID with its angle brackets.
        :returns: ascending UIDs (empty when none).
        :raises ValueError: *message_id* holds CR, LF or NUL.
        :raises ConnectionLost, ProtocolFailed:
        """
        self._require_selected("search")
        if any(c in message_id for c in "\r\n\0"):
            raise ValueError("a Message-ID has no line breaks")
        try:
            found = self.client.search(["HEADER", "Message-ID", message_id])
        except Exception as exc:
            raise self._map(exc, "search") from exc
        return sorted(int(u) for u in found)

    def fetch(self, uids: Sequence[int], batch_size: int = 100) -> Iterator[FetchedMessage]:
        """Fetch whole messages of the selected folder without setting ``\\Seen``.

        Items: ``BODY.PEEK[] FLAGS INTERNALDATE RFC822.SIZE`` (+ ``MODSEQ`` with
        CONDSTORE), :rfc:`3501#section-6.4.5`. UIDs that no longer exist are
        skipped silently; repeated FETCH responses for one UID are merged.

        :param uids: UIDs to fetch, any order.
        :param batch_size: UIDs per ``UID FETCH`` command.
        :returns: iterator in ascending UID order.
        :raises ConnectionLost, ProtocolFailed:
        """
        self._require_selected("fetch")
        items = ["BODY.PEEK[]", "FLAGS", "INTERNALDATE", "RFC822.SIZE"]
        if self.condstore:
            items.append("MODSEQ")
        ordered = sorted({int(u) for u in uids})
        for start in range(0, len(ordered), max(1, batch_size)):
            batch = ordered[start : start + batch_size]
            try:
                data = self._uid_fetch(_uid_set(batch), items)
            except Exception as exc:
                raise self._map(exc, "fetch") from exc
            wanted = set(batch)
            for uid in sorted(data):
                item = data[uid]
                body = item.get(b"BODY[]")
                if uid not in wanted or body is None:
                    continue
                modseq = item.get(b"MODSEQ")
                internal = item.get(b"INTERNALDATE")
                yield FetchedMessage(
                    uid=int(uid),
                    flags=_flags(item.get(b"FLAGS")),
                    raw=bytes(body),
                    internal_date=_aware(internal),
                    size=int(item.get(b"RFC822.SIZE", len(body))),
                    modseq=int(modseq[0]) if modseq else None,
                )

    def fetch_flags(
        self, uids: Sequence[int] | None = None, changed_since: int | None = None
    ) -> dict[int, tuple[str, ...]]:
        """``UID FETCH <uids> (FLAGS)`` in the selected folder.

        :param uids: UIDs, or ``None`` for all messages (``1:*``).
        :param changed_since: only messages whose MODSEQ is greater
            (``CHANGEDSINCE``, :rfc:`7162#section-3.1.4`); needs CONDSTORE.
        :returns: ``{uid: flags}`` (``\\Recent`` left out).
        :raises CapabilityMissing: ``changed_since`` without CONDSTORE.
        :raises ConnectionLost, ProtocolFailed:
        """
        self._require_selected("fetch")
        if uids is not None and not uids:
            return {}
        modifiers = None
        if changed_since is not None:
            if not self.condstore:
                raise CapabilityMissing(
                    "server lacks CONDSTORE: CHANGEDSINCE unavailable",
                    step="fetch",
                    protocol=PROTOCOL,
                )
            modifiers = [f"CHANGEDSINCE {int(changed_since)}"]
        ids = "1:*" if uids is None else _uid_set(uids)
        try:
            data = self._uid_fetch(ids, ["FLAGS"], modifiers)
        except Exception as exc:
            raise self._map(exc, "fetch") from exc
        wanted = None if uids is None else {int(u) for u in uids}
        return {
            int(uid): _flags(item.get(b"FLAGS"))
            for uid, item in sorted(data.items())
            if b"FLAGS" in item and (wanted is None or int(uid) in wanted)
        }

    def _uid_fetch(
        self, ids: str, items: Sequence[str], modifiers: Sequence[str] | None = None
    ) -> dict:
        """``UID FETCH <ids> (<items>) [(<modifiers>)]`` with a sequence *set*.

        :meth:`imapclient.IMAPClient.fetch` (4.1) only accepts lists of single
        UIDs (it re-parses its argument with ``int()``), so ranges such as
        ``1:*`` go through the same imaplib calls here.

        :returns: ``{uid: {b"FLAGS": ..., ...}}`` (merged per UID by imapclient).
        """
        imap = self.client._imap
        args = ["UID", "FETCH", ids, "(" + " ".join(items) + ")"]
        if modifiers:
            args.append("(" + " ".join(modifiers) + ")")
        imap.untagged_responses.pop("FETCH", None)  # stale unsolicited FETCH (may lack UID)
        tag = imap._command(*args)
        typ, data = imap._command_complete("FETCH", tag)
        if typ != "OK":
            raise IMAPClientError(f"fetch failed: {_text(data[0] if data else '')}")
        typ, data = imap._untagged_response(typ, data, "FETCH")
        if not data or data == [None]:
            return {}
        return parse_fetch_response(data, self.client.normalise_times, True)

    # -- changes ---------------------------------------------------------------

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Sequence[str] = ("\\Seen",),
        msg_time: datetime | None = None,
    ) -> int | None:
        """APPEND ``raw`` to ``folder`` (:rfc:`3501#section-6.3.11`).

        :param flags: flags to set, default ``\\Seen`` (a sent copy).
        :param msg_time: INTERNALDATE to set (aware datetime), default now.
        :returns: the new UID from ``APPENDUID`` (UIDPLUS, :rfc:`4315`), or
            ``None`` when the server does not send it.
        :raises FolderGone: the folder does not exist (``TRYCREATE``).
        :raises ConnectionLost, ProtocolFailed:
        """
        try:
            response = self.client.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        except Exception as exc:
            raise self._folder_error(exc, "append", folder) from exc
        match = _APPENDUID_RE.search(_text(response or b""))
        if not match or "," in match.group(2) or ":" in match.group(2):
            return None
        return int(match.group(2))

    def add_flags(self, folder: str, uids: Sequence[int], flags: Sequence[str]) -> None:
        """``UID STORE +FLAGS.SILENT`` in ``folder`` (selected read-write).

        :raises FolderGone, ConnectionLost, ProtocolFailed:
        """
        self._store(folder, uids, flags, add=True)

    def remove_flags(self, folder: str, uids: Sequence[int], flags: Sequence[str]) -> None:
        """``UID STORE -FLAGS.SILENT`` in ``folder`` (selected read-write).

        :raises FolderGone, ConnectionLost, ProtocolFailed:
        """
        self._store(folder, uids, flags, add=False)

    def _store(self, folder: str, uids: Sequence[int], flags: Sequence[str], *, add: bool) -> None:
        if not uids:
            return
        self._select(folder, readonly=False)
        try:
            if add:
                self.client.add_flags(sorted(uids), list(flags), silent=True)
            else:
                self.client.remove_flags(sorted(uids), list(flags), silent=True)
        except Exception as exc:
            raise self._map(exc, "store") from exc

    def move(self, folder: str, uids: Sequence[int], dest: str) -> dict[int, int]:
        """Move ``uids`` from ``folder`` to ``dest``.

        ``UID MOVE`` when the server has MOVE (:rfc:`6851`), else ``UID COPY``,
        ``+FLAGS \\Deleted`` and ``UID EXPUNGE`` (UIDPLUS) or, as a last resort,
        ``EXPUNGE`` (which also removes other ``\\Deleted`` messages).

        :returns: ``{old_uid: new_uid}`` from ``COPYUID`` (:rfc:`4315`), or ``{}``.
        :raises FolderGone: ``folder`` or ``dest`` does not exist.
        :raises ConnectionLost, ProtocolFailed:
        """
        if not uids:
            return {}
        self._select(folder, readonly=False)
        client = self.client
        ids = _uid_set(uids).encode()
        dest_arg = client._normalise_folder(dest)
        untagged = client._imap.untagged_responses
        untagged.pop("COPYUID", None)
        command = b"MOVE" if "MOVE" in self.capabilities else b"COPY"
        try:
            typ, data = client._raw_command(command, [ids, dest_arg], uid=True)
            if typ != "OK":
                raise IMAPClientError(
                    f"{command.decode()} failed: {_text(data[0] if data else '')}"
                )
        except Exception as exc:
            raise self._folder_error(exc, command.decode().lower(), dest) from exc
        text = " ".join(_text(d) for d in (data or []) if d)
        mapping = _copyuid_map(text)
        if not mapping:
            for item in untagged.pop("COPYUID", None) or []:
                mapping = _copyuid_map(_text(item))
                if mapping:
                    break
        if command == b"COPY":
            self._delete_selected(uids)
        return mapping

    def delete(self, folder: str, uids: Sequence[int]) -> None:
        """Flag ``uids`` ``\\Deleted`` and expunge them (``UID EXPUNGE``, :rfc:`4315`).

        Without UIDPLUS a plain ``EXPUNGE`` is used, which also removes other
        messages already flagged ``\\Deleted`` in that folder.

        :raises FolderGone, ConnectionLost, ProtocolFailed:
        """
        if not uids:
            return
        self._select(folder, readonly=False)
        self._delete_selected(uids)

    def _delete_selected(self, uids: Sequence[int]) -> None:
        try:
            self.client.add_flags(sorted(uids), ["\\Deleted"], silent=True)
            if "UIDPLUS" in self.capabilities:
                self.client.uid_expunge(sorted(uids))
            else:
                self.client.expunge()
        except Exception as exc:
            raise self._map(exc, "expunge") from exc


def _safe_shutdown(client: IMAPClient) -> None:
    """Close the socket without LOGOUT; errors are irrelevant at that point."""
    with contextlib.suppress(Exception):
        client.shutdown()


__all__ = [
    "FetchedMessage",
    "FolderInfo",
    "FolderStatus",
    "IMAPSession",
    "IMAPSettings",
    "guess_special_use",
]
