"""OAuth flows against a real local authorization server (testkit/oauth_server.py).

The real ``msal`` library and the real requests-based Google flow talk HTTPS
to :class:`OAuthTestServer` on a loopback port; the browser is simulated by a
GET of the authorization URL without following the redirect.
"""

import base64
import dataclasses
import json
import re
import time
import urllib.parse

import pytest
import requests

from engine import oauth
from engine.errors import CertificateUntrusted, ConnectionRefused, OAuthError
from testkit.oauth_server import OAuthTestServer

REDIRECT = "https://odoo.example.com/crm_inbox/oauth/callback"


@pytest.fixture(scope="module")
def server():
    with OAuthTestServer(redirect_uris=[REDIRECT], login_email="alice@example.com") as srv:
        yield srv


@pytest.fixture(autouse=True)
def _reset(server):
    server.login_email = "alice@example.com"
    server.authorize_error = ""
    server.rotate_refresh_tokens = True
    server.access_token_lifetime = 3600.0
    server._token_errors.clear()


@pytest.fixture
def gcfg(server):
    return oauth.google_config(server.client_id, server.client_secret,
                               **server.google_endpoints(), verify=server.cafile)


@pytest.fixture
def mcfg(server):
    return oauth.microsoft_config(server.client_id, server.client_secret, tenant="common",
                                  authority_host=server.base_url, verify=server.cafile)


def browse(server, url):
    """Simulate the browser: GET the authorization URL, return the callback params."""
    resp = requests.get(url, allow_redirects=False, verify=server.cafile, timeout=10)
    assert resp.status_code == 302, resp.text
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def connect(server, cfg, state="st-" + "x" * 30, login_hint=""):
    url, flow = oauth.start_authorization(cfg, REDIRECT, state, login_hint)
    json.dumps(flow)  # must be JSON-serializable to be stored server-side
    params = browse(server, url)
    return oauth.finish_authorization(cfg, flow, params), flow, params


# --- Google -------------------------------------------------------------------


def test_google_full_flow(server, gcfg):
    url, flow = oauth.start_authorization(gcfg, REDIRECT, "state-123", "alice@example.com")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert q["code_challenge_method"] == "S256"
    assert q["access_type"] == "offline" and q["prompt"] == "consent"
    assert q["login_hint"] == "alice@example.com"
    assert q["scope"].split() == list(oauth.GOOGLE_SCOPES)
    assert "code_verifier" not in q and flow["code_verifier"] not in url
    params = browse(server, url)
    assert params["state"] == "state-123" and params["code"]
    before = server.counters.code
    tokens = oauth.finish_authorization(gcfg, flow, params)
    assert server.counters.code == before + 1
    assert tokens.email == "alice@example.com"
    assert tokens.refresh_token and tokens.access_token
    assert "https://mail.google.com/" in tokens.scope.split()
    assert 3500 < tokens.expires_at - time.time() <= 3600
    assert not tokens.needs_refresh()
    assert server.is_valid(tokens.access_token) == "alice@example.com"
    assert server.validator("Alice@example.com", tokens.access_token)
    assert not server.validator("bob@example.com", tokens.access_token)


def test_google_code_is_single_use(server, gcfg):
    url, flow = oauth.start_authorization(gcfg, REDIRECT, "s1")
    params = browse(server, url)
    tokens = oauth.finish_authorization(gcfg, flow, params)
    with pytest.raises(OAuthError) as exc:
        oauth.finish_authorization(gcfg, flow, params)
    assert exc.value.error == "invalid_grant"
    # RFC 6749 §4.1.2: replaying a code revokes what it produced.
    assert server.is_valid(tokens.access_token) is None


def test_google_refresh_rotation(server, gcfg):
    tokens, _, _ = connect(server, gcfg)
    before = server.counters.refresh
    new = oauth.refresh(gcfg, tokens.refresh_token)
    assert server.counters.refresh == before + 1
    assert new.access_token != tokens.access_token
    assert new.refresh_token and new.refresh_token != tokens.refresh_token
    assert new.email == "alice@example.com"  # id_token also returned on refresh
    with pytest.raises(OAuthError) as exc:
        oauth.refresh(gcfg, tokens.refresh_token)  # the rotated-out token
    assert exc.value.error == "invalid_grant"
    assert oauth.refresh(gcfg, new.refresh_token).access_token


def test_google_refresh_keeps_refresh_token_when_none_returned(server, gcfg):
    tokens, _, _ = connect(server, gcfg)
    server.rotate_refresh_tokens = False
    new = oauth.refresh(gcfg, tokens.refresh_token)
    assert new.refresh_token == tokens.refresh_token
    assert new.access_token != tokens.access_token


