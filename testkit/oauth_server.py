"""A real local OAuth 2.0 authorization server, for tests.

:class:`OAuthTestServer` runs a threaded :mod:`http.server` on a free loopback
port (HTTPS by default, with a self-signed certificate made by the ``openssl``
CLI) and serves two surfaces at once:

* a **Google-like** one: ``/o/oauth2/v2/auth`` (alias ``/authorize``),
  ``/token``, ``/revoke``, ``/.well-known/openid-configuration``;
* a **Microsoft-like** one, as fetched by ``msal``:
  ``/<tenant>/v2.0/.well-known/openid-configuration``,
  ``/<tenant>/oauth2/v2.0/authorize``, ``/<tenant>/oauth2/v2.0/token``;

plus ``/introspect`` (:rfc:`7662`), which Dovecot's ``oauth2`` passdb calls
(``introspection_mode = post``; ``auth`` and ``get`` modes also work).

Behaviour follows the standards the client code relies on:

* authorization code grant (:rfc:`6749#section-4.1`) with PKCE S256 required
  (:rfc:`7636`), one-time codes of 60 s bound to client and ``redirect_uri``;
* refresh token grant (:rfc:`6749#section-6`) with **rotation**: each refresh
  returns a new refresh token and invalidates the old one (as Microsoft does);
* errors as :rfc:`6749#section-5.2` JSON; on the Microsoft surface the
  ``error_description`` starts with the ``AADSTS`` code Entra ID would send;
* revocation (:rfc:`7009`) revokes every token of the grant;
* the Microsoft surface only issues a refresh token when ``offline_access``
  was granted, the Google one only with ``access_type=offline``.

The module is Odoo-free and pytest-free; tokens are random strings, and id
tokens are HS256 JWTs signed with the client secret (``msal`` and
:mod:`engine.oauth` only decode them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

__all__ = ["OAuthTestServer", "make_self_signed_cert"]

_PKCE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_MS_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/(authorize|token|logout)$")
_MS_OIDC_PATH = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$")
CODE_LIFETIME = 60.0  # seconds


def make_self_signed_cert(directory: str, host: str = "127.0.0.1") -> tuple[str, str]:
    """Create a self-signed certificate and key with the ``openssl`` CLI.

    :param directory: existing directory to write ``cert.pem`` / ``key.pem`` into.
    :param host: IP address put in the subjectAltName (``DNS:localhost`` is
        always added).
    :returns: ``(certfile, keyfile)`` paths; the certificate also serves as the
        CA bundle to trust (``verify=certfile`` in :mod:`requests`).
    :raises subprocess.CalledProcessError: when ``openssl`` fails.
    """
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
            "-addext", f"subjectAltName=DNS:localhost,IP:{host}",
        ],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _jwt_hs256(claims: dict, key: str) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    sig = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(sig)}"


@dataclass
class _Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()  # empty: any redirect_uri accepted


@dataclass
class _Grant:
    grant_id: str
    client_id: str
    email: str
    scope: str
    flavor: str  # "google" or "microsoft"
    tenant: str
    revoked: bool = False


@dataclass
class _Code:
    grant: _Grant
    redirect_uri: str
    code_challenge: str
    nonce: str
    offline: bool
    expires_at: float
    used: bool = False


@dataclass
class _Token:
    grant: _Grant
    expires_at: float  # epoch seconds; refresh tokens: float("inf")
    active: bool = True


@dataclass
class _TokenError:
    error: str
    description: str
    status: int = 400


@dataclass
class Counters:
    """Request counters of an :class:`OAuthTestServer` (all ``int``)."""

    authorize: int = 0
    token: int = 0  # every POST to a token endpoint
    code: int = 0  # authorization_code grants
    refresh: int = 0  # refresh_token grants
    revoke: int = 0
    introspect: int = 0
    discovery: int = 0
    errors: list = field(default_factory=list)  # error codes returned, in order


class OAuthTestServer:
    """A local OAuth 2.0 / OpenID Connect authorization server.

    Use as a context manager (or call :meth:`start` / :meth:`stop`)::

        with OAuthTestServer() as server:
            cfg = google_config(server.client_id, server.client_secret,
                                **server.google_endpoints(), verify=server.cafile)

    :param client_id: the registered client (more with :meth:`add_client`).
    :param client_secret: its secret.
    :param redirect_uris: allowed redirect URIs; empty accepts any.
    :param login_email: the user who "signs in" at ``/authorize``; settable
        at any time through :attr:`login_email`.
    :param access_token_lifetime: seconds; also settable later.
    :param tls: serve HTTPS (needed by ``msal``) with a generated certificate,
        or plain HTTP (e.g. for Dovecot's introspection).
    :param certfile: PEM certificate to use instead of a generated one.
    :param keyfile: its PEM key.
    :param tenant_id: the GUID put in Microsoft id tokens (``tid``).

    :ivar base_url: ``https://127.0.0.1:<port>`` (``http://`` without TLS).
    :ivar cafile: certificate to trust (``verify=`` for requests), or ``None``.
    :ivar authorize_error: when set (e.g. ``"access_denied"``), ``/authorize``
        redirects back with that error instead of a code.
    :ivar rotate_refresh_tokens: rotate refresh tokens on each refresh
        (default ``True``); when ``False`` the refresh response carries no
        ``refresh_token`` (Google's behaviour) and the old one stays valid.
    :ivar counters: :class:`Counters`.
    """

    def __init__(
        self,
        *,
        client_id: str = "crm-inbox-test-client",
        client_secret: str = "crm-inbox-test-secret",
        redirect_uris: tuple[str, ...] | list[str] = (),
        login_email: str = "user@example.com",
        access_token_lifetime: float = 3600.0,
        tls: bool = True,
        certfile: str | None = None,
        keyfile: str | None = None,
        tenant_id: str = "9188040d-6c67-4c5b-b112-36a304b66dad",
        host: str = "127.0.0.1",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.login_email = login_email
        self.access_token_lifetime = float(access_token_lifetime)
        self.tls = tls
        self.host = host
        self.tenant_id = tenant_id
        self.authorize_error = ""
        self.rotate_refresh_tokens = True
        self.counters = Counters()
        self._lock = threading.RLock()
        self._clients: dict[str, _Client] = {}
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
        self._grants: dict[str, _Grant] = {}
        self._token_errors: list[_TokenError] = []
        self._certfile = certfile
        self._keyfile = keyfile
        self._tmpdir: str | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.cafile: str | None = None
        self.port = 0
        self.base_url = ""
        self.add_client(client_id, client_secret, redirect_uris)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> OAuthTestServer:
        """Bind a free port on :attr:`host` and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"oauth_server": self})
        httpd = _QuietHTTPServer((self.host, 0), handler)
        scheme = "http"
        if self.tls:
            if not self._certfile:
                self._tmpdir = tempfile.mkdtemp(prefix="oauth-test-")
                self._certfile, self._keyfile = make_self_signed_cert(self._tmpdir, self.host)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self._certfile, self._keyfile)
            # Handshake in the handler thread, so a stuck client cannot block accept().
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True,
                                           do_handshake_on_connect=False)
            self.cafile = self._certfile
            scheme = "https"
        self.port = httpd.server_address[1]
        self.base_url = f"{scheme}://{self.host}:{self.port}"
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"oauth-test-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and delete the generated certificate."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- URLs --------------------------------------------------------------

    def google_endpoints(self) -> dict[str, str]:
        """Keyword arguments for :func:`engine.oauth.google_config`:
        ``auth_endpoint``, ``token_endpoint``, ``revoke_endpoint``."""
        return {
            "auth_endpoint": f"{self.base_url}/o/oauth2/v2/auth",
            "token_endpoint": f"{self.base_url}/token",
            "revoke_endpoint": f"{self.base_url}/revoke",
        }

    @property
    def introspection_url(self) -> str:
        """URL of the :rfc:`7662` introspection endpoint."""
        return f"{self.base_url}/introspect"

    def microsoft_authority(self, tenant: str = "common") -> str:
        """The ``authority`` for ``msal``: ``<base_url>/<tenant>``."""
        return f"{self.base_url}/{tenant}"

    # -- administration helpers -------------------------------------------

    def add_client(self, client_id: str, client_secret: str,
                   redirect_uris: tuple[str, ...] | list[str] = ()) -> None:
        """Register (or replace) a client."""
        with self._lock:
            self._clients[client_id] = _Client(client_id, client_secret, tuple(redirect_uris))

    def fail_next_token(self, error: str, description: str = "", status: int = 400) -> None:
        """Answer the next token request with this :rfc:`6749#section-5.2` error
        (e.g. ``"invalid_grant"``, ``"AADSTS50076: ... multi-factor ..."``)."""
        with self._lock:
            self._token_errors.append(_TokenError(error, description, status))

    def revoke_all(self, email: str) -> int:
        """Revoke every grant of ``email`` (like a password change).

        :returns: the number of grants revoked.
        """
        n = 0
        with self._lock:
            for grant in self._grants.values():
                if grant.email.lower() == email.lower() and not grant.revoked:
                    grant.revoked = True
                    n += 1
        return n

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired."""
        now = time.time()
        with self._lock:
            for tok in self._access.values():
                tok.expires_at = min(tok.expires_at, now - 1)

    def is_valid(self, access_token: str) -> str | None:
        """The email the access token was issued for, or ``None`` when the
        token is unknown, expired or revoked."""
        with self._lock:
            tok = self._access.get(access_token)
            if tok is None or not tok.active or tok.grant.revoked:
                return None
            if tok.expires_at <= time.time():
                return None
            return tok.grant.email

    def validator(self, username: str, token: str) -> bool:
        """XOAUTH2 check for a test SMTP/IMAP server: is ``token`` a live access
        token issued to ``username`` (case-insensitive)?"""
        email = self.is_valid(token)
        return email is not None and email.lower() == (username or "").lower()

    def is_refresh_token_valid(self, refresh_token: str) -> bool:
        """Whether the refresh token would be accepted now."""
        with self._lock:
            tok = self._refresh.get(refresh_token)
            return bool(tok and tok.active and not tok.grant.revoked)

    def issue_tokens(self, email: str, scope: str = "https://mail.google.com/ openid email",
                     flavor: str = "google") -> dict:
        """Mint a grant directly (no browser step), for tests of other modules.

        :returns: the token response dict (``access_token``, ``refresh_token``,
            ``expires_in`` in seconds, ``scope``, ``token_type``).
        """
        with self._lock:
            grant = self._new_grant(self.client_id, email, scope, flavor, "common")
            return self._token_response(grant, nonce="", offline=True)

    # -- internals (called from handler threads, under the lock) -----------

    def _new_grant(self, client_id, email, scope, flavor, tenant) -> _Grant:
        grant = _Grant(secrets.token_hex(8), client_id, email, scope, flavor, tenant)
        self._grants[grant.grant_id] = grant
        return grant

    def _id_token(self, grant: _Grant, nonce: str) -> str:
        now = int(time.time())
        sub = hashlib.sha256(f"{grant.email}|{grant.client_id}".encode()).hexdigest()[:24]
        claims = {"aud": grant.client_id, "sub": sub, "iat": now, "nbf": now,
                  "exp": now + 3600}
        if grant.flavor == "microsoft":
            claims.update({
                "iss": f"{self.base_url}/{self.tenant_id}/v2.0",
                "tid": self.tenant_id,
                "oid": self._oid(grant.email),
                "preferred_username": grant.email,
                "name": grant.email.split("@")[0],
                "ver": "2.0",
            })
        else:
            claims.update({"iss": self.base_url, "email": grant.email,
                           "email_verified": True, "azp": grant.client_id})
        if nonce:
            claims["nonce"] = nonce
        client = self._clients.get(grant.client_id)
        return _jwt_hs256(claims, client.client_secret if client else "x")

    @staticmethod
    def _oid(email: str) -> str:
        h = hashlib.sha256(email.lower().encode()).hexdigest()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def _token_response(self, grant: _Grant, nonce: str, offline: bool,
                        client_info: bool = False) -> dict:
        now = time.time()
        access = "at_" + secrets.token_urlsafe(32)
        self._access[access] = _Token(grant, now + self.access_token_lifetime)
        body = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": int(self.access_token_lifetime),
            "scope": grant.scope,
        }
        if grant.flavor == "microsoft":
            body["ext_expires_in"] = int(self.access_token_lifetime)
        if offline:
            refresh = "rt_" + secrets.token_urlsafe(32)
            self._refresh[refresh] = _Token(grant, float("inf"))
            body["refresh_token"] = refresh
        if "openid" in grant.scope.split():
            body["id_token"] = self._id_token(grant, nonce)
        if client_info and grant.flavor == "microsoft":
            body["client_info"] = _b64url(json.dumps(
                {"uid": self._oid(grant.email), "utid": self.tenant_id}).encode())
        return body


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Drop client-side failures (refused certificate, reset) silently;
        anything else is a bug of the test server and is printed."""
        import sys
        import traceback

        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, TimeoutError)):
            return
        traceback.print_exc()


