"""TLS contexts, certificate pinning and network-error classification.

Shared by :mod:`engine.imap` and :mod:`engine.smtp`.

Trust model (DESIGN.md, point 7):

* by default the server certificate is verified against the system trust
  store (or ``cafile``) *and* the host name is checked
  (:func:`ssl.create_default_context`, :rfc:`6125`);
* "allow self-signed" does **not** switch checks off silently: the handshake
  accepts any certificate, then :func:`check_pin` compares the SHA-256
  fingerprint of the presented certificate with the one the user accepted.
  An empty pin means *trust on first use*: the session exposes
  ``server_fingerprint`` and the caller stores it as the pin.
"""

from __future__ import annotations

import hashlib
import socket
import ssl

from .errors import (
    CertificateChanged,
    CertificateUntrusted,
    ConnectFailed,
    ConnectionLost,
    ConnectionRefused,
    ConnectTimeout,
    EngineError,
    TLSFailed,
    UnknownHost,
)

#: OpenSSL ``X509_V_ERR_*`` codes (``ssl.SSLCertVerificationError.verify_code``)
#: mapped to a short reason understandable by a user.
_VERIFY_REASONS = {
    2: "the issuer certificate is unknown",
    9: "the certificate is not yet valid",
    10: "the certificate has expired",
    18: "the certificate is self-signed",
    19: "the certificate chain ends in a self-signed certificate that is not trusted",
    20: "the certificate issuer is not trusted (unknown certificate authority)",
    21: "the certificate chain is incomplete or its issuer is unknown",
    23: "the certificate has been revoked",
    62: "the certificate does not match the host name",
    64: "the certificate does not match the IP address",
}


def make_ssl_context(
    *, allow_self_signed: bool = False, cafile: str | None = None
) -> ssl.SSLContext:
    """Build the client TLS context for IMAP or SMTP.

    :param allow_self_signed: when false (the default) the context verifies the
        certificate chain and the host name (:func:`ssl.create_default_context`).
        When true, the handshake accepts any certificate (no chain, no host name
        check) because trust comes from pinning the SHA-256 fingerprint afterwards
        with :func:`check_pin`.
    :param cafile: optional PEM file of extra trusted certificates (e.g. a
        private CA, or the test server's self-signed certificate).
    :returns: a fresh :class:`ssl.SSLContext`, minimum TLS 1.2.
    """
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if allow_self_signed:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def make_probe_context() -> ssl.SSLContext:
    """Context that accepts any certificate, used only to *read* a certificate
    fingerprint after verification failed (never to exchange data).
    """
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def open_tcp(host: str, port: int, timeout: float | None, address: str = "") -> socket.socket:
    """TCP connection to *address* when given (an IP already vetted by
    :func:`engine.discovery.check_host_safe`), else to *host*.

    Connecting to the vetted address, not the name, means no second DNS lookup can
    return another address (DNS rebinding); callers keep *host* for TLS SNI and
    certificate verification.

    :param timeout: seconds for the connect (``None``: the socket default).
    :raises OSError: the connection failed (``socket.gaierror`` for an unknown name).
    """
    return socket.create_connection((address or host, port), timeout=timeout)


def probe_fingerprint(host: str, port: int, timeout: float, address: str = "") -> str:
    """Fingerprint of the certificate an implicit-TLS server presents.

    Opens a TCP connection, runs an unverified handshake (:func:`make_probe_context`)
    and closes it without sending any data. Used to fill
    :attr:`CertificateUntrusted.fingerprint` after verification failed.

    :param timeout: seconds for the connect and the handshake.
    :param address: vetted IP address to connect to (see :func:`open_tcp`).
    :returns: lowercase hex SHA-256, or ``""`` on any error.
    """
    try:
        with (
            open_tcp(host, port, timeout, address) as raw,
            make_probe_context().wrap_socket(raw, server_hostname=host) as sslsock,
        ):
            return peer_fingerprint(sslsock)
    except (OSError, ValueError):
        return ""