def test_short_lived_token_needs_refresh(server, gcfg):
    server.access_token_lifetime = 1
    tokens, _, _ = connect(server, gcfg)
    assert tokens.needs_refresh()  # within the 5 min margin
    assert not tokens.needs_refresh(margin=0, now=tokens.expires_at - 0.5)
    time.sleep(1.1)
    assert server.is_valid(tokens.access_token) is None
    server.access_token_lifetime = 3600
    new = oauth.refresh(gcfg, tokens.refresh_token)
    assert server.is_valid(new.access_token) == "alice@example.com"


def test_expire_access_tokens(server, gcfg):
    tokens, _, _ = connect(server, gcfg)
    server.expire_access_tokens()
    assert server.is_valid(tokens.access_token) is None
    assert server.is_valid(oauth.refresh(gcfg, tokens.refresh_token).access_token)


def test_google_revoke_then_refresh_fails(server, gcfg):
    tokens, _, _ = connect(server, gcfg)
    before = server.counters.revoke
    oauth.revoke(gcfg, tokens.refresh_token)
    assert server.counters.revoke == before + 1
    assert server.is_valid(tokens.access_token) is None  # whole grant revoked (RFC 7009)
    with pytest.raises(OAuthError) as exc:
        oauth.refresh(gcfg, tokens.refresh_token)
    assert exc.value.error == "invalid_grant"
    assert "revoked" in exc.value.description
    assert oauth.error_fix_code("google", exc.value.error,
                                exc.value.description) == "google_invalid_grant"
    oauth.revoke(gcfg, tokens.refresh_token)  # already revoked: still fine (RFC 7009 §2.2)
    oauth.revoke(gcfg, "no-such-token")


def test_revoke_all_for_user(server, gcfg):
    server.login_email = "carol@example.com"
    t1, _, _ = connect(server, gcfg)
    t2, _, _ = connect(server, gcfg)
    assert server.revoke_all("carol@example.com") == 2
    for t in (t1, t2):
        with pytest.raises(OAuthError):
            oauth.refresh(gcfg, t.refresh_token)


def test_state_mismatch_refused(server, gcfg):
    url, flow = oauth.start_authorization(gcfg, REDIRECT, "the-real-state")
    params = browse(server, url)
    before = server.counters.token
    for bad in ("forged-state", "", None):
        forged = dict(params, state=bad) if bad is not None else {"code": params["code"]}
        with pytest.raises(OAuthError) as exc:
            oauth.finish_authorization(gcfg, flow, forged)
        assert exc.value.error == "state_mismatch"
    assert server.counters.token == before  # never sent the code
    assert oauth.finish_authorization(gcfg, flow, params).access_token


def test_wrong_pkce_verifier_refused(server, gcfg):
    url, flow = oauth.start_authorization(gcfg, REDIRECT, "s-pkce")
    params = browse(server, url)
    _, other = oauth.start_authorization(gcfg, REDIRECT, "s-pkce")
    tampered = dict(flow, code_verifier=other["code_verifier"])
    with pytest.raises(OAuthError) as exc:
        oauth.finish_authorization(gcfg, tampered, params)
    assert exc.value.error == "invalid_grant"
    assert "verifier" in exc.value.description


def test_authorize_requires_pkce(server, gcfg):
    url, _ = oauth.start_authorization(gcfg, REDIRECT, "s")
    parts = urllib.parse.urlsplit(url)
    q = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if not k.startswith("code_")]
    params = browse(server, parts._replace(query=urllib.parse.urlencode(q)).geturl())
    assert params["error"] == "invalid_request"


def test_authorize_refuses_unregistered_redirect(server, gcfg):
    url, _ = oauth.start_authorization(gcfg, "https://evil.example/cb", "s")
    resp = requests.get(url, allow_redirects=False, verify=server.cafile, timeout=10)
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_access_denied(server, gcfg, mcfg):
    server.authorize_error = "access_denied"
    for cfg in (gcfg, mcfg):
        url, flow = oauth.start_authorization(cfg, REDIRECT, "s-denied")
        params = browse(server, url)
        assert "code" not in params
        with pytest.raises(OAuthError) as exc:
            oauth.finish_authorization(cfg, flow, params)
        assert exc.value.error == "access_denied"
        assert oauth.error_fix_code(cfg.provider, exc.value.error) == "access_denied"


