"""Provider detection against real local DNS, HTTPS and TCP servers (no mocks).

Every test points the real dnspython resolver at :class:`DNSTestServer` and the real
HTTPS client at :class:`HTTPTestServer`; names live under the reserved ``.test``
TLD, so nothing here can reach the Internet.
"""

from __future__ import annotations

import socket
import time

import dns.resolver
import pytest

from engine import discovery
from engine.discovery import (
    SOURCES,
    DiscoveryConfig,
    check_host_safe,
    detect,
    parse_client_config,
    split_address,
    tcp_probe,
)
from engine.errors import DiscoveryFailed, TLSFailed, UnknownHost, UnsafeHost
from engine.providers import PROVIDERS, USERNAME_LOCALPART, provider_for_mx
from testkit.net_servers import HANG, DNSTestServer, HTTPTestServer, TCPTestServer

LOOPBACK = {"A": ["127.0.0.1"]}


def client_config(imap=(("imap.%EMAILDOMAIN%", 993, "SSL", "%EMAILADDRESS%"),),
                  smtp=(("smtp.%EMAILDOMAIN%", 587, "STARTTLS", "%EMAILADDRESS%"),),
                  name="Acme Mail", prolog="") -> str:
    """A clientConfig v1.1 document (Thunderbird format) with a POP3 entry first."""
    def server(kind, tag, host, port, socket_type, username):
        return (f'<{tag} type="{kind}"><hostname>{host}</hostname><port>{port}</port>'
                f"<socketType>{socket_type}</socketType><username>{username}</username>"
                f"<authentication>password-cleartext</authentication></{tag}>")
    parts = [server("pop3", "incomingServer", "pop.example.test", 995, "SSL", "%EMAILADDRESS%")]
    parts += [server("imap", "incomingServer", *entry) for entry in imap]
    parts += [server("smtp", "outgoingServer", *entry) for entry in smtp]
    return (f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<clientConfig version="1.1">'
            f'<emailProvider id="x"><domain>x</domain><displayName>{name}</displayName>'
            + "".join(parts) + "</emailProvider></clientConfig>")


@pytest.fixture
def dns_server():
    with DNSTestServer({}) as server:
        yield server


def make_config(dns_server: DNSTestServer, web: HTTPTestServer | None = None,
                **overrides) -> DiscoveryConfig:
    options = {"resolver": dns_server.resolver(lifetime=1.0), "allow_private": True,
               "timeout": 1.0, "probe": lambda host, port, security: False}
    if web is not None:
        options.update(https_port=web.port, http_verify=web.cafile,
                       ispdb_url=f"https://ispdb.test:{web.port}/v1.1")
    options.update(overrides)
    return DiscoveryConfig(**options)