class _OAuthHTTPError(Exception):
    def __init__(self, status: int, error: str, description: str = "", headers=None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}


_MS_DESCRIPTIONS = {
    "invalid_client": "AADSTS7000215: Invalid client secret provided. Ensure the secret being "
                      "sent in the request is the client secret value, not the client secret ID.",
    "unknown_client": "AADSTS700016: Application with identifier was not found in the directory.",
    "expired_code": "AADSTS70008: The provided authorization code or refresh token has expired "
                    "due to inactivity. Send a new interactive authorization request for this "
                    "user and resource.",
    "used_code": "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry "
                 "with a new valid code or use an existing refresh token.",
    "revoked": "AADSTS50173: The provided grant has expired due to it being revoked, a fresh "
               "auth token is needed. The user might have changed or reset their password.",
    "bad_refresh": "AADSTS9002313: Invalid request. Request is malformed or invalid.",
    "pkce": "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the "
            "authorization request.",
    "redirect": "AADSTS50148: The redirect_uri does not match the one in the authorization "
                "request.",
    "scope": "AADSTS70011: The provided request must include a 'scope' input parameter that "
             "is a subset of the granted scopes.",
}
_GOOGLE_DESCRIPTIONS = {
    "invalid_client": "Unauthorized",
    "unknown_client": "The OAuth client was not found.",
    "expired_code": "Bad Request",
    "used_code": "Bad Request",
    "revoked": "Token has been expired or revoked.",
    "bad_refresh": "Bad Request",
    "pkce": "Invalid code verifier.",
    "redirect": "Bad Request",
    "scope": "Bad Request",
}