def test_bad_client_secret(server, gcfg, mcfg):
    for cfg in (gcfg, mcfg):
        tokens, _, _ = connect(server, cfg)
        bad = oauth.OAuthClientConfig(**{**cfg.__dict__, "client_secret": "wrong"})
        with pytest.raises(OAuthError) as exc:
            oauth.refresh(bad, tokens.refresh_token)
        assert exc.value.error == "invalid_client"
        # Microsoft's answer carries AADSTS7000215 (invalid client secret), which wins
        assert oauth.error_fix_code(cfg.provider, exc.value.error, exc.value.description) in (
            "google_invalid_client", "aadsts_7000215")


def test_introspection(server, gcfg):
    tokens, _, _ = connect(server, gcfg)
    url = server.introspection_url
    kw = {"verify": server.cafile, "timeout": 10}
    body = requests.post(url, data={"token": tokens.access_token}, **kw).json()
    assert body["active"] is True and body["email"] == "alice@example.com"
    assert body["sub"] and "https://mail.google.com/" in body["scope"].split()
    assert body["exp"] > time.time()
    bearer = {"Authorization": f"Bearer {tokens.access_token}"}
    assert requests.get(url, headers=bearer, **kw).json()["active"] is True
    assert requests.post(url, data={"token": "nope"}, **kw).json() == {"active": False}
    server.expire_access_tokens()
    assert requests.post(url, data={"token": tokens.access_token}, **kw).json() == {
        "active": False}


def test_plain_http_server_for_dovecot():
    with OAuthTestServer(tls=False) as srv:
        assert srv.base_url.startswith("http://") and srv.cafile is None
        issued = srv.issue_tokens("dave@example.com")
        body = requests.post(srv.introspection_url, data={"token": issued["access_token"]},
                             timeout=10).json()
        assert body["active"] and body["email"] == "dave@example.com"
        assert srv.counters.introspect == 1


def test_untrusted_certificate(server, gcfg):
    cfg = oauth.OAuthClientConfig(**{**gcfg.__dict__, "verify": True})
    with pytest.raises(CertificateUntrusted):
        oauth.refresh(cfg, "rt")


def test_connection_refused(gcfg):
    with OAuthTestServer(tls=False) as srv:
        dead = srv.base_url
    cfg = oauth.google_config("c", "s", token_endpoint=dead + "/token", timeout=2)
    with pytest.raises(ConnectionRefused):
        oauth.refresh(cfg, "rt")


# --- Microsoft (real msal) ----------------------------------------------------


