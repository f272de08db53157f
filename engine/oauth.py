"""OAuth 2.0 for Google and Microsoft mailboxes, and the XOAUTH2 SASL string.

* Google: authorization code grant with PKCE S256, done here with
  :mod:`requests` (:rfc:`6749#section-4.1`, :rfc:`7636`; Google's "Using
  OAuth 2.0 for Web Server Applications"), refresh (:rfc:`6749#section-6`) and
  revocation (:rfc:`7009`).
* Microsoft: the Microsoft identity platform authorization code flow through
  ``msal.ConfidentialClientApplication`` (``initiate_auth_code_flow`` /
  ``acquire_token_by_auth_code_flow``, PKCE and nonce built in), refresh with
  ``acquire_token_by_refresh_token``. Entra ID **rotates** refresh tokens:
  always store the one returned by :func:`refresh`.
* :func:`error_fix_code` / :func:`server_auth_fix_code` name the fix for provider
  error codes and IMAP/SMTP login failures; the addon says it to the user in their
  language (``models/crm_inbox_fixes.py``).

Nothing here imports Odoo. Every HTTP call has a timeout
(:attr:`OAuthClientConfig.timeout`, seconds). Tokens are never logged and
never appear in exception messages or reprs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import urllib.parse
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from .errors import (
    CertificateUntrusted,
    ConnectFailed,
    ConnectionRefused,
    ConnectTimeout,
    OAuthError,
    TLSFailed,
)

__all__ = [
    "GOOGLE_SCOPES",
    "MICROSOFT_SCOPES",
    "OAuthClientConfig",
    "TokenSet",
    "error_fix_code",
    "finish_authorization",
    "google_config",
    "microsoft_config",
    "refresh",
    "revoke",
    "server_auth_fix_code",
    "start_authorization",
    "xoauth2_string",
]

_logger = logging.getLogger(__name__)

#: Google: full IMAP/SMTP access (the only scope Gmail's XOAUTH2 accepts), plus
#: OpenID Connect to learn the address that consented.
GOOGLE_SCOPES: tuple[str, ...] = ("https://mail.google.com/", "openid", "email")
#: Microsoft: Exchange Online IMAP and SMTP AUTH, and a refresh token.
#: ``msal`` refuses the reserved scopes ``openid``, ``profile`` and
#: ``offline_access`` and always adds them itself; :func:`start_authorization`
#: and :func:`refresh` strip them before calling ``msal``.
MICROSOFT_SCOPES: tuple[str, ...] = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
)
_MSAL_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
#: Used when a token response omits ``expires_in`` (:rfc:`6749#section-5.1`
#: lets the server document a default; both providers send it in practice).
DEFAULT_EXPIRES_IN = 3600.0  # seconds


# ---------------------------------------------------------------------------
# XOAUTH2
# ---------------------------------------------------------------------------


def xoauth2_string(username: str, access_token: str) -> str:
    """Build the XOAUTH2 SASL initial client response (before base64).

    Format from Google's "OAuth 2.0 Mechanism" (XOAUTH2) doc, also used by
    Exchange Online: ``"user=" username "\\x01auth=Bearer " token "\\x01\\x01"``.
    IMAP (``AUTHENTICATE XOAUTH2``) and SMTP (``AUTH XOAUTH2``) base64-encode it.

    :param username: the mailbox address, e.g. ``"alice@example.com"``.
    :param access_token: a live OAuth 2.0 access token.
    :returns: the SASL string (``str``; encode as ASCII/UTF-8 then base64).
    :raises ValueError: if either value is empty or contains ``\\x01``, CR, LF
        or NUL, which would let it forge extra SASL key/value pairs.
    """
    for name, value in (("username", username), ("access_token", access_token)):
        if not value:
            raise ValueError(f"XOAUTH2 {name} is empty")
        if any(c in value for c in "\x01\r\n\x00"):
            raise ValueError(f"XOAUTH2 {name} contains a control character (\\x01, CR, LF, NUL)")
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01"


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class TokenSet:
    """Tokens returned by the authorization server.

    :ivar access_token: bearer token for XOAUTH2 (secret).
    :ivar refresh_token: long-lived token (secret); ``""`` only if the server
        sent none.
    :ivar expires_at: expiry of the access token, epoch seconds (``float``).
    :ivar scope: space-separated granted scopes (``""`` if not reported).
    :ivar email: address from the id token (``email``, else
        ``preferred_username``), or ``""`` when no id token came back
        (refresh responses may omit it: keep the stored address then).

    ``repr()`` never shows the tokens.
    """

    access_token: str
    refresh_token: str
    expires_at: float
    scope: str = ""
    email: str = ""

    def needs_refresh(self, now: float | None = None, margin: float = 300.0) -> bool:
        """Whether the access token expires within ``margin`` seconds.

        :param now: epoch seconds (default: ``time.time()``).
        :param margin: seconds of safety before expiry (default 5 min, to
            absorb clock skew and long IMAP sessions).
        """
        if not self.access_token:
            return True
        now = time.time() if now is None else now
        return now + margin >= self.expires_at

    def __repr__(self) -> str:
        return (
            f"TokenSet(access_token={'<hidden>' if self.access_token else ''!r}, "
            f"refresh_token={'<hidden>' if self.refresh_token else ''!r}, "
            f"expires_at={self.expires_at!r}, scope={self.scope!r}, email={self.email!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class OAuthClientConfig:
    """Everything needed to talk to one provider's authorization server.

    :ivar provider: ``"google"`` or ``"microsoft"``.
    :ivar client_id: the OAuth client (application) id.
    :ivar client_secret: its secret (hidden from ``repr``).
    :ivar authorize_url: authorization endpoint (browser).
    :ivar token_url: token endpoint.
    :ivar revoke_url: :rfc:`7009` revocation endpoint, ``""`` if none.
    :ivar scopes: scopes to request.
    :ivar authority: Microsoft only: ``https://login.microsoftonline.com/<tenant>``;
        ``msal`` reads ``<authority>/v2.0/.well-known/openid-configuration``.
    :ivar timeout: seconds, for each connect and each read of every HTTP call.
    :ivar verify: TLS verification: ``True`` (system CAs) or a CA bundle path.
    """

    provider: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    revoke_url: str = ""
    scopes: tuple[str, ...] = ()
    authority: str = ""
    timeout: float = 10.0
    verify: bool | str = True

    def __post_init__(self) -> None:
        if self.provider not in ("google", "microsoft"):
            raise ValueError(f"unknown OAuth provider {self.provider!r}")
        if self.provider == "microsoft" and not self.authority:
            raise ValueError("a Microsoft config needs an authority")
        if not self.timeout or self.timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")

    def __repr__(self) -> str:
        return (
            f"OAuthClientConfig(provider={self.provider!r}, client_id={self.client_id!r}, "
            f"client_secret='<hidden>', authorize_url={self.authorize_url!r}, "
            f"token_url={self.token_url!r}, revoke_url={self.revoke_url!r}, "
            f"scopes={self.scopes!r}, authority={self.authority!r}, "
            f"timeout={self.timeout!r}, verify={self.verify!r})"
        )


def google_config(
    client_id: str,
    client_secret: str,
    *,
    auth_endpoint: str = "https://accounts.google.com/o/oauth2/v2/auth",
    token_endpoint: str = "https://oauth2.googleapis.com/token",
    revoke_endpoint: str = "https://oauth2.googleapis.com/revoke",
    scopes: tuple[str, ...] = GOOGLE_SCOPES,
    timeout: float = 10.0,
    verify: bool | str = True,
) -> OAuthClientConfig:
    """Config for Google (endpoints from Google's "OAuth 2.0 for Web Server
    Applications"; overridable to point at a local test server).

    :param client_id: "Web application" client id from Google Cloud Console.
    :param client_secret: its secret.
    :param timeout: seconds per HTTP connect/read.
    :param verify: ``True`` or a CA bundle path.
    :returns: an :class:`OAuthClientConfig` with ``provider="google"``.
    """
    return OAuthClientConfig(
        provider="google",
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=auth_endpoint,
        token_url=token_endpoint,
        revoke_url=revoke_endpoint,
        scopes=tuple(scopes),
        timeout=timeout,
        verify=verify,
    )


def microsoft_config(
    client_id: str,
    client_secret: str,
    *,
    tenant: str = "common",
    authority_host: str = "https://login.microsoftonline.com",
    scopes: tuple[str, ...] = MICROSOFT_SCOPES,
    timeout: float = 10.0,
    verify: bool | str = True,
) -> OAuthClientConfig:
    """Config for the Microsoft identity platform (v2.0 endpoints).

    :param client_id: the Entra ID application (client) id.
    :param client_secret: a client secret **value** (not its id).
    :param tenant: ``"common"`` (work and personal accounts),
        ``"organizations"``, ``"consumers"``, a tenant GUID or domain.
    :param authority_host: ``https://`` URL of the login host (``msal`` refuses
        plain HTTP); a local test server in tests.
    :param timeout: seconds per HTTP connect/read.
    :param verify: ``True`` or a CA bundle path.
    :returns: an :class:`OAuthClientConfig` with ``provider="microsoft"``; it
        has no ``revoke_url`` (Entra ID offers no :rfc:`7009` endpoint).
    """
    authority = f"{authority_host.rstrip('/')}/{tenant.strip('/')}"
    return OAuthClientConfig(
        provider="microsoft",
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=f"{authority}/oauth2/v2.0/authorize",
        token_url=f"{authority}/oauth2/v2.0/token",
        revoke_url="",
        scopes=tuple(scopes),
        authority=authority,
        timeout=timeout,
        verify=verify,
    )


# ---------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------


@contextmanager
def _http_errors(url: str) -> Iterator[None]:
    """Map :mod:`requests` transport errors to :mod:`engine.errors` classes."""
    host = urllib.parse.urlsplit(url).netloc
    try:
        yield
    except requests.exceptions.SSLError as exc:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            raise CertificateUntrusted(
                f"TLS certificate of {host} is not trusted", protocol="http", step="oauth"
            ) from exc
        raise TLSFailed(f"TLS with {host} failed", protocol="http", step="oauth") from exc
    except (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout) as exc:
        raise ConnectTimeout(f"{host} did not answer in time", protocol="http",
                             step="oauth") from exc
    except requests.exceptions.ConnectionError as exc:
        if "Connection refused" in str(exc) or "Errno 111" in str(exc):
            raise ConnectionRefused(f"{host} refused the connection", protocol="http",
                                    step="oauth") from exc
        raise ConnectFailed(f"cannot reach {host}", protocol="http", step="oauth") from exc
    except requests.exceptions.RequestException as exc:
        raise ConnectFailed(f"HTTP request to {host} failed: {type(exc).__name__}",
                            protocol="http", step="oauth") from exc


def _oauth_error(error: str, description: str = "") -> OAuthError:
    msg = f"{error}: {description}" if description else error
    return OAuthError(msg, error=error, description=description, protocol="http")


def _post_form(config: OAuthClientConfig, url: str, data: dict[str, str]) -> requests.Response:
    with _http_errors(url):
        return requests.post(
            url,
            data=data,
            headers={"Accept": "application/json"},
            timeout=config.timeout,
            verify=config.verify,
            allow_redirects=False,
        )


def _token_request(config: OAuthClientConfig, data: dict[str, str]) -> dict:
    """POST to the token endpoint; JSON success body, or :class:`OAuthError`
    built from the :rfc:`6749#section-5.2` error body."""
    resp = _post_form(config, config.token_url, data)
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _oauth_error("server_error", f"HTTP {resp.status_code} without a JSON body")
    if resp.status_code != 200 or "error" in body:
        raise _oauth_error(str(body.get("error") or f"http_{resp.status_code}"),
                           str(body.get("error_description") or ""))
    if not body.get("access_token"):
        raise _oauth_error("server_error", "token response without access_token")
    return body


def _jwt_claims(token: str) -> dict:
    """Payload of a JWT, **not** signature-checked.

    Acceptable for id tokens received directly from the token endpoint over
    TLS (OpenID Connect Core 1.0 §3.1.3.7, item 6).
    """
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError, binascii.Error):
        raise _oauth_error("invalid_id_token", "the id_token is not a JWT") from None
    if not isinstance(claims, dict):
        raise _oauth_error("invalid_id_token", "the id_token payload is not an object")
    return claims


def _email_from_claims(claims: Mapping) -> str:
    for key in ("email", "preferred_username", "upn"):
        value = claims.get(key)
        if isinstance(value, str) and "@" in value:
            return value
    return ""


def _scope_str(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(value)
    return str(value or "")


def _token_set(body: Mapping, *, old_refresh_token: str = "", claims: Mapping | None = None,
               now: float | None = None) -> TokenSet:
    now = time.time() if now is None else now
    try:
        expires_in = float(body.get("expires_in") or DEFAULT_EXPIRES_IN)
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN
    if claims is None:
        claims = _jwt_claims(body["id_token"]) if body.get("id_token") else {}
    return TokenSet(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or old_refresh_token or ""),
        expires_at=now + expires_in,
        scope=_scope_str(body.get("scope")),
        email=_email_from_claims(claims),
    )


def _same(a: str, b: str) -> bool:
    """Constant-time string equality."""
    return hmac.compare_digest((a or "").encode("utf-8"), (b or "").encode("utf-8"))


# ---------------------------------------------------------------------------
# msal
# ---------------------------------------------------------------------------


def _msal_scopes(config: OAuthClientConfig) -> list[str]:
    return [s for s in config.scopes if s not in _MSAL_RESERVED_SCOPES]


class _MsalHttpClient:
    """The ``http_client`` given to ``msal``: a :class:`requests.Session` that
    applies :attr:`OAuthClientConfig.verify` and ``timeout`` on **every**
    request.

    Setting ``session.verify`` (what ``msal`` does with its ``verify=``
    argument) is not enough: ``requests`` lets a ``REQUESTS_CA_BUNDLE``
    environment variable override a session-level ``verify``, while a
    per-request value wins.
    """

    def __init__(self, verify: bool | str, timeout: float) -> None:
        self._verify = verify
        self._timeout = timeout
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(max_retries=1)  # as msal's default client
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def _kw(self, kwargs: dict) -> dict:
        kwargs["verify"] = self._verify
        kwargs["timeout"] = kwargs.get("timeout") or self._timeout
        kwargs.setdefault("allow_redirects", False)
        return kwargs

    def get(self, url: str, **kwargs) -> requests.Response:
        return self._session.get(url, **self._kw(kwargs))

    def post(self, url: str, **kwargs) -> requests.Response:
        return self._session.post(url, **self._kw(kwargs))

    def close(self) -> None:
        self._session.close()


@contextmanager
def _msal_app(config: OAuthClientConfig) -> Iterator:
    """A fresh ``ConfidentialClientApplication``; its in-memory token cache and
    HTTP session are discarded on exit (the caller stores the tokens).

    ``instance_discovery=False``: no call to Microsoft's instance discovery
    endpoint (the login hosts are well known anyway, and a test authority
    would be refused). ``msal`` then fetches the tenant's OpenID configuration
    ``<authority>/v2.0/.well-known/openid-configuration``, over ``https`` only.
    Transport errors inside the block are mapped by :func:`_http_errors`.
    """
    import msal  # imported lazily: only Microsoft accounts need it

    http_client = _MsalHttpClient(config.verify, config.timeout)
    try:
        with _http_errors(config.authority):
            try:
                app = msal.ConfidentialClientApplication(
                    config.client_id,
                    client_credential=config.client_secret,
                    authority=config.authority,
                    instance_discovery=False,
                    http_client=http_client,
                )
            except ValueError as exc:
                # msal: non-https authority, or tenant discovery answered 4xx
                # (unknown tenant).
                raise _oauth_error("invalid_authority",
                                   str(exc).split("\n")[0][:300]) from exc
            yield app
    finally:
        http_client.close()


def _raise_msal_error(result: Mapping) -> None:
    if "error" in result:
        raise _oauth_error(str(result.get("error")), str(result.get("error_description") or ""))
    if not result.get("access_token"):
        raise _oauth_error("server_error", "token response without access_token")


# ---------------------------------------------------------------------------
# Flows
# ---------------------------------------------------------------------------


def _pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge) per :rfc:`7636#section-4.1` /
    :rfc:`7636#section-4.2` (S256): 43 chars from 32 random bytes."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge.rstrip(b"=").decode("ascii")


def start_authorization(
    config: OAuthClientConfig, redirect_uri: str, state: str, login_hint: str = ""
) -> tuple[str, dict]:
    """Begin the authorization code flow.

    Google: authorization code + PKCE S256 (:rfc:`7636`), ``access_type=offline``
    and ``prompt=consent`` so a refresh token is always issued (Google "OAuth
    2.0 for Web Server Applications"), plus an OpenID Connect ``nonce``.
    Microsoft: ``msal``'s ``initiate_auth_code_flow`` (PKCE and nonce built in)
    with the caller's ``state`` (Microsoft identity platform auth code flow).

    :param config: from :func:`google_config` / :func:`microsoft_config`.
    :param redirect_uri: the registered callback URL.
    :param state: unguessable one-time value (e.g. ``secrets.token_urlsafe(32)``)
        the callback must return unchanged (:rfc:`6749#section-10.12`).
    :param login_hint: optional address to preselect the account.
    :returns: ``(url, flow)``: send the browser to ``url``; store ``flow`` (a
        JSON-serializable ``dict`` holding the PKCE ``code_verifier``, nonce and
        state: a secret) server-side, and pass it to :func:`finish_authorization`.
    :raises ValueError: empty ``state`` or ``redirect_uri``.
    :raises OAuthError: Microsoft authority refused (``error="invalid_authority"``).
    :raises ConnectFailed: Microsoft authority unreachable (tenant discovery).
    """
    if not state or not redirect_uri:
        raise ValueError("state and redirect_uri are required")
    if config.provider == "microsoft":
        with _msal_app(config) as app, warnings.catch_warnings():
            # msal warns unless response_mode="form_post". We keep the default
            # query response on purpose: a cross-site POST to Odoo would not
            # carry the SameSite=Lax session cookie, so the callback could not
            # check that the same user started the flow. The code is useless
            # without the PKCE verifier and client secret, which never leave
            # the server.
            warnings.filterwarnings("ignore", message=r"response_mode='form_post'")
            msal_flow = app.initiate_auth_code_flow(
                _msal_scopes(config),
                redirect_uri=redirect_uri,
                state=state,
                login_hint=login_hint or None,
                prompt=None if login_hint else "select_account",
            )
        flow = {"provider": "microsoft", "state": state, "redirect_uri": redirect_uri,
                "msal_flow": msal_flow}
        return msal_flow["auth_uri"], flow

    verifier, challenge = _pkce_pair()
    nonce = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(config.scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "nonce": nonce,
    }
    if login_hint:
        params["login_hint"] = login_hint
    sep = "&" if "?" in config.authorize_url else "?"
    url = config.authorize_url + sep + urllib.parse.urlencode(params)
    flow = {"provider": "google", "state": state, "redirect_uri": redirect_uri,
            "code_verifier": verifier, "nonce": nonce, "scope": list(config.scopes)}
    return url, flow


def finish_authorization(
    config: OAuthClientConfig, flow: Mapping, callback_params: Mapping[str, str]
) -> TokenSet:
    """Complete the flow with the parameters the browser brought back.

    Checks, in order: the flow belongs to this provider; ``state`` equals the
    stored one (constant-time; :rfc:`6749#section-10.12`, CSRF); no ``error``
    parameter (:rfc:`6749#section-4.1.2.1`); then redeems the code (Google:
    POST to the token endpoint with ``code_verifier``, :rfc:`7636#section-4.5`;
    Microsoft: ``acquire_token_by_auth_code_flow``, which also checks the id
    token nonce).

    :param config: the same config as for :func:`start_authorization`.
    :param flow: the dict :func:`start_authorization` returned (not mutated).
    :param callback_params: the callback's query (or form_post) parameters,
        e.g. ``{"code": ..., "state": ...}`` or ``{"error": "access_denied", ...}``.
    :returns: a :class:`TokenSet` (``email`` from the id token).
    :raises OAuthError: ``error="state_mismatch"``; the provider's error
        (``access_denied``, ``invalid_grant``, ``invalid_client``...);
        ``"invalid_request"`` when no code came back; ``"invalid_id_token"``
        (nonce/audience mismatch); ``"missing_refresh_token"`` (Google granted
        no refresh token).
    :raises ConnectFailed: token endpoint unreachable (or a subclass, and
        :class:`~engine.errors.TLSFailed` for TLS problems).
    """
    if flow.get("provider") != config.provider:
        raise ValueError("this flow was started for another provider")
    if not _same(str(callback_params.get("state") or ""), str(flow.get("state") or "")) \
            or not flow.get("state"):
        raise _oauth_error("state_mismatch",
                           "the callback state does not match the stored authorization request")
    if callback_params.get("error"):
        raise _oauth_error(str(callback_params["error"]),
                           str(callback_params.get("error_description") or ""))
    code = callback_params.get("code")
    if not code:
        raise _oauth_error("invalid_request", "the callback carries neither code nor error")

    if config.provider == "microsoft":
        msal_flow = json.loads(json.dumps(flow["msal_flow"]))  # msal pops keys from it
        auth_response = {k: str(v) for k, v in callback_params.items()}
        with _msal_app(config) as app:
            try:
                result = app.acquire_token_by_auth_code_flow(msal_flow, auth_response)
            except ValueError as exc:  # msal: state / scope mismatch
                raise _oauth_error("invalid_request", str(exc)[:200]) from exc
            except RuntimeError as exc:  # msal: id token nonce mismatch
                raise _oauth_error("invalid_id_token", "id_token nonce mismatch") from exc
        _raise_msal_error(result)
        return _token_set(result, claims=result.get("id_token_claims") or {})

    body = _token_request(config, {
        "grant_type": "authorization_code",
        "code": str(code),
        "redirect_uri": str(flow["redirect_uri"]),
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "code_verifier": str(flow["code_verifier"]),
    })
    claims = _jwt_claims(body["id_token"]) if body.get("id_token") else {}
    if claims:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if config.client_id not in auds:
            raise _oauth_error("invalid_id_token", "id_token audience is not this client")
        if flow.get("nonce") and not _same(str(claims.get("nonce") or ""), str(flow["nonce"])):
            raise _oauth_error("invalid_id_token", "id_token nonce mismatch")
    if not body.get("refresh_token"):
        raise _oauth_error("missing_refresh_token",
                           "Google granted no refresh token (access_type=offline ignored)")
    return _token_set(body, claims=claims)


def refresh(config: OAuthClientConfig, refresh_token: str) -> TokenSet:
    """Get a new access token (:rfc:`6749#section-6`).

    Google: ``grant_type=refresh_token`` POST; Google usually returns no new
    refresh token, so the old one is kept in the result. Microsoft: ``msal``'s
    ``acquire_token_by_refresh_token``; Entra ID **rotates** refresh tokens, and
    the result carries the new one: the caller must store it (and commit it
    independently of any transaction that may roll back).

    :param config: provider config.
    :param refresh_token: the stored refresh token.
    :returns: a :class:`TokenSet`; ``email`` is ``""`` when the response has no
        id token.
    :raises ValueError: empty ``refresh_token``.
    :raises OAuthError: e.g. ``error="invalid_grant"`` (revoked, expired,
        password changed: the user must reconnect; see :func:`error_fix_code`),
        ``"invalid_client"`` (client secret wrong or expired).
    :raises ConnectFailed: endpoint unreachable (and subclasses, TLSFailed).
    """
    if not refresh_token:
        raise ValueError("no refresh token")
    if config.provider == "microsoft":
        with _msal_app(config) as app:
            result = app.acquire_token_by_refresh_token(refresh_token, _msal_scopes(config))
        _raise_msal_error(result)
        return _token_set(result, old_refresh_token=refresh_token,
                          claims=result.get("id_token_claims") or {})
    body = _token_request(config, {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    })
    return _token_set(body, old_refresh_token=refresh_token)


def revoke(config: OAuthClientConfig, token: str) -> None:
    """Revoke a token and its grant (:rfc:`7009`; Google's revoke endpoint).

    Revoking a refresh token also invalidates the access tokens of the same
    grant at Google. An already invalid token counts as success (:rfc:`7009`
    §2.2; Google answers HTTP 400 ``invalid_token`` for it).

    Microsoft: Entra ID has no token revocation endpoint for this flow, so this
    is a no-op: forget the tokens locally; the user (or an admin) removes the
    app's consent at https://myapps.microsoft.com or revokes sessions.

    :param config: provider config; no-op when ``config.revoke_url`` is empty.
    :param token: access or refresh token.
    :raises OAuthError: the server refused the request for another reason.
    :raises ConnectFailed: endpoint unreachable (and subclasses, TLSFailed).
    """
    if config.provider == "microsoft" or not config.revoke_url or not token:
        return
    resp = _post_form(config, config.revoke_url, {"token": token})
    if resp.status_code == 200:
        return
    try:
        body = resp.json()
    except ValueError:
        body = {}
    error = str(body.get("error") or "") if isinstance(body, dict) else ""
    if error == "invalid_token":
        return
    raise _oauth_error(error or f"http_{resp.status_code}",
                       str(body.get("error_description") or "") if isinstance(body, dict) else "")


# ---------------------------------------------------------------------------
# Fix codes: the engine names the problem; the addon says it (translated) to the user
# ---------------------------------------------------------------------------

#: Microsoft identity platform error codes (``AADSTS<n>``) with a known fix.
_AADSTS_CODES: dict[str, str] = {
    "50076": "aadsts_50076",
    "50079": "aadsts_50079",
    "65001": "aadsts_65001",
    "700082": "aadsts_700082",
    "70008": "aadsts_70008",
    "50173": "aadsts_50173",
    "50133": "aadsts_50133",
    "7000215": "aadsts_7000215",
    "7000222": "aadsts_7000222",
    "50020": "aadsts_50020",
    "90072": "aadsts_90072",
    "53003": "aadsts_53003",
    "50011": "aadsts_50011",
    "700016": "aadsts_700016",
    "50034": "aadsts_50034",
    "50057": "aadsts_50057",
    "50053": "aadsts_50053",
    "500011": "aadsts_500011",
}

#: Provider-specific OAuth errors (:rfc:`6749#section-5.2` codes) with a known fix.
_PROVIDER_ERROR_CODES: dict[tuple[str, str], str] = {
    ("google", "invalid_grant"): "google_invalid_grant",
    ("google", "invalid_client"): "google_invalid_client",
    ("google", "unauthorized_client"): "google_unauthorized_client",
    ("google", "admin_policy_enforced"): "google_admin_policy_enforced",
    ("google", "redirect_uri_mismatch"): "google_redirect_uri_mismatch",
    ("google", "missing_refresh_token"): "google_missing_refresh_token",
    ("microsoft", "invalid_grant"): "microsoft_invalid_grant",
    ("microsoft", "invalid_client"): "microsoft_invalid_client",
    ("microsoft", "unauthorized_client"): "microsoft_unauthorized_client",
    ("microsoft", "invalid_authority"): "microsoft_invalid_authority",
}

#: OAuth errors whose fix does not depend on the provider.
_GENERIC_ERROR_CODES = frozenset({
    "access_denied",
    "consent_required",
    "interaction_required",
    "login_required",
    "invalid_scope",
    "state_mismatch",
    "invalid_id_token",
    "temporarily_unavailable",
    "server_error",
})


def error_fix_code(provider: str, error: str, description: str = "") -> str:
    """The code of the fix the user (or the Odoo administrator) must make for an
    OAuth error; the addon turns it into a translated sentence.

    Microsoft ``AADSTS`` codes (Microsoft identity platform error codes) are read
    from ``error`` or ``description`` and win over the generic OAuth ``error``;
    Google errors follow Google's OAuth 2.0 docs (e.g. ``invalid_grant``:
    revoked or expired; apps in "Testing" status get 7-day refresh tokens).

    :param provider: ``"google"`` or ``"microsoft"`` (anything else: generic).
    :param error: :rfc:`6749#section-5.2` error code, e.g. ``"invalid_grant"``
        (:attr:`OAuthError.error`).
    :param description: the server's ``error_description``
        (:attr:`OAuthError.description`).
    :returns: e.g. ``"aadsts_50076"``, ``"google_invalid_grant"``,
        ``"access_denied"``, ``"client_rejected"``; ``""`` when nothing specific
        is known.
    """
    text = f"{error or ''} {description or ''}"
    for code in re.findall(r"AADSTS(\d+)", text):
        if code in _AADSTS_CODES:
            return _AADSTS_CODES[code]
    provider = (provider or "").lower()
    error = (error or "").strip()
    if (provider, error) in _PROVIDER_ERROR_CODES:
        return _PROVIDER_ERROR_CODES[(provider, error)]
    if error in _GENERIC_ERROR_CODES or error == "invalid_grant":
        return error
    if error in ("invalid_client", "unauthorized_client"):
        return "client_rejected"
    return ""


def _decode_sasl_json(text: str) -> dict | None:
    """Gmail/Outlook XOAUTH2 failures carry base64 JSON like
    ``{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}``."""
    for candidate in re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", text):
        try:
            decoded = base64.b64decode(candidate + "=" * (-len(candidate) % 4)).decode()
            data = json.loads(decoded)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "status" in data:
            return data
    return None


def server_auth_fix_code(text: str, host: str = "") -> str:
    """The code of the fix for an IMAP/SMTP login failure, from the server's reply text.

    Covers Microsoft 365 ("IMAP is disabled", Outlook's bare ``AUTHENTICATE
    failed.``, SMTP ``5.7.139`` SMTP AUTH disabled / basic auth disabled),
    Gmail ("Application-specific password required", ``535-5.7.8``,
    ``534-5.7.14``, XOAUTH2 JSON errors), Yahoo and iCloud (app passwords).

    :param text: the server reply (IMAP ``NO`` text, SMTP reply line(s)).
    :param host: optional server host name, to tell providers apart when the
        text alone does not (e.g. ``"imap.mail.yahoo.com"``).
    :returns: a fix code such as ``"imap_disabled"``, ``"gmail_app_password_required"``,
        ``"password_refused"``; ``""`` when nothing specific is known.
    """
    t = (text or "").lower()
    h = (host or "").lower()
    outlook = any(d in h for d in ("office365.com", "outlook.com", "office.com", "hotmail"))
    gmail = any(d in h for d in ("gmail.com", "google", "googlemail.com"))
    yahoo = "yahoo" in h or "yahoo" in t
    icloud = "me.com" in h or "icloud" in h or "icloud" in t

    sasl = _decode_sasl_json(text or "")
    if sasl is not None:
        status = str(sasl.get("status", ""))
        if status in ("400", "401"):
            return "oauth_token_refused"
    if "imap is disabled" in t or "imap access is disabled" in t:
        return "imap_disabled"
    if "smtpclientauthentication is disabled" in t or ("5.7.139" in t and "disabled" in t
                                                      and "basic" not in t):
        return "microsoft_smtp_auth_disabled"
    if "basic authentication is disabled" in t or "basicauthblocked" in t:
        return "microsoft_basic_auth_disabled"
    if "application-specific password required" in t or "5.7.9" in t:
        return "gmail_app_password_required"
    if "5.7.14" in t or "log in via your web browser" in t or "web login required" in t:
        return "google_suspicious_signin"
    if yahoo:
        return "yahoo_app_password"
    if icloud:
        return "icloud_app_password"
    if "authenticate failed" in t and (outlook or not gmail):
        return "microsoft_signin_refused"
    if "5.7.8" in t or "username and password not accepted" in t or "invalid credentials" in t:
        if gmail or "gsmtp" in t or "(failure)" in t:
            return "gmail_password_refused"
        return "password_refused"
    if "authenticationfailed" in t or "authentication failed" in t or "login failed" in t \
            or "535" in t:
        return "password_refused"
    return ""