def free_port() -> int:
    """A port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- (a) built-in table ------------------------------------------------------------


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p.domains], ids=lambda p: p.key)
def test_every_table_domain_is_detected_without_network(provider, dns_server):
    config = make_config(dns_server)
    for domain in provider.domains:
        found = detect(f"Jane.Doe@{domain.upper()}", config)
        assert (found.source, found.provider_key, found.provider_name) == (
            "known_provider", provider.key, provider.name)
        assert found.domain == domain and found.trusted
        assert found.source_detail == f"built-in table: {provider.key} ({domain})"
        assert found.oauth_provider == provider.oauth_provider
        assert found.notes == provider.notes
        for protocol, template, server in (("imap", provider.imap, found.imap),
                                           ("smtp", provider.smtp, found.smtp)):
            if template is None:
                assert server is None
                continue
            local = template.username == USERNAME_LOCALPART
            assert server == discovery.ServerSettings(
                protocol, template.host, template.port, template.security,
                "Jane.Doe" if local else f"Jane.Doe@{domain.upper()}")
    assert dns_server.queries == []


def test_table_contents_for_the_providers_the_issue_names():
    by_key = {p.key: p for p in PROVIDERS}
    assert by_key["gmail"].imap.host == "imap.gmail.com"
    assert by_key["gmail"].oauth_provider == "google"
    for key in ("outlook", "microsoft365"):
        assert by_key[key].oauth_provider == "microsoft"
        assert by_key[key].imap.host == "outlook.office365.com"
    for key in ("icloud", "yahoo", "aol", "fastmail"):
        assert any("password" in note for note in by_key[key].notes), key
    assert by_key["icloud"].imap.username == USERNAME_LOCALPART
    assert by_key["proton"].imap is None and "Bridge" in by_key["proton"].notes[0]
    for domain in ("gmail.com", "googlemail.com", "hotmail.com", "live.com", "msn.com",
                   "outlook.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "rocketmail.com",
                   "icloud.com", "me.com", "mac.com", "fastmail.com", "fastmail.fm", "gmx.de",
                   "gmx.net", "gmx.com", "gmx.at", "gmx.ch", "web.de", "zoho.com",
                   "zohomail.com", "yandex.ru", "yandex.com", "ya.ru", "aol.com", "proton.me",
                   "protonmail.com", "mail.ru", "t-online.de", "orange.fr", "free.fr",
                   "libero.it", "qq.com", "163.com", "comcast.net"):
        assert discovery.provider_for_domain(domain) is not None, domain
    domains = [d for p in PROVIDERS for d in p.domains]
    assert len(domains) == len(set(domains)), "a domain is listed twice"


def test_proton_is_a_note_only(dns_server):
    found = detect("a@proton.me", make_config(dns_server))
    assert found.imap is None and found.smtp is None and found.provider_key == "proton"


def test_sources_can_be_restricted(dns_server):
    with pytest.raises(DiscoveryFailed) as info:
        detect("a@gmail.com", make_config(dns_server, sources=("mx",)))
    assert info.value.tried == ("mx: no MX records for gmail.com",)


# --- (b) autoconfig ----------------------------------------------------------------


def test_autoconfig_subdomain(dns_server):
    dns_server.zone.update({"autoconfig.acme.test": LOOPBACK, "imap.acme.test": LOOPBACK,
                            "smtp.acme.test": LOOPBACK})
    xml = client_config(
        imap=(("imap.%EMAILDOMAIN%", 143, "STARTTLS", "%EMAILADDRESS%"),
              ("imap.%EMAILDOMAIN%", 993, "SSL", "%EMAILLOCALPART%")),
        smtp=(("smtp.acme.test", 587, "STARTTLS", ""),
              ("smtp.acme.test", 465, "SSL", "%EMAILADDRESS%")))
    with HTTPTestServer({"autoconfig.acme.test/mail/config-v1.1.xml": (200, xml)}) as web:
        found = detect("anna@acme.test", make_config(dns_server, web))
    url = (f"https://autoconfig.acme.test:{web.port}/mail/config-v1.1.xml"
           "?emailaddress=anna%40acme.test")
    assert (found.source, found.source_detail, found.trusted) == ("autoconfig", url, False)
    assert found.provider_name == "Acme Mail" and found.provider_key == ""
    assert found.imap == discovery.ServerSettings("imap", "imap.acme.test", 993, "ssl", "anna")
    assert found.smtp == discovery.ServerSettings("smtp", "smtp.acme.test", 465, "ssl",
                                                  "anna@acme.test")
    assert found.tried == ("known_provider: acme.test is not in the built-in table",)
    # the HTTP host name went through our resolver, and the request kept the name
    assert ("autoconfig.acme.test.", "A", "udp") in dns_server.queries
    (host, path, headers), = web.requests
    assert host == "autoconfig.acme.test"
    assert path == "/mail/config-v1.1.xml?emailaddress=anna%40acme.test"
    assert headers["Host"] == f"autoconfig.acme.test:{web.port}"


def test_autoconfig_well_known_when_the_subdomain_does_not_exist(dns_server):
    dns_server.zone.update({"acme.test": LOOPBACK, "mail.acme.test": LOOPBACK})
    xml = client_config(imap=(("mail.acme.test", 993, "SSL", "%EMAILADDRESS%"),),
                        smtp=(("mail.acme.test", 587, "STARTTLS", "%EMAILADDRESS%"),))
    routes = {"acme.test/.well-known/autoconfig/mail/config-v1.1.xml": (200, xml)}
    with HTTPTestServer(routes) as web:
        found = detect("anna@acme.test", make_config(dns_server, web))
    assert found.source == "autoconfig"
    assert found.source_detail == (
        f"https://acme.test:{web.port}/.well-known/autoconfig/mail/config-v1.1.xml")
    assert (found.imap.host, found.imap.port, found.imap.security) == (
        "mail.acme.test", 993, "ssl")
    assert (found.smtp.port, found.smtp.security) == (587, "starttls")


def test_autoconfig_pointing_at_a_known_provider_names_it(dns_server):
    """A custom domain whose autoconfig says outlook.office365.com is Microsoft 365,
    with Microsoft sign-in; table hosts need no address check."""
    dns_server.zone["autoconfig.contoso.test"] = LOOPBACK
    xml = client_config(imap=(("outlook.office365.com", 993, "SSL", "%EMAILADDRESS%"),),
                        smtp=(("smtp.office365.com", 587, "STARTTLS", "%EMAILADDRESS%"),))
    with HTTPTestServer({"autoconfig.contoso.test/mail/config-v1.1.xml": (200, xml)}) as web:
        found = detect("bob@contoso.test", make_config(dns_server, web))
    assert (found.provider_key, found.oauth_provider, found.trusted) == (
        "microsoft365", "microsoft", False)


def test_same_host_redirect_is_followed_other_host_refused(dns_server):
    dns_server.zone.update({"autoconfig.acme.test": LOOPBACK, "acme.test": LOOPBACK,
                            "imap.acme.test": LOOPBACK, "smtp.acme.test": LOOPBACK})
    routes = {"autoconfig.acme.test/mail/config-v1.1.xml": (302, b"", {
                  "Location": "https://elsewhere.test/mail/config-v1.1.xml"}),
              "acme.test/.well-known/autoconfig/mail/config-v1.1.xml": (301, b"", {
                  "Location": "/v2/config.xml"}),
              "acme.test/v2/config.xml": (200, client_config())}
    with HTTPTestServer(routes) as web:
        found = detect("anna@acme.test", make_config(dns_server, web))
    assert found.source == "autoconfig" and found.imap.host == "imap.acme.test"
    assert [r[:2] for r in web.requests] == [
        ("autoconfig.acme.test", "/mail/config-v1.1.xml?emailaddress=anna%40acme.test"),
        ("acme.test", "/.well-known/autoconfig/mail/config-v1.1.xml"),
        ("acme.test", "/v2/config.xml")]


# --- (c) ISPDB ---------------------------------------------------------------------


def test_ispdb(dns_server):
    dns_server.zone.update({"ispdb.test": LOOPBACK, "mx.isp.test": LOOPBACK})
    xml = client_config(imap=(("mx.isp.test", 993, "SSL", "%EMAILADDRESS%"),),
                        smtp=(("mx.isp.test", 465, "SSL", "%EMAILADDRESS%"),), name="ISP")
    with HTTPTestServer({"ispdb.test/v1.1/isp.test": (200, xml)}) as web:
        found = detect("carl@isp.test", make_config(dns_server, web))
    assert found.source == "ispdb"
    assert found.source_detail == f"https://ispdb.test:{web.port}/v1.1/isp.test"
    assert found.imap == discovery.ServerSettings("imap", "mx.isp.test", 993, "ssl",
                                                  "carl@isp.test")
    assert [t.split(":")[0] for t in found.tried] == ["known_provider", "autoconfig"]
    assert "does not exist" in found.tried[1]


# --- (d) SRV -----------------------------------------------------------------------


def test_srv_records(dns_server):
    dns_server.zone.update({
        "_imaps._tcp.srv.test": {"SRV": ["10 1 993 backup.srv.test.", "0 5 993 imap.srv.test.",
                                         "0 10 993 imap2.srv.test."]},
        "_imap._tcp.srv.test": {"SRV": ["0 1 143 plain.srv.test."]},
        "_submissions._tcp.srv.test": {"SRV": ["0 0 0 ."]},  # RFC 6186: not offered
        "_submission._tcp.srv.test": {"SRV": ["0 1 587 smtp.srv.test."]},
        "imap2.srv.test": LOOPBACK, "smtp.srv.test": LOOPBACK,
    })
    found = detect("dora@srv.test", make_config(dns_server))
    assert found.source == "srv" and not found.trusted
    assert found.imap == discovery.ServerSettings("imap", "imap2.srv.test", 993, "ssl",
                                                  "dora@srv.test")
    assert found.smtp == discovery.ServerSettings("smtp", "smtp.srv.test", 587, "starttls",
                                                  "dora@srv.test")
    assert found.source_detail == (
        "_imaps._tcp.srv.test SRV 0 10 993 imap2.srv.test.; "
        "_submission._tcp.srv.test SRV 0 1 587 smtp.srv.test.")
    assert [t.split(":")[0] for t in found.tried] == ["known_provider", "autoconfig", "ispdb"]


def test_srv_target_on_private_address_or_odd_port_is_skipped(dns_server):
    dns_server.zone.update({
        "_imaps._tcp.srv.test": {"SRV": ["0 1 993 internal.srv.test.",
                                         "1 1 6379 redis.srv.test.",
                                         "2 1 993 metadata.srv.test."]},
        "_imap._tcp.srv.test": {"SRV": ["0 1 143 good.srv.test."]},
        "internal.srv.test": {"A": ["10.0.0.1"]}, "redis.srv.test": {"A": ["198.41.0.4"]},
        "metadata.srv.test": {"A": ["169.254.169.254"]}, "good.srv.test": {"A": ["198.41.0.4"]},
    })
    found = detect("dora@srv.test", make_config(dns_server, allow_private=False,
                                                sources=("srv",)))
    assert (found.imap.host, found.imap.security) == ("good.srv.test", "starttls")
    assert found.smtp is None
    # an administrator's allow-list by name lets one on-premises server through
    found = detect("dora@srv.test", make_config(dns_server, allow_private=False,
                                                sources=("srv",),
                                                allowed_hosts=frozenset({"internal.srv.test"})))
    assert (found.imap.host, found.imap.security) == ("internal.srv.test", "ssl")
    del dns_server.zone["_imap._tcp.srv.test"]
    with pytest.raises(DiscoveryFailed) as info:
        detect("dora@srv.test", make_config(dns_server, allow_private=False, sources=("srv",)))
    message = str(info.value)
    assert "internal.srv.test resolves to 10.0.0.1, a private address" in message
    assert "redis.srv.test.: port 6379 is not a usual imap port" in message
    assert "metadata.srv.test resolves to 169.254.169.254, a cloud metadata address" in message


# --- (e) MX ------------------------------------------------------------------------


@pytest.mark.parametrize(("mx", "key", "oauth"), [
    (["1 aspmx.l.google.com.", "5 alt1.aspmx.l.google.com."], "google_workspace", "google"),
    (["1 smtp.google.com."], "google_workspace", "google"),
    (["10 alt2.aspmx.l.googlemail.com."], "google_workspace", "google"),
    (["0 contoso-test.mail.protection.outlook.com."], "microsoft365", "microsoft"),
    (["5 mx.other.test.", "10 contoso-test.mail.protection.outlook.com."], "microsoft365",
     "microsoft"),
])
def test_mx_reveals_hosted_domains(dns_server, mx, key, oauth):
    dns_server.zone["hosted.test"] = {"MX": mx}
    found = detect("eve@hosted.test", make_config(dns_server))
    assert (found.source, found.provider_key, found.oauth_provider, found.trusted) == (
        "mx", key, oauth, True)
    expected = provider_for_mx(mx[-1].split()[1])
    assert found.imap.host == expected.imap.host and found.smtp.host == expected.smtp.host
    assert found.imap.username == "eve@hosted.test"
    matched = next(r for r in mx if provider_for_mx(r.split()[1]))
    assert found.source_detail == f"MX hosted.test {matched}"


def test_mx_of_an_unknown_provider_is_not_an_answer(dns_server):
    dns_server.zone["plain.test"] = {"MX": ["10 mx.plain.test."]}
    with pytest.raises(DiscoveryFailed, match=r"mx: MX hosts \(mx.plain.test\) are not"):
        detect("a@plain.test", make_config(dns_server))


# --- (f) guess ---------------------------------------------------------------------


def test_guess_confirmed_by_real_tcp_and_tls(dns_server):
    dns_server.zone.update({"imap.guess.test": LOOPBACK, "smtp.guess.test": LOOPBACK})
    closed = free_port()
    with TCPTestServer(tls=True, hostnames=["imap.guess.test"]) as imaps, \
            TCPTestServer(b"220 smtp.guess.test ESMTP\r\n") as submission:
        ports = {993: imaps.port, 587: submission.port}
        calls = []

        def probe(host, port, security):
            calls.append((host, port, security))
            return tcp_probe(host, ports.get(port, closed), security, address="127.0.0.1",
                             timeout=1.0)

        found = detect("finn@guess.test", make_config(dns_server, probe=probe))
    assert found.source == "guess" and not found.trusted
    assert found.imap == discovery.ServerSettings("imap", "imap.guess.test", 993, "ssl",
                                                  "finn@guess.test")
    assert found.smtp == discovery.ServerSettings("smtp", "smtp.guess.test", 587, "starttls",
                                                  "finn@guess.test")
    assert found.source_detail == ("imap.guess.test:993 (ssl) answered; "
                                   "smtp.guess.test:587 (starttls) answered")
    assert imaps.accepted >= 1 and submission.accepted >= 1
    # mail.guess.test does not resolve: it was never probed
    assert {host for host, _, _ in calls} == {"imap.guess.test", "smtp.guess.test"}


def test_guess_refuses_names_on_private_addresses(dns_server):
    dns_server.zone.update({"imap.lan.test": {"A": ["192.168.1.10"]}})
    calls = []
    config = make_config(dns_server, allow_private=False, sources=("guess",),
                         probe=lambda *args: calls.append(args) or True)
    with pytest.raises(DiscoveryFailed, match="192.168.1.10, a private address"):
        detect("a@lan.test", config)
    assert calls == []


def test_tcp_probe_against_real_listeners():
    with TCPTestServer(tls=True) as tls_server, TCPTestServer(b"* OK IMAP4rev1\r\n") as imap:
        assert tcp_probe("imap.x.test", tls_server.port, "ssl", address="127.0.0.1")
        assert tcp_probe("imap.x.test", imap.port, "starttls", address="127.0.0.1")
        # a TLS port says nothing before the handshake: no greeting, so no
        assert not tcp_probe("imap.x.test", tls_server.port, "starttls", address="127.0.0.1",
                             timeout=0.3)
        # a plain-text server does not complete a TLS handshake
        assert not tcp_probe("imap.x.test", imap.port, "ssl", address="127.0.0.1", timeout=1)
    assert not tcp_probe("imap.x.test", free_port(), "ssl", address="127.0.0.1", timeout=1)


# --- untrusted hosts ---------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254"])
def test_autoconfig_pointing_at_internal_addresses_is_refused(dns_server, address):
    """The HTTPS server itself is allowed by name (admin allow-list), the IMAP host
    it names is not."""
    dns_server.zone.update({"autoconfig.evil.test": LOOPBACK, "imap.evil.test": {"A": [address]}})
    xml = client_config(imap=(("imap.evil.test", 993, "SSL", "%EMAILADDRESS%"),), smtp=())
    with HTTPTestServer({"autoconfig.evil.test/mail/config-v1.1.xml": (200, xml)}) as web:
        config = make_config(dns_server, web, allow_private=False,
                             allowed_hosts=frozenset({"autoconfig.evil.test"}),
                             allowed_ports=frozenset({web.port}), sources=("autoconfig",))
        with pytest.raises(DiscoveryFailed) as info:
            detect("a@evil.test", config)
    assert len(web.requests) == 1
    assert f"imap server refused: imap.evil.test resolves to {address}" in str(info.value)


def test_autoconfig_on_a_private_address_is_not_fetched(dns_server):
    dns_server.zone.update({"autoconfig.evil.test": LOOPBACK, "evil.test": {"A": ["10.1.2.3"]}})
    with HTTPTestServer({"autoconfig.evil.test/mail/config-v1.1.xml": (200, "")}) as web:
        config = make_config(dns_server, web, allow_private=False,
                             allowed_ports=frozenset({web.port}), sources=("autoconfig",))
        with pytest.raises(DiscoveryFailed) as info:
            detect("a@evil.test", config)
    assert web.requests == []
    assert "127.0.0.1, a loopback address" in str(info.value)
    assert "10.1.2.3, a private address" in str(info.value)


def test_metadata_address_refused_even_when_private_is_allowed(dns_server):
    dns_server.zone.update({"autoconfig.cloud.test": LOOPBACK,
                            "imap.cloud.test": {"AAAA": ["fd00:ec2::254"]}})
    xml = client_config(imap=(("imap.cloud.test", 993, "SSL", "%EMAILADDRESS%"),), smtp=())
    with (
        HTTPTestServer({"autoconfig.cloud.test/mail/config-v1.1.xml": (200, xml)}) as web,
        pytest.raises(DiscoveryFailed, match="fd00:ec2::254, a cloud metadata address"),
    ):
        detect("a@cloud.test", make_config(dns_server, web, sources=("autoconfig",)))


def test_unusual_port_from_autoconfig_is_refused(dns_server):
    dns_server.zone.update({"autoconfig.acme.test": LOOPBACK, "imap.acme.test": LOOPBACK})
    xml = client_config(imap=(("imap.acme.test", 6379, "SSL", "%EMAILADDRESS%"),), smtp=())
    with (
        HTTPTestServer({"autoconfig.acme.test/mail/config-v1.1.xml": (200, xml)}) as web,
        pytest.raises(DiscoveryFailed, match="port 6379 is not a usual imap port"),
    ):
        detect("a@acme.test", make_config(dns_server, web, sources=("autoconfig",)))


@pytest.mark.parametrize("prolog", [
    '<!DOCTYPE clientConfig [<!ENTITY h "imap.evil.test">]>',
    '<!DOCTYPE clientConfig SYSTEM "http://evil.test/x.dtd">',
    '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
])
def test_autoconfig_with_doctype_or_entity_is_refused(dns_server, prolog):
    dns_server.zone.update({"autoconfig.acme.test": LOOPBACK, "imap.acme.test": LOOPBACK})
    xml = client_config(prolog=prolog)
    with (
        HTTPTestServer({"autoconfig.acme.test/mail/config-v1.1.xml": (200, xml)}) as web,
        pytest.raises(DiscoveryFailed, match="DOCTYPE and ENTITY declarations are refused"),
    ):
        detect("a@acme.test", make_config(dns_server, web, sources=("autoconfig",)))


def test_parse_client_config_refuses_doctype_in_any_encoding():
    xml = client_config(prolog='<!DOCTYPE c [<!ENTITY e "x">]>').replace("UTF-8", "UTF-16")
    with pytest.raises(ValueError, match="DOCTYPE"):
        parse_client_config(xml.encode("utf-16"), "a@acme.test")
    with pytest.raises(ValueError, match="malformed XML"):
        parse_client_config(b"<clientConfig><emailProvider>&undefined;</emailProvider>"
                            b"</clientConfig>", "a@acme.test")


def test_parse_client_config_ignores_pop3_and_needs_imap():
    with pytest.raises(ValueError, match="no usable IMAP server"):
        parse_client_config(client_config(imap=()).encode(), "a@acme.test")
    imap, smtp, name = parse_client_config(
        client_config(imap=(("imap.acme.test", 143, "plain", ""),), smtp=()).encode(),
        "a@acme.test")
    assert (imap.security, imap.username, smtp, name) == ("none", "a@acme.test", None,
                                                          "Acme Mail")


def test_plaintext_only_config_carries_a_warning(dns_server):
    dns_server.zone.update({"autoconfig.old.test": LOOPBACK, "mail.old.test": LOOPBACK})
    xml = client_config(imap=(("mail.old.test", 143, "plain", "%EMAILADDRESS%"),), smtp=())
    with HTTPTestServer({"autoconfig.old.test/mail/config-v1.1.xml": (200, xml)}) as web:
        found = detect("a@old.test", make_config(dns_server, web))
    assert found.imap.security == "none"
    assert found.notes == (discovery._PLAINTEXT_NOTE,)


def test_oversized_response_is_refused(dns_server):
    dns_server.zone.update({"autoconfig.big.test": LOOPBACK, "imap.big.test": LOOPBACK})
    xml = client_config().replace("<domain>x</domain>", "<!--" + "x" * 70_000 + "-->")
    with (
        HTTPTestServer({"autoconfig.big.test/mail/config-v1.1.xml": (200, xml)}) as web,
        pytest.raises(DiscoveryFailed, match="response over 65536 bytes"),
    ):
        detect("a@big.test", make_config(dns_server, web, sources=("autoconfig",)))


def test_untrusted_certificate_is_refused(dns_server):
    dns_server.zone.update({"autoconfig.acme.test": LOOPBACK, "imap.acme.test": LOOPBACK})
    with HTTPTestServer({"autoconfig.acme.test/mail/config-v1.1.xml": (200, client_config())},
                        ) as web:
        config = make_config(dns_server, web, http_verify=True)  # system CAs only
        with pytest.raises(TLSFailed, match="certificate not trusted"):
            discovery.fetch_https(f"https://autoconfig.acme.test:{web.port}/mail/"
                                  "config-v1.1.xml", config)
        # a certificate for other names fails too, through the same trust store
        dns_server.zone["other.test"] = LOOPBACK
        with pytest.raises(TLSFailed, match="certificate not trusted"):
            discovery.fetch_https(f"https://other.test:{web.port}/x",
                                  make_config(dns_server, web))
    assert web.requests == []


def test_hanging_http_server_times_out_and_detection_moves_on(dns_server):
    dns_server.zone.update({
        "autoconfig.slow.test": LOOPBACK, "slow.test": LOOPBACK, "ispdb.test": LOOPBACK,
        "_imaps._tcp.slow.test": {"SRV": ["0 1 993 imap.slow.test."]},
        "imap.slow.test": LOOPBACK})
    routes = {"autoconfig.slow.test/mail/config-v1.1.xml": HANG,
              "slow.test/.well-known/autoconfig/mail/config-v1.1.xml": HANG,
              "ispdb.test/v1.1/slow.test": HANG}
    with HTTPTestServer(routes) as web:
        started = time.monotonic()
        found = detect("a@slow.test", make_config(dns_server, web, timeout=0.5))
        elapsed = time.monotonic() - started
    assert found.source == "srv" and found.imap.host == "imap.slow.test"
    assert elapsed < 4, elapsed
    assert "no answer within 0.5 s" in found.tried[1] and "no answer within" in found.tried[2]


def test_dns_timeout_moves_on(dns_server):
    dns_server.drop = {"_imaps._tcp.mute.test.", "mute.test."}
    dns_server.zone.update({"imap.mute.test": LOOPBACK})
    found = detect("a@mute.test", make_config(
        dns_server, timeout=0.5, sources=("srv", "mx", "guess"),
        probe=lambda host, port, security: (host, port) == ("imap.mute.test", 993)))
    assert found.source == "guess"
    assert found.tried == ("srv: SRV lookup of _imaps._tcp.mute.test timed out",
                           "mx: MX lookup of mute.test timed out")


def test_discovery_failed_lists_every_source_tried(dns_server):
    with HTTPTestServer({}, hostnames=["ispdb.test"]) as web:
        dns_server.zone["ispdb.test"] = LOOPBACK
        with pytest.raises(DiscoveryFailed) as info:
            detect("nobody@nothing.test", make_config(dns_server, web))
    error = info.value
    assert [t.split(":")[0] for t in error.tried] == list(SOURCES)
    message = str(error)
    assert message.startswith("no mail settings found for nothing.test; tried known_provider:")
    for source in SOURCES:
        assert f"{source}: " in message
    assert "HTTP 404" in message
    assert error.step == "discover"


# --- check_host_safe and addresses -------------------------------------------------


@pytest.mark.parametrize("host", [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.0.1", "100.64.0.1", "169.254.169.254",
    "0.0.0.0", "::1", "[::1]", "::ffff:127.0.0.1", "fe80::1", "fd00:ec2::254",
    "2002:7f00:1::", "64:ff9b::a00:1", "224.0.0.1", "127.1", "0x7f.1", "2130706433",
    "0x7f000001", "localhost", "LOCALHOST.", "a.localhost", "bad_name.test", "",
])
def test_check_host_safe_refuses(host):
    with pytest.raises(UnsafeHost):
        check_host_safe(host, 993, "imap", allow_private=False,
                        resolver=dns.resolver.Resolver(configure=False))


def test_check_host_safe_accepts_public_and_resolves_through_the_resolver(dns_server):
    assert check_host_safe("8.8.8.8", 993, "imap", allow_private=False) == ("8.8.8.8",)
    dns_server.zone.update({"mail.pub.test": {"A": ["198.41.0.4", "93.184.215.14"],
                                              "AAAA": ["2001:503:ba3e::2:30"]},
                            "doc.pub.test": {"A": ["192.0.2.1"]},
                            "mixed.pub.test": {"A": ["198.41.0.4", "10.0.0.5"]},
                            "alias.pub.test": {"CNAME": ["inner.pub.test."]},
                            "inner.pub.test": {"A": ["127.0.0.1"]}})
    resolver = dns_server.resolver()
    addresses = check_host_safe("mail.pub.test", 587, "smtp", allow_private=False,
                                resolver=resolver)
    assert sorted(addresses[:2]) == ["198.41.0.4", "93.184.215.14"]  # A first, then AAAA
    assert addresses[2:] == ("2001:503:ba3e::2:30",)
    # documentation ranges (RFC 5737) are not global: refused too
    with pytest.raises(UnsafeHost, match="192.0.2.1, a private address"):
        check_host_safe("doc.pub.test", 993, "imap", allow_private=False, resolver=resolver)
    with pytest.raises(UnsafeHost, match="10.0.0.5, a private address"):
        check_host_safe("mixed.pub.test", 993, "imap", allow_private=False, resolver=resolver,
                        allowed_hosts={"mail.pub.test"})
    with pytest.raises(UnsafeHost, match="127.0.0.1, a loopback address"):
        check_host_safe("alias.pub.test", 993, "imap", allow_private=False, resolver=resolver)
    assert check_host_safe("alias.pub.test", 993, "imap", allow_private=False,
                           resolver=resolver, allowed_hosts={"alias.pub.test"}) == ("127.0.0.1",)
    with pytest.raises(UnknownHost):
        check_host_safe("missing.pub.test", 993, "imap", allow_private=True, resolver=resolver)


@pytest.mark.parametrize(("port", "protocol", "ok"), [
    (993, "imap", True), (143, "imap", True), (465, "smtp", True), (587, "smtp", True),
    (25, "smtp", True), (2525, "smtp", True), (443, "https", True), (993, "smtp", False),
    (6379, "imap", False), (22, "smtp", False), (8443, "https", False),
])
def test_check_host_safe_ports(port, protocol, ok):
    if ok:
        check_host_safe("8.8.8.8", port, protocol, allow_private=False)
    else:
        with pytest.raises(UnsafeHost, match=f"port {port}"):
            check_host_safe("8.8.8.8", port, protocol, allow_private=False)
    check_host_safe("8.8.8.8", port, protocol, allow_private=False, allowed_ports={port})


# --- inputs ------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["", "anna", "anna@", "@acme.test", "an na@acme.test",
                                   "a@b@acme.test", "a@acme..test", "a@-acme.test",
                                   "a@localhost", "a@127.0.0.1", "a\n@acme.test",
                                   "a@" + "x" * 64 + ".test"])
def test_invalid_addresses_raise_value_error(email, dns_server):
    with pytest.raises(ValueError):
        detect(email, make_config(dns_server))
    assert dns_server.queries == []


def test_idn_domain_is_looked_up_as_a_labels(dns_server):
    assert split_address(" Anna@Bücher.TEST ") == ("Anna@Bücher.TEST", "Anna",
                                                   "xn--bcher-kva.test")
    dns_server.zone["xn--bcher-kva.test"] = {"MX": ["1 aspmx.l.google.com."]}
    found = detect("anna@bücher.test", make_config(dns_server, sources=("mx",)))
    assert found.domain == "xn--bcher-kva.test" and found.provider_key == "google_workspace"


def test_config_validation():
    with pytest.raises(ValueError, match="http_verify=False"):
        DiscoveryConfig(http_verify=False)
    with pytest.raises(ValueError, match="unknown discovery sources"):
        DiscoveryConfig(sources=("known_provider", "carrier_pigeon"))
    with pytest.raises(ValueError, match="timeout"):
        DiscoveryConfig(timeout=0)


# --- the test servers themselves ---------------------------------------------------


def test_dns_test_server_answers_over_udp_and_tcp(dns_server):
    records = [f"0 1 993 imap{i}.example.test." for i in range(60)]  # > 512 bytes
    dns_server.zone["_imaps._tcp.example.test"] = {"SRV": records}
    resolver = dns_server.resolver()
    answer = resolver.resolve("_imaps._tcp.example.test.", "SRV", tcp=True)
    assert len(answer) == 60
    # over UDP the answer is truncated and dnspython retries over TCP by itself
    resolver.use_edns(False)
    assert len(resolver.resolve("_imaps._tcp.example.test.", "SRV")) == 60
    transports = {t for name, _, t in dns_server.queries if name == "_imaps._tcp.example.test."}
    assert transports == {"udp", "tcp"}