def test_microsoft_full_flow(server, mcfg):
    before = server.counters.discovery
    url, flow = oauth.start_authorization(mcfg, REDIRECT, "ms-state-1", "alice@example.com")
    assert server.counters.discovery > before  # msal fetched the OpenID configuration
    assert url.startswith(f"{server.base_url}/common/oauth2/v2.0/authorize?")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert q["state"] == "ms-state-1" and q["code_challenge_method"] == "S256"
    assert {"openid", "profile", "offline_access",
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send"} <= set(q["scope"].split())
    assert q["nonce"] and q["login_hint"] == "alice@example.com"
    json.dumps(flow)
    params = browse(server, url)
    tokens = oauth.finish_authorization(mcfg, flow, params)
    assert tokens.email == "alice@example.com"  # from preferred_username
    assert tokens.access_token and tokens.refresh_token
    assert "https://outlook.office.com/SMTP.Send" in tokens.scope.split()
    assert server.validator("alice@example.com", tokens.access_token)
    # The stored flow is not consumed: the same callback cannot be replayed.
    with pytest.raises(OAuthError) as exc:
        oauth.finish_authorization(mcfg, flow, params)
    assert exc.value.error == "invalid_grant"
    assert "AADSTS54005" in exc.value.description


def test_microsoft_refresh_rotation(server, mcfg):
    tokens, _, _ = connect(server, mcfg)
    new = oauth.refresh(mcfg, tokens.refresh_token)
    assert new.refresh_token and new.refresh_token != tokens.refresh_token
    assert new.access_token != tokens.access_token
    assert server.validator("alice@example.com", new.access_token)
    with pytest.raises(OAuthError) as exc:
        oauth.refresh(mcfg, tokens.refresh_token)
    assert exc.value.error == "invalid_grant"
    newer = oauth.refresh(mcfg, new.refresh_token)
    assert newer.refresh_token not in (tokens.refresh_token, new.refresh_token)


def test_microsoft_revoked_grant(server, mcfg):
    tokens, _, _ = connect(server, mcfg)
    oauth.revoke(mcfg, tokens.refresh_token)  # documented no-op
    assert server.is_refresh_token_valid(tokens.refresh_token)
    server.revoke_all("alice@example.com")  # e.g. password reset
    with pytest.raises(OAuthError) as exc:
        oauth.refresh(mcfg, tokens.refresh_token)
    assert exc.value.error == "invalid_grant"
    assert "AADSTS50173" in exc.value.description
    assert oauth.error_fix_code("microsoft", exc.value.error,
                                exc.value.description) == "aadsts_50173"


def test_microsoft_mfa_error(server, mcfg):
    tokens, _, _ = connect(server, mcfg)
    server.fail_next_token("invalid_grant", "AADSTS50076: Due to a configuration change made "
                           "by your administrator, you must use multi-factor authentication.")
    with pytest.raises(OAuthError) as exc:
        oauth.refresh(mcfg, tokens.refresh_token)
    assert oauth.error_fix_code("microsoft", exc.value.error,
                                exc.value.description) == "aadsts_50076"


def test_microsoft_state_mismatch(server, mcfg):
    url, flow = oauth.start_authorization(mcfg, REDIRECT, "ms-state-2")
    params = browse(server, url)
    with pytest.raises(OAuthError) as exc:
        oauth.finish_authorization(mcfg, flow, dict(params, state="evil"))
    assert exc.value.error == "state_mismatch"


def test_microsoft_wrong_pkce_verifier(server, mcfg):
    url, flow = oauth.start_authorization(mcfg, REDIRECT, "ms-state-3")
    params = browse(server, url)
    _, other = oauth.start_authorization(mcfg, REDIRECT, "ms-state-3")
    tampered = json.loads(json.dumps(flow))
    tampered["msal_flow"]["code_verifier"] = other["msal_flow"]["code_verifier"]
    with pytest.raises(OAuthError) as exc:
        oauth.finish_authorization(mcfg, tampered, params)
    assert exc.value.error == "invalid_grant"
    assert "AADSTS501481" in exc.value.description


def test_microsoft_nonce_checked(server, mcfg):
    url, flow = oauth.start_authorization(mcfg, REDIRECT, "ms-state-4")
    params = browse(server, url)
    tampered = json.loads(json.dumps(flow))
    tampered["msal_flow"]["nonce"] = "another-nonce"
    with pytest.raises(OAuthError) as exc:
        oauth.finish_authorization(mcfg, tampered, params)
    assert exc.value.error == "invalid_id_token"


def test_microsoft_unknown_tenant_needs_https(server):
    cfg = oauth.microsoft_config("c", "s", authority_host=server.base_url.replace(
        "https://", "http://"), verify=server.cafile)
    with pytest.raises(OAuthError) as exc:
        oauth.start_authorization(cfg, REDIRECT, "s")
    assert exc.value.error == "invalid_authority"


def test_provider_mismatch(server, gcfg, mcfg):
    _, flow = oauth.start_authorization(gcfg, REDIRECT, "s")
    with pytest.raises(ValueError):
        oauth.finish_authorization(mcfg, flow, {"state": "s", "code": "x"})


# --- pure helpers -------------------------------------------------------------


def test_xoauth2_string():
    s = oauth.xoauth2_string("alice@example.com", "ya29.token")
    assert s == "user=alice@example.com\x01auth=Bearer ya29.token\x01\x01"
    # the doc's example, base64-encoded as IMAP/SMTP send it
    assert base64.b64encode(oauth.xoauth2_string("someuser@example.com",
                                                 "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
                            .encode()).decode() == (
        "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhk"
        "SFJoZG1semRHRXVZMjl0Q2cBAQ==")
    for user, token in [("a@b\x01auth=Bearer x", "t"), ("a@b", "t\r\nA1 LOGOUT"),
                        ("a@b\n", "t"), ("a@b", "t\x01"), ("", "t"), ("a@b", "")]:
        with pytest.raises(ValueError):
            oauth.xoauth2_string(user, token)


def test_tokenset_repr_hides_secrets():
    t = oauth.TokenSet("ACCESS-SECRET", "REFRESH-SECRET", 1e9, "s", "a@b.c")
    for text in (repr(t), str(t), f"{t}", repr([t])):
        assert "ACCESS-SECRET" not in text and "REFRESH-SECRET" not in text
        assert "a@b.c" in text
    cfg = oauth.google_config("cid", "CLIENT-SECRET")
    assert "CLIENT-SECRET" not in repr(cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.access_token = "x"  # frozen


def test_tokenset_needs_refresh():
    t = oauth.TokenSet("a", "r", expires_at=1000.0)
    assert not t.needs_refresh(now=600.0)
    assert t.needs_refresh(now=700.0)  # 5 min margin
    assert t.needs_refresh(now=999.0, margin=0) is False
    assert oauth.TokenSet("", "r", expires_at=1e12).needs_refresh()


def test_microsoft_scopes_constants():
    assert "offline_access" in oauth.MICROSOFT_SCOPES
    assert oauth._msal_scopes(oauth.microsoft_config("c", "s")) == [
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send"]


@pytest.mark.parametrize("error, description, code", [
    ("invalid_grant", "AADSTS50079: The user is required to use MFA.", "aadsts_50079"),
    ("invalid_grant", "AADSTS65001: The user or administrator has not consented", "aadsts_65001"),
    ("invalid_grant", "AADSTS700082: The refresh token has expired due to inactivity.", "aadsts_700082"),
    ("invalid_grant", ("AADSTS70008: The provided authorization code or refresh token has "
                      "aadsts_70008"), "aadsts_70008"),
    ("invalid_grant", ("AADSTS50133: Session is invalid due to expiration or recent password "
                      "change."), "aadsts_50133"),
    ("invalid_client", "AADSTS7000215: Invalid client secret provided.", "aadsts_7000215"),
    ("invalid_request", ("AADSTS50020: User account from identity provider does not exist in "
                        "aadsts_50020"), "aadsts_50020"),
    ("invalid_request", ("AADSTS90072: User account 'x@live.com' from identity provider "
                        "'live.com' does not exist in tenant"), "aadsts_90072"),
    ("interaction_required", ("AADSTS53003: Access has been blocked by Conditional Access "
                             "policies."), "aadsts_53003"),
])
def test_fix_code_microsoft(error, description, code):
    assert oauth.error_fix_code("microsoft", error, description) == code


def test_fix_code_google_and_unknown():
    assert oauth.error_fix_code("google", "invalid_client") == "google_invalid_client"
    assert oauth.error_fix_code("google", "unauthorized_client") == "google_unauthorized_client"
    assert oauth.error_fix_code("google", "access_denied") == "access_denied"
    assert oauth.error_fix_code("other", "invalid_client") == "client_rejected"
    assert oauth.error_fix_code("google", "something_new") == ""


@pytest.mark.parametrize("text, host, code", [
    ("A1 NO IMAP is disabled for this user", "outlook.office365.com", "imap_disabled"),
    ("A1 NO AUTHENTICATE failed.", "outlook.office365.com", "microsoft_signin_refused"),
    (("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
     "Tenant."), "smtp.office365.com", "microsoft_smtp_auth_disabled"),
    ("535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
     "smtp.office365.com", "microsoft_basic_auth_disabled"),
    (("A1 NO [ALERT] Application-specific password required: "
     "https://support.google.com/accounts/answer/185833 (Failure)"), "imap.gmail.com",
     "gmail_app_password_required"),
    ("535-5.7.8 Username and Password not accepted. gsmtp", "smtp.gmail.com", "gmail_password_refused"),
    ("A1 NO [AUTHENTICATIONFAILED] LOGIN failed", "imap.mail.yahoo.com", "yahoo_app_password"),
    ("A1 NO [AUTHENTICATIONFAILED] Authentication failed.", "imap.mail.me.com", "icloud_app_password"),
    (("334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xl"
     "LmNvbS8ifQ=="), "smtp.gmail.com", "oauth_token_refused"),
    ("A1 NO [AUTHENTICATIONFAILED] Authentication failed.", "mail.example.org", "password_refused"),
])
def test_server_auth_fix_code(text, host, code):
    assert oauth.server_auth_fix_code(text, host) == code


def test_server_auth_fix_code_unknown():
    assert oauth.server_auth_fix_code("A1 NO [UNAVAILABLE] try later") == ""


def test_every_fix_code_is_worded_by_the_addon():
    """The English lives in models/crm_inbox_fixes.py (translatable); each code has one."""
    import ast
    import inspect
    from pathlib import Path

    words = Path(__file__).resolve().parents[2] / "models" / "crm_inbox_fixes.py"
    tree = ast.parse(words.read_text(encoding="utf-8"))
    worded = {k.value for node in ast.walk(tree) if isinstance(node, ast.Dict)
              for k in node.keys if isinstance(k, ast.Constant)}
    source = inspect.getsource(oauth)
    codes = set(oauth._AADSTS_CODES.values()) | set(oauth._PROVIDER_ERROR_CODES.values())
    codes |= set(oauth._GENERIC_ERROR_CODES) | {"invalid_grant", "client_rejected"}
    fn = source[source.index("def server_auth_fix_code"):]
    fn = fn[:fn.index("\ndef ", 1)] if "\ndef " in fn[1:] else fn
    codes |= set(re.findall(r'return "([a-z0-9_]+)"', fn))
    codes.add("app_password_required")  # engine.imap's hint
    assert codes <= worded, sorted(codes - worded)