class _Handler(BaseHTTPRequestHandler):
    oauth_server: OAuthTestServer  # set on the per-server subclass
    server_version = "OAuthTestServer/1.0"
    timeout = 10  # seconds of socket inactivity before the handler gives up

    def log_message(self, format, *args):
        pass

    # -- plumbing ----------------------------------------------------------

    def _send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, url: str) -> None:
        self.send_response(302)
        self.send_header("Location", url)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/json" and raw:
            try:
                return {k: str(v) for k, v in json.loads(raw).items()}
            except (ValueError, AttributeError):
                return {}
        return dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))

    def _route(self) -> tuple[str, str, str]:
        """(endpoint, flavor, tenant) for the request path."""
        path = urllib.parse.urlsplit(self.path).path
        m = _MS_OIDC_PATH.match(path)
        if m:
            return "ms-discovery", "microsoft", m.group(1)
        m = _MS_TOKEN_PATH.match(path)
        if m:
            return m.group(2), "microsoft", m.group(1)
        endpoint = {
            "/o/oauth2/v2/auth": "authorize",
            "/authorize": "authorize",
            "/token": "token",
            "/revoke": "revoke",
            "/introspect": "introspect",
            "/.well-known/openid-configuration": "discovery",
        }.get(path, "")
        return endpoint, "google", ""

    # -- verbs -------------------------------------------------------------

    def do_GET(self) -> None:
        endpoint, flavor, tenant = self._route()
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query,
                                            keep_blank_values=True))
        if endpoint == "authorize":
            self._authorize(query, flavor, tenant)
        elif endpoint == "ms-discovery":
            self._ms_discovery(tenant)
        elif endpoint == "discovery":
            self._google_discovery()
        elif endpoint == "introspect":
            token = query.get("token", "")
            auth = self.headers.get("Authorization", "")
            if auth[:7].lower() == "bearer ":
                token = auth[7:].strip()
            self._introspect(token)
        else:
            self._send_text(404, "not found")

    def do_POST(self) -> None:
        endpoint, flavor, tenant = self._route()
        form = self._form()
        try:
            if endpoint == "token":
                self._token(form, flavor, tenant)
            elif endpoint == "revoke":
                self._revoke(form)
            elif endpoint == "introspect":
                token = form.get("token", "")
                auth = self.headers.get("Authorization", "")
                if not token and auth[:7].lower() == "bearer ":
                    token = auth[7:].strip()
                self._introspect(token)
            else:
                self._send_text(404, "not found")
        except _OAuthHTTPError as exc:
            with self.oauth_server._lock:
                self.oauth_server.counters.errors.append(exc.error)
            body = {"error": exc.error}
            if exc.description:
                body["error_description"] = exc.description
            if flavor == "microsoft":
                m = re.match(r"AADSTS(\d+)", exc.description)
                if m:
                    body["error_codes"] = [int(m.group(1))]
            self._send_json(exc.status, body, exc.headers)

    # -- endpoints ---------------------------------------------------------

    def _ms_discovery(self, tenant: str) -> None:
        srv = self.oauth_server
        with srv._lock:
            srv.counters.discovery += 1
        base = f"{srv.base_url}/{tenant}"
        self._send_json(200, {
            "issuer": f"{srv.base_url}/{srv.tenant_id}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["HS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                      "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "tenant_region_scope": "WW",
        })

    def _google_discovery(self) -> None:
        srv = self.oauth_server
        with srv._lock:
            srv.counters.discovery += 1
        ep = srv.google_endpoints()
        self._send_json(200, {
            "issuer": srv.base_url,
            "authorization_endpoint": ep["auth_endpoint"],
            "token_endpoint": ep["token_endpoint"],
            "revocation_endpoint": ep["revoke_endpoint"],
            "introspection_endpoint": srv.introspection_url,
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        })

    def _authorize(self, q: dict[str, str], flavor: str, tenant: str) -> None:
        srv = self.oauth_server
        with srv._lock:
            srv.counters.authorize += 1
            client = srv._clients.get(q.get("client_id", ""))
            redirect_uri = q.get("redirect_uri", "")
            # RFC 6749 §4.1.2.1: never redirect to an unverified redirect_uri.
            if client is None:
                self._send_text(400, "invalid_client: unknown client_id")
                return
            if not redirect_uri or (client.redirect_uris
                                    and redirect_uri not in client.redirect_uris):
                self._send_text(400, "redirect_uri_mismatch")
                return
            state = q.get("state", "")

            def back(**params: str) -> None:
                if state:
                    params["state"] = state
                sep = "&" if "?" in redirect_uri else "?"
                self._redirect(redirect_uri + sep + urllib.parse.urlencode(params))

            if q.get("response_type") != "code":
                back(error="unsupported_response_type")
                return
            challenge = q.get("code_challenge", "")
            if not challenge or q.get("code_challenge_method") != "S256":
                back(error="invalid_request",
                     error_description="PKCE with code_challenge_method=S256 is required")
                return
            if srv.authorize_error:
                back(error=srv.authorize_error,
                     error_description="The user or administrator has declined the request.")
                return
            scope = " ".join(dict.fromkeys(q.get("scope", "").split()))
            if flavor == "microsoft":
                offline = "offline_access" in scope.split()
            else:
                offline = q.get("access_type") == "offline"
            grant = srv._new_grant(client.client_id, srv.login_email, scope, flavor, tenant)
            code = "code_" + secrets.token_urlsafe(24)
            srv._codes[code] = _Code(grant, redirect_uri, challenge, q.get("nonce", ""),
                                     offline, time.time() + CODE_LIFETIME)
        back(code=code)

    def _client_auth(self, form: dict[str, str], flavor: str) -> _Client:
        """RFC 6749 §2.3.1: client_secret_basic or client_secret_post."""
        srv = self.oauth_server
        descr = _MS_DESCRIPTIONS if flavor == "microsoft" else _GOOGLE_DESCRIPTIONS
        client_id, secret, basic = form.get("client_id", ""), form.get("client_secret"), False
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(auth[6:].strip()).decode()
                cid, _, sec = raw.partition(":")
                client_id = urllib.parse.unquote_plus(cid)
                secret = urllib.parse.unquote_plus(sec)
                basic = True
            except (ValueError, UnicodeDecodeError):  # pylint: disable=except-pass
                pass
        client = srv._clients.get(client_id)
        headers = {"WWW-Authenticate": 'Basic realm="oauth"'} if basic else None
        if client is None:
            raise _OAuthHTTPError(401, "invalid_client", descr["unknown_client"], headers)
        if secret is None or not hmac.compare_digest(secret.encode(),
                                                     client.client_secret.encode()):
            raise _OAuthHTTPError(401, "invalid_client", descr["invalid_client"], headers)
        return client

    def _token(self, form: dict[str, str], flavor: str, tenant: str) -> None:
        srv = self.oauth_server
        descr = _MS_DESCRIPTIONS if flavor == "microsoft" else _GOOGLE_DESCRIPTIONS
        with srv._lock:
            srv.counters.token += 1
            grant_type = form.get("grant_type", "")
            if grant_type == "refresh_token":
                srv.counters.refresh += 1
            elif grant_type == "authorization_code":
                srv.counters.code += 1
            if srv._token_errors:
                err = srv._token_errors.pop(0)
                raise _OAuthHTTPError(err.status, err.error, err.description)
            client = self._client_auth(form, flavor)
            want_client_info = form.get("client_info") == "1"
            if grant_type == "authorization_code":
                body = self._grant_code(form, client, descr, want_client_info)
            elif grant_type == "refresh_token":
                body = self._grant_refresh(form, client, descr, want_client_info)
            else:
                raise _OAuthHTTPError(400, "unsupported_grant_type", "")
        self._send_json(200, body)

    def _grant_code(self, form, client, descr, client_info) -> dict:
        srv = self.oauth_server
        code = srv._codes.get(form.get("code", ""))
        if code is None or code.grant.client_id != client.client_id:
            raise _OAuthHTTPError(400, "invalid_grant", descr["expired_code"])
        if code.used:
            # RFC 6749 §4.1.2: a reused code SHOULD revoke the tokens it produced.
            code.grant.revoked = True
            raise _OAuthHTTPError(400, "invalid_grant", descr["used_code"])
        code.used = True
        if code.expires_at <= time.time():
            raise _OAuthHTTPError(400, "invalid_grant", descr["expired_code"])
        if form.get("redirect_uri", "") != code.redirect_uri:
            raise _OAuthHTTPError(400, "invalid_grant", descr["redirect"])
        verifier = form.get("code_verifier", "")
        # RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge
        expected = _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        if not _PKCE_VERIFIER.match(verifier) or not hmac.compare_digest(
                expected.encode(), code.code_challenge.encode()):
            raise _OAuthHTTPError(400, "invalid_grant", descr["pkce"])
        return srv._token_response(code.grant, code.nonce, code.offline, client_info)

    def _grant_refresh(self, form, client, descr, client_info) -> dict:
        srv = self.oauth_server
        tok = srv._refresh.get(form.get("refresh_token", ""))
        if tok is None or tok.grant.client_id != client.client_id:
            raise _OAuthHTTPError(400, "invalid_grant", descr["bad_refresh"])
        if not tok.active or tok.grant.revoked:
            raise _OAuthHTTPError(400, "invalid_grant", descr["revoked"])
        grant = tok.grant
        requested = form.get("scope", "").split()
        if requested and not set(requested) <= set(grant.scope.split()):
            raise _OAuthHTTPError(400, "invalid_scope", descr["scope"])
        if srv.rotate_refresh_tokens:
            tok.active = False
            return srv._token_response(grant, "", True, client_info)
        return srv._token_response(grant, "", False, client_info)

    def _revoke(self, form: dict[str, str]) -> None:
        """RFC 7009 §2: revoke the token and every token of its grant.

        Client authentication is optional here, as at Google; an unknown
        token still gets HTTP 200 (§2.2)."""
        srv = self.oauth_server
        with srv._lock:
            srv.counters.revoke += 1
            if "client_secret" in form or self.headers.get("Authorization"):
                self._client_auth(form, "google")
            token = form.get("token", "")
            if not token:
                raise _OAuthHTTPError(400, "invalid_request", "token is required")
            tok = srv._refresh.get(token) or srv._access.get(token)
            if tok is not None:
                tok.grant.revoked = True
        self._send_json(200, {})

    def _introspect(self, token: str) -> None:
        """RFC 7662 §2.2 response; ``active`` false for unknown, expired or
        revoked tokens. Refresh tokens are reported too (without ``exp``)."""
        srv = self.oauth_server
        with srv._lock:
            srv.counters.introspect += 1
            tok = srv._access.get(token)
            kind = "access_token"
            if tok is None:
                tok, kind = srv._refresh.get(token), "refresh_token"
            if (tok is None or not tok.active or tok.grant.revoked
                    or tok.expires_at <= time.time()):
                body: dict = {"active": False}
            else:
                grant = tok.grant
                body = {
                    "active": True,
                    "scope": grant.scope,
                    "client_id": grant.client_id,
                    "username": grant.email,
                    "email": grant.email,
                    "sub": hashlib.sha256(grant.email.lower().encode()).hexdigest()[:24],
                    # RFC 7662 2.2: the RFC 6749 5.1 type; Dovecot insists on "Bearer"
                    "token_type": "Bearer" if kind == "access_token" else kind,
                    "iss": srv.base_url,
                }
                if kind == "access_token":
                    body["exp"] = int(tok.expires_at)
        self._send_json(200, body)
