"""What an IMAP session and an SMTP session share: settings, errors, TLS and the pin.

:class:`ServerSession` is the base of :class:`engine.imap.IMAPSession` and
:class:`engine.smtp.SMTPSession`. It holds the one definition of

* the context manager (``__enter__`` opens, ``__exit__`` closes),
* the secret scrubbing of error texts (password and access token become ``***``),
* the transport opening: TLS context (:func:`engine.tls.make_ssl_context`),
  connect (implicit TLS, :rfc:`8314`, or STARTTLS, :rfc:`3501#section-6.2.1` /
  :rfc:`3207`), an untrusted certificate reported with its fingerprint read by
  a second, unverified handshake, and the certificate pin
  (:func:`engine.tls.check_pin`).

A subclass supplies the protocol's own steps: ``PROTOCOL``, :meth:`_connect`
(TCP, greeting, TLS), :meth:`_socket_of`, :meth:`_drop` and :meth:`_map`.
"""

from __future__ import annotations

import ssl
from typing import Any, Self

from . import tls
from .errors import EngineError

#: The step names of opening a transport, by security mode.
OPEN_STEPS = {"ssl": "tls", "starttls": "starttls", "none": "connect"}


class ServerSession:
    """Base of the IMAP and SMTP sessions; use a subclass as a context manager.

    :ivar settings: the frozen settings dataclass (``host``, ``port``,
        ``security`` in ``ssl``/``starttls``/``none``, ``username``, ``password``,
        ``access_token``, ``timeout`` in seconds, ``allow_self_signed``,
        ``pinned_fingerprint``, ``cafile``, ``address``).
    :ivar server_fingerprint: SHA-256 hex of the server certificate, ``""``
        without TLS. With ``allow_self_signed`` and no pin, store it as the pin.
    """

    PROTOCOL = ""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.server_fingerprint = ""

    def __repr__(self) -> str:
        s = self.settings
        return f"<{type(self).__name__} {s.username or '-'}@{s.host}:{s.port} {s.security}>"

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def open(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- errors ----------------------------------------------------------------

    def _where(self) -> dict:
        """Keyword arguments naming the endpoint, for :mod:`engine.tls` errors."""
        return {"protocol": self.PROTOCOL, "host": self.settings.host,
                "port": self.settings.port}

    def _scrub(self, text: str | BaseException) -> str:
        """*text* (or ``str(exc)``) with the password and the access token replaced by ``***``."""
        text = str(text)
        for secret in (self.settings.password, self.settings.access_token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _map(self, exc: BaseException, step: str, *, connected: bool) -> EngineError:
        """Turn any exception raised while talking to the server into an engine error."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _open_error(self, exc: Exception, step: str) -> EngineError:
        """The engine error for a failure before the session is up (default: :meth:`_map`)."""
        return self._map(exc, step, connected=False)

    # -- transport ---------------------------------------------------------------

    def _connect(self, ctx: ssl.SSLContext | None) -> Any:
        """TCP connect, greeting and TLS (implicit or STARTTLS) with *ctx*; the connection."""
        raise NotImplementedError  # pragma: no cover - abstract

    @staticmethod
    def _socket_of(conn) -> ssl.SSLSocket:
        """The (TLS) socket of a connection returned by :meth:`_connect`."""
        raise NotImplementedError  # pragma: no cover - abstract

    @staticmethod
    def _drop(conn) -> None:
        """Close *conn* without a goodbye (LOGOUT/QUIT); never raises."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _probe_fingerprint(self) -> str:
        """Fingerprint of the certificate the server presents, read with an
        unverified handshake after verification failed; ``""`` on any error."""
        s = self.settings
        if s.security == "ssl":
            return tls.probe_fingerprint(s.host, s.port, min(s.timeout, 10.0), s.address)
        try:
            conn = self._connect(tls.make_probe_context())
        except Exception:  # noqa: BLE001 -- best effort, the real error is raised by the caller
            return ""
        try:
            return tls.peer_fingerprint(self._socket_of(conn))
        finally:
            self._drop(conn)

    def _open_transport(self):
        """Connect with verified TLS (or none), check the pin; the open connection.

        :raises CertificateUntrusted: verification failed (``fingerprint`` set
            when it could be read).
        :raises CertificateChanged: the certificate differs from the pin.
        :raises EngineError: what :meth:`_open_error` makes of any other failure
            (unknown host, refused, timeout, TLS failure, not that protocol).
        """
        s = self.settings
        ctx = None
        if s.security != "none":
            ctx = tls.make_ssl_context(allow_self_signed=s.allow_self_signed, cafile=s.cafile)
        try:
            conn = self._connect(ctx)
        except ssl.SSLCertVerificationError as exc:
            raise tls.untrusted_error(
                exc, fingerprint=self._probe_fingerprint(), **self._where()
            ) from None
        except EngineError:
            raise
        except Exception as exc:
            raise self._open_error(exc, OPEN_STEPS[s.security]) from exc
        if s.security != "none":
            try:
                self.server_fingerprint = tls.check_pin(
                    self._socket_of(conn), s.pinned_fingerprint, protocol=self.PROTOCOL
                )
            except BaseException:
                self._drop(conn)
                raise
        return conn


__all__ = ["OPEN_STEPS", "ServerSession"]
