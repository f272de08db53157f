"""One exception hierarchy for the engine.

Each leaf matches a recovery action taken by the model layer (see DESIGN.md):

* :class:`ConnectFailed` (and its leaves): retry on the next run;
* :class:`TLSFailed`: show the TLS fix, offer "allow self-signed" only on request;
* :class:`AuthenticationFailed`: pause the account and tell its owner;
* :class:`CapabilityMissing`: take the documented fallback;
* :class:`FolderGone`: end that folder, mark it, go on with the others;
* :class:`MalformedMessage`: store the raw bytes with a warning, never block;
* :class:`HeaderInjection`: refuse to build a message.

Messages are technical and untranslated; the model layer translates by class.
Every error carries ``step``: the protocol step that failed (``"dns"``,
``"connect"``, ``"tls"``, ``"login"``, ``"select"``, ``"fetch"``, ``"send"``...).
"""


class EngineError(Exception):
    """Base class of every error raised by :mod:`engine`.

    :ivar step: short name of the protocol step that failed.
    :ivar protocol: ``"imap"``, ``"smtp"``, ``"http"``, ``"dns"`` or ``""``.
    """

    step = ""

    def __init__(self, message="", *, step=None, protocol=""):
        super().__init__(message)
        if step is not None:
            self.step = step
        self.protocol = protocol


class ConnectFailed(EngineError):
    """The server could not be reached (DNS, refused, timeout, dropped)."""

    step = "connect"


class Throttled(ConnectFailed):
    """The server asked to come back later: IMAP ``[THROTTLED]`` / ``[UNAVAILABLE]`` /
    ``[INUSE]`` / ``[LIMIT]`` response codes (RFC 5530; ``THROTTLED`` is Microsoft 365's),
    SMTP 421 / 454 (RFC 5321 section 4.2.3). Back off; never a credentials problem."""


class MailboxBusy(Throttled):
    """Every connection slot of the mailbox is taken: the caller's own cap on
    simultaneous connections per mailbox (kept below the provider's: Gmail 15,
    Microsoft 365 20 IMAP connections per mailbox), not the server's answer.

    :ivar limit: the cap (int, connections).
    """

    def __init__(self, message="", *, limit=0, **kw):
        super().__init__(message, **kw)
        self.limit = limit


class UnknownHost(ConnectFailed):
    """The host name does not resolve (DNS NXDOMAIN or no address)."""

    step = "dns"


class ConnectionRefused(ConnectFailed):
    """Nothing listens on that host and port (TCP RST)."""


class ConnectTimeout(ConnectFailed):
    """No answer within the timeout (firewall, wrong port, slow server)."""


class ConnectionLost(ConnectFailed):
    """An established connection was dropped (server restart, network)."""


class TLSFailed(EngineError):
    """The TLS handshake failed: wrong security mode for the port, bad protocol."""

    step = "tls"


class CertificateUntrusted(TLSFailed):
    """The server certificate is not trusted (self-signed, expired, wrong host name).

    :ivar fingerprint: SHA-256 hex fingerprint of the certificate the server
        presented, or ``""`` when it could not be read. The user may choose to
        pin it ("allow self-signed certificate").
    """

    def __init__(self, message="", *, fingerprint="", **kw):
        super().__init__(message, **kw)
        self.fingerprint = fingerprint


class CertificateChanged(TLSFailed):
    """The server presented a certificate other than the pinned one."""


class AuthenticationFailed(EngineError):
    """The server rejected the credentials (password, revoked or expired token).

    :ivar hint: code of a provider-specific fix when one is known (e.g.
        ``"app_password_required"``; see :func:`engine.oauth.server_auth_fix_code`;
        the addon words it in the user's language) (e.g. app password
        required), else ``""``.
    """

    step = "login"

    def __init__(self, message="", *, hint="", **kw):
        super().__init__(message, **kw)
        self.hint = hint


class CapabilityMissing(EngineError):
    """The server lacks a capability the caller required (e.g. ``MOVE``)."""


class ProtocolFailed(EngineError):
    """The server answered NO/BAD to a command that is not a login."""


class FolderGone(EngineError):
    """The folder no longer exists on the server."""

    step = "select"


class MalformedMessage(EngineError):
    """A message could not be parsed; it is kept raw, never dropped."""

    step = "parse"


class HeaderInjection(EngineError, ValueError):
    """A header value contains CR, LF or NUL, or an ill-formed Message-ID."""

    step = "build"


class SendFailed(EngineError):
    """The SMTP server refused the message or its recipients.

    :ivar smtp_code: SMTP reply code (int) or ``None``.
    """

    step = "send"

    def __init__(self, message="", *, smtp_code=None, **kw):
        super().__init__(message, **kw)
        self.smtp_code = smtp_code


class MessageTooLarge(SendFailed):
    """The message is larger than the SMTP server's advertised ``SIZE`` (:rfc:`1870`
    section 4): refused before ``MAIL FROM``, so nothing was sent.

    :ivar size: the message size in bytes (CRLF line endings, as it would be sent).
    :ivar limit: the server's maximum in bytes.
    :ivar over: ``size - limit`` in bytes.
    """

    def __init__(self, message="", *, size=0, limit=0, **kw):
        super().__init__(message, smtp_code=552, **kw)
        self.size = size
        self.limit = limit
        self.over = size - limit


class OAuthError(EngineError):
    """The OAuth authorization server refused a request.

    :ivar error: the OAuth ``error`` code (:rfc:`6749#section-5.2`), e.g.
        ``"invalid_grant"``.
    :ivar description: the server's ``error_description``.
    """

    step = "oauth"

    def __init__(self, message="", *, error="", description="", **kw):
        super().__init__(message, **kw)
        self.error = error
        self.description = description


class DiscoveryFailed(EngineError):
    """No source could tell the mail settings for an address."""

    step = "discover"


class UnsafeHost(EngineError):
    """A host from an untrusted source resolves to a loopback, private,
    link-local or metadata address, or uses an unusual port."""

    step = "discover"