def der_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate: lowercase hex, no colons (64 characters)."""
    return hashlib.sha256(der).hexdigest()


def peer_fingerprint(sslsock: ssl.SSLSocket | socket.socket | None) -> str:
    """SHA-256 fingerprint of the certificate presented by the peer of ``sslsock``.

    :param sslsock: a connected :class:`ssl.SSLSocket`; any other object
        (plain socket, ``None``) gives ``""``.
    :returns: lowercase hex without colons, or ``""`` when not TLS or when the
        peer sent no certificate.
    """
    if not isinstance(sslsock, ssl.SSLSocket):
        return ""
    der = sslsock.getpeercert(binary_form=True)
    return der_fingerprint(der) if der else ""


def normalize_fingerprint(value: str) -> str:
    """Accept ``AB:CD:...`` or ``abcd...`` and return lowercase hex without colons."""
    return (value or "").replace(":", "").replace(" ", "").strip().lower()


def check_pin(sslsock: ssl.SSLSocket, pinned: str, *, protocol: str = "") -> str:
    """Compare the peer certificate with the pinned fingerprint.

    :param sslsock: the connected TLS socket.
    :param pinned: SHA-256 hex fingerprint accepted earlier by the user (colons
        and case ignored); ``""`` means no pin (trust on first use).
    :returns: the fingerprint actually presented.
    :raises CertificateChanged: a pin is set and differs from the presented
        certificate.
    """
    actual = peer_fingerprint(sslsock)
    pinned = normalize_fingerprint(pinned)
    if pinned and actual != pinned:
        raise CertificateChanged(
            f"server certificate changed: pinned SHA-256 {pinned}, presented {actual or 'none'}",
            step="tls",
            protocol=protocol,
        )
    return actual


def describe_verify_error(exc: ssl.SSLCertVerificationError) -> str:
    """Short human reason for a failed certificate verification."""
    code = getattr(exc, "verify_code", None)
    reason = _VERIFY_REASONS.get(code)
    detail = getattr(exc, "verify_message", "") or str(exc)
    if reason:
        return f"{reason} ({detail})"
    return detail


def untrusted_error(
    exc: ssl.SSLCertVerificationError, *, fingerprint: str, protocol: str, host: str, port: int
) -> CertificateUntrusted:
    """Build the :class:`CertificateUntrusted` for a failed verification."""
    return CertificateUntrusted(
        f"TLS certificate of {host}:{port} is not trusted: {describe_verify_error(exc)}",
        fingerprint=fingerprint,
        step="tls",
        protocol=protocol,
    )


def classify_network_error(
    exc: BaseException, *, protocol: str, step: str, host: str, port: int, connected: bool
) -> EngineError | None:
    """Map a low-level network exception to the engine hierarchy.

    :param exc: the exception raised by the socket / ssl / protocol library.
    :param step: protocol step in progress (``"connect"``, ``"tls"``, ``"fetch"``...).
    :param connected: false while the connection is being set up (greeting,
        TLS, login): a timeout then is a :class:`ConnectTimeout`; true once the
        session is established: a timeout or reset is a :class:`ConnectionLost`.
    :returns: the engine error to raise (``raise err from exc``), or ``None``
        when ``exc`` is not a network error (the caller re-raises or maps it).

    Certificate verification errors are not handled here (see
    :func:`untrusted_error`, which needs a fingerprint).
    """
    where = f"{host}:{port}"
    if isinstance(exc, socket.gaierror):
        return UnknownHost(
            f"host name {host!r} does not resolve: {exc}", step="dns", protocol=protocol
        )
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefused(
            f"connection to {where} refused (nothing listens on that port)",
            step="connect",
            protocol=protocol,
        )
    if isinstance(exc, (socket.timeout, TimeoutError)):
        if connected:
            return ConnectionLost(
                f"no answer from {where} during {step}: timed out", step=step, protocol=protocol
            )
        return ConnectTimeout(
            f"no answer from {where} during {step}: timed out", step=step, protocol=protocol
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return None
    if isinstance(exc, ssl.SSLError):
        if connected and step not in ("tls", "starttls"):
            return ConnectionLost(
                f"TLS error with {where} during {step}: {exc}", step=step, protocol=protocol
            )
        return TLSFailed(
            f"TLS handshake with {where} failed ({exc.reason or exc}); "
            "check the security mode (SSL/TLS vs STARTTLS vs none) and the port",
            step="tls",
            protocol=protocol,
        )
    if isinstance(exc, OSError):
        msg = exc.strerror or str(exc) or type(exc).__name__
        if (
            isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError))
            or connected
        ):
            return ConnectionLost(
                f"connection to {where} lost during {step}: {msg}", step=step, protocol=protocol
            )
        # Unreachable network, no route, ...: the server could not be reached.
        return ConnectFailed(f"cannot reach {where} ({msg})", step=step, protocol=protocol)
    return None
