"""SMTP submission over :mod:`smtplib`: implicit TLS, STARTTLS, AUTH PLAIN/LOGIN/XOAUTH2.

:class:`SMTPSession` opens one authenticated submission session
(:rfc:`6409`): connect (``SMTP_SSL`` for implicit TLS, :rfc:`8314`), EHLO,
STARTTLS + EHLO (:rfc:`3207`), AUTH (:rfc:`4954`). Every failure is raised as an
:mod:`engine.errors` class with ``protocol="smtp"``; messages never contain
the password or the access token.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import tls
from .errors import (
    AuthenticationFailed,
    CapabilityMissing,
    ConnectionLost,
    ConnectionRefused,
    EngineError,
    MessageTooLarge,
    ProtocolFailed,
    SendFailed,
    TLSFailed,
)
from .oauth import xoauth2_string
from .session import ServerSession

PROTOCOL = "smtp"
SECURITY_MODES = ("ssl", "starttls", "none")

_EOL_RE = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class SMTPSettings:
    """How to reach and authenticate to an SMTP submission server.

    :ivar host: host name or IP address.
    :ivar port: TCP port (465 for ``ssl``, 587 for ``starttls``).
    :ivar security: ``"ssl"`` (implicit TLS, :rfc:`8314`), ``"starttls"``
        (:rfc:`3207`) or ``"none"`` (tests, local relays).
    :ivar username: AUTH login; ``""`` = no AUTH.
    :ivar password: password for AUTH PLAIN/LOGIN.
    :ivar access_token: OAuth 2 access token; when set, ``AUTH XOAUTH2`` is
        used (Google "XOAUTH2 mechanism", Microsoft "Authenticate an SMTP
        connection using OAuth").
    :ivar timeout: seconds, for connect and every read.
    :ivar allow_self_signed: accept any certificate and trust it by its pinned
        fingerprint (see :mod:`engine.tls`).
    :ivar pinned_fingerprint: SHA-256 hex of the accepted certificate; ``""``
        = trust on first use (read :attr:`SMTPSession.server_fingerprint`).
    :ivar cafile: optional PEM file of extra trusted CA certificates.
    :ivar local_hostname: name sent in EHLO; default: the local FQDN.
    :ivar address: IP address to connect to, already vetted
        (:func:`engine.discovery.check_host_safe`); ``""``: resolve *host*. TLS
        still sends and verifies *host* (SNI, certificate name).
    """

    host: str
    port: int
    security: str
    username: str = ""
    password: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    timeout: float = 30.0
    allow_self_signed: bool = False
    pinned_fingerprint: str = ""
    cafile: str | None = None
    local_hostname: str | None = None
    address: str = ""

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {SECURITY_MODES}, not {self.security!r}")


class _AddressMixin:
    """smtplib connection whose socket goes to a vetted address (SNI keeps the host)."""

    def __init__(self, *args, address: str = "", **kwargs) -> None:
        self._address = address
        super().__init__(*args, **kwargs)

    def _get_socket(self, host, port, timeout):
        return super()._get_socket(self._address or host, port, timeout)


class _SMTP(_AddressMixin, smtplib.SMTP):
    pass


class _SMTP_SSL(_AddressMixin, smtplib.SMTP_SSL):
    pass


def _reply(resp) -> str:
    if isinstance(resp, bytes):
        return resp.decode("utf-8", "replace")
    return str(resp)


class SMTPSession(ServerSession):
    """An authenticated SMTP submission session; use it as a context manager.

    Settings, secret scrubbing, TLS and the pin: :class:`engine.session.ServerSession`.

    :ivar server_fingerprint: SHA-256 hex of the server certificate, ``""``
        without TLS.
    :ivar features: ESMTP extensions from the last EHLO, ``{name_lower: params}``
        (``smtplib.SMTP.esmtp_features``).
    """

    PROTOCOL = PROTOCOL

    def __init__(self, settings: SMTPSettings) -> None:
        super().__init__(settings)
        self.features: dict[str, str] = {}
        self._smtp: smtplib.SMTP | None = None

    @property
    def is_open(self) -> bool:
        """Whether the session is open (a lost connection closes it)."""
        return self._smtp is not None

    # -- errors --------------------------------------------------------------

    def _map(self, exc: BaseException, step: str, *, connected: bool) -> EngineError:
        if isinstance(exc, EngineError):
            return exc
        s = self.settings
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return AuthenticationFailed(
                f"SMTP server rejected the login of {s.username!r}: "
                f"{exc.smtp_code} {self._scrub(_reply(exc.smtp_error))}",
                step="login",
                protocol=PROTOCOL,
            )
        if isinstance(exc, smtplib.SMTPConnectError):
            # the greeting comes from whatever listens on that port: never echoed
            return ConnectionRefused(
                f"{s.host}:{s.port} did not greet as an SMTP server (reply code "
                f"{exc.smtp_code})",
                step="connect",
                protocol=PROTOCOL,
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return ConnectionLost(
                f"SMTP server {s.host}:{s.port} closed the connection during {step}: {exc}",
                step=step,
                protocol=PROTOCOL,
            )
        err = tls.classify_network_error(exc, step=step, connected=connected, **self._where())
        if err is not None:
            return err
        if isinstance(exc, smtplib.SMTPResponseException) and not connected \
                and step != "login":
            return ProtocolFailed(
                f"{s.host}:{s.port} did not answer as an SMTP server during {step} "
                f"(reply code {exc.smtp_code})", step=step, protocol=PROTOCOL,
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            return ProtocolFailed(
                f"SMTP {step} failed: {exc.smtp_code} {self._scrub(_reply(exc.smtp_error))}",
                step=step,
                protocol=PROTOCOL,
            )
        return ProtocolFailed(
            f"SMTP {step} failed: {type(exc).__name__}: {self._scrub(str(exc))}",
            step=step,
            protocol=PROTOCOL,
        )

    # -- connection ------------------------------------------------------------

    def _connect(self, ctx: ssl.SSLContext | None) -> smtplib.SMTP:
        """Connect, greeting, EHLO and (for ``starttls``) STARTTLS + EHLO."""
        s = self.settings
        if s.security == "ssl":
            smtp = _SMTP_SSL(
                s.host, s.port, s.local_hostname, timeout=s.timeout, context=ctx,
                address=s.address,
            )
        else:
            smtp = _SMTP(s.host, s.port, s.local_hostname, timeout=s.timeout,
                         address=s.address)
        try:
            smtp.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise TLSFailed(
                        f"{s.host}:{s.port} does not offer STARTTLS; "
                        "check the security mode (SSL/TLS on port 465?) and the port",
                        step="starttls",
                        protocol=PROTOCOL,
                    )
                smtp.starttls(context=ctx)
                smtp.ehlo()
        except BaseException:
            _safe_close(smtp)
            raise
        return smtp

    @staticmethod
    def _socket_of(conn: smtplib.SMTP) -> ssl.SSLSocket:
        return conn.sock

    @staticmethod
    def _drop(conn: smtplib.SMTP) -> None:
        _safe_close(conn)

    def _open_error(self, exc: Exception, step: str) -> EngineError:
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            s = self.settings
            return TLSFailed(f"STARTTLS refused by {s.host}:{s.port}: {exc}", step="starttls",
                             protocol=PROTOCOL)
        return super()._open_error(exc, step)

    def open(self) -> None:
        """Connect, EHLO, TLS, check the pin, then AUTH when ``username`` is set.

        :raises UnknownHost, ConnectionRefused, ConnectTimeout, ConnectionLost:
        :raises CertificateUntrusted, CertificateChanged, TLSFailed:
        :raises AuthenticationFailed: AUTH answered 535 (or another 5xx).
        :raises CapabilityMissing: the server offers no AUTH at this stage.
        """
        smtp = self._open_transport()
        try:
            if self.settings.username:
                self._auth(smtp)
        except BaseException as exc:
            _safe_close(smtp)
            if isinstance(exc, Exception):
                raise self._map(exc, "login", connected=False) from exc
            raise
        self._smtp = smtp
        self.features = dict(smtp.esmtp_features)

    def _auth(self, smtp: smtplib.SMTP) -> None:
        s = self.settings
        if not smtp.has_extn("auth"):
            hint = " (try STARTTLS)" if s.security == "none" else ""
            raise CapabilityMissing(
                f"SMTP server {s.host}:{s.port} offers no AUTH{hint}",
                step="login",
                protocol=PROTOCOL,
            )
        if s.access_token:
            try:
                auth_string = xoauth2_string(s.username, s.access_token)
            except ValueError as exc:
                raise AuthenticationFailed(f"XOAUTH2 login refused before sending: {exc}",
                                           step="login", protocol=PROTOCOL) from None

            def xoauth2(challenge: bytes | None = None) -> str:
                # Initial response carries the credentials; a later 334 holds a
                # base64 JSON error, answered with an empty line (then 535).
                return auth_string if challenge is None else ""

            if "XOAUTH2" not in smtp.esmtp_features.get("auth", "").upper().split():
                raise CapabilityMissing(
                    f"SMTP server {s.host}:{s.port} does not offer AUTH XOAUTH2 (OAuth login)",
                    step="login",
                    protocol=PROTOCOL,
                )
            smtp.auth("XOAUTH2", xoauth2, initial_response_ok=True)
        else:
            try:
                smtp.login(s.username, s.password)
            except smtplib.SMTPException as exc:
                if type(exc) is smtplib.SMTPException:  # "No suitable authentication method"
                    raise CapabilityMissing(
                        f"SMTP server {s.host}:{s.port} offers no AUTH PLAIN/LOGIN/CRAM-MD5: {exc}",
                        step="login",
                        protocol=PROTOCOL,
                    ) from exc
                raise

    def close(self) -> None:
        """QUIT, or close the socket when QUIT fails. Never raises."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001 -- closing must not raise
            _safe_close(smtp)

    def test(self) -> None:
        """Check the settings: connect, EHLO, TLS, AUTH, then QUIT; sends nothing.

        :raises EngineError: any error of :meth:`open`.
        """
        if self._smtp is not None:
            try:
                self._smtp.noop()
            except Exception as exc:
                raise self._map(exc, "noop", connected=True) from exc
            return
        self.open()
        self.close()

    # -- sending -----------------------------------------------------------------

    @property
    def size_limit(self) -> int | None:
        """The largest message the server accepts, in bytes, from the EHLO ``SIZE``
        keyword (:rfc:`1870` section 4); ``None`` when not advertised or ``SIZE 0``
        (no fixed maximum)."""
        value = (self.features.get("size") or "").strip()
        return int(value) if value.isdigit() and int(value) > 0 else None

    def send(
        self, raw: bytes, from_addr: str, to_addrs: Sequence[str]
    ) -> dict[str, tuple[int, str]]:
        """Submit one message (MAIL FROM, RCPT TO..., DATA; :rfc:`5321#section-3.3`).

        Line endings of ``raw`` are normalised to CRLF; dot-stuffing is done by
        smtplib. ``BODY=8BITMIME`` is requested when ``raw`` has 8-bit bytes and
        the server offers it, ``SMTPUTF8`` when an address is not ASCII.

        :param raw: the complete RFC 5322 message.
        :param from_addr: envelope sender (bare address).
        :param to_addrs: envelope recipients (bare addresses, Bcc included).
        :returns: recipients the server refused while others were accepted:
            ``{address: (smtp_code, reply text)}``; ``{}`` when all accepted.
        :raises MessageTooLarge: *raw* is over the server's :attr:`size_limit`; raised
            before ``MAIL FROM`` (nothing sent).
        :raises SendFailed: sender refused, every recipient refused, or DATA
            refused (``smtp_code`` set).
        :raises ConnectionLost: the server disconnected.
        """
        smtp = self._smtp
        if smtp is None:
            raise ProtocolFailed("SMTP session is not open", step="send", protocol=PROTOCOL)
        if not to_addrs:
            raise SendFailed("no recipients", step="send", protocol=PROTOCOL)
        data = _EOL_RE.sub(b"\r\n", raw)
        limit = self.size_limit
        if limit and len(data) > limit:
            raise MessageTooLarge(
                f"the message is {len(data)} bytes, the server accepts at most {limit} "
                f"bytes (SIZE, RFC 1870): {len(data) - limit} bytes over",
                size=len(data), limit=limit, protocol=PROTOCOL)
        options: list[str] = []
        if any(b > 127 for b in data) and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not all(a.isascii() for a in (from_addr, *to_addrs)):
            if not smtp.has_extn("smtputf8"):
                raise SendFailed(
                    "an address is not ASCII and the server lacks SMTPUTF8 (RFC 6531)",
                    step="send",
                    protocol=PROTOCOL,
                )
            options.append("SMTPUTF8")
        try:
            refused = smtp.sendmail(from_addr, list(to_addrs), data, mail_options=options)
        except smtplib.SMTPSenderRefused as exc:
            raise SendFailed(
                f"sender {from_addr!r} refused: {exc.smtp_code} {_reply(exc.smtp_error)}",
                smtp_code=exc.smtp_code,
                protocol=PROTOCOL,
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{a}: {c} {_reply(r)}" for a, (c, r) in exc.recipients.items())
            raise SendFailed(
                f"all recipients refused: {detail}",
                smtp_code=codes[0] if codes else None,
                protocol=PROTOCOL,
            ) from exc
        except smtplib.SMTPDataError as exc:
            raise SendFailed(
                f"message refused: {exc.smtp_code} {_reply(exc.smtp_error)}",
                smtp_code=exc.smtp_code,
                protocol=PROTOCOL,
            ) from exc
        except Exception as exc:
            self._smtp = None
            _safe_close(smtp)
            raise self._map(exc, "send", connected=True) from exc
        return {addr: (int(code), _reply(resp)) for addr, (code, resp) in refused.items()}


def _safe_close(smtp: smtplib.SMTP) -> None:
    """Close the socket without QUIT; errors are irrelevant at that point."""
    with contextlib.suppress(Exception):
        smtp.close()


__all__ = ["SMTPSession", "SMTPSettings"]
