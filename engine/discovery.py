"""Provider detection: from an e-mail address to IMAP and SMTP settings.

:func:`detect` tries these sources in order, each with a short timeout, and stops
at the first that gives an IMAP server:

``known_provider``
    the built-in table (:mod:`engine.providers`): the only *trusted* source.
``autoconfig``
    the domain's own Thunderbird autoconfig file,
    ``https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=<email>`` then
    ``https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml``
    (Thunderbird "Autoconfiguration" docs, clientConfig v1.1 format).
``ispdb``
    the Thunderbird ISPDB, ``<ispdb_url>/<domain>`` (same format).
``srv``
    DNS SRV records of :rfc:`6186` and :rfc:`8314` section 5.1: ``_imaps._tcp``,
    ``_imap._tcp``, ``_submissions._tcp``, ``_submission._tcp``.
``mx``
    MX records that show a hosted domain (Google Workspace, Microsoft 365...):
    the settings then come from the built-in table.
``guess``
    ``imap.<domain>`` / ``mail.<domain>`` and ``smtp.<domain>`` / ``mail.<domain>``,
    kept when a TCP connect (and for 993/465 a TLS handshake) succeeds.

Everything but the table and MX is untrusted input (DESIGN.md decision 8,
reliability.md P06 and X04): HTTPS only, TLS verified, no redirect to another host,
64 KB cap, XML without DOCTYPE, host names resolved through the configured
dnspython resolver and refused when they point at loopback, private, link-local or
metadata addresses (unless :attr:`DiscoveryConfig.allow_private`), and only the
usual mail ports. HTTP requests connect to the vetted IP address (no second
lookup, so no DNS rebinding) while keeping the host name for SNI, certificate
checks and the ``Host`` header. No password is ever sent during detection.
"""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import re
import socket
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ET
import xml.parsers.expat
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dns.exception
import dns.resolver

from .errors import (
    ConnectFailed,
    ConnectionRefused,
    ConnectTimeout,
    DiscoveryFailed,
    EngineError,
    TLSFailed,
    UnknownHost,
    UnsafeHost,
)
from .providers import (
    USERNAME_LOCALPART,
    Provider,
    ServerTemplate,
    provider_for_domain,
    provider_for_host,
    provider_for_mx,
)

#: Detection sources, in the order :func:`detect` tries them by default.
SOURCES: tuple[str, ...] = ("known_provider", "autoconfig", "ispdb", "srv", "mx", "guess")

#: Ports accepted for hosts from untrusted sources (:rfc:`8314`, :rfc:`6409`; 2525 is
#: a common alternative submission port). HTTPS fetches accept 443 and
#: :attr:`DiscoveryConfig.https_port`.
USUAL_PORTS: dict[str, frozenset[int]] = {
    "imap": frozenset({143, 993}),
    "smtp": frozenset({25, 465, 587, 2525}),
    "https": frozenset({443}),
}

#: Largest autoconfig / ISPDB document accepted, in bytes.
MAX_CONFIG_BYTES = 64 * 1024

#: Cloud metadata endpoints: refused even when private addresses are allowed
#: (AWS/GCP/Azure 169.254.169.254, AWS ECS 169.254.170.2, AWS IPv6 fd00:ec2::254,
#: Alibaba 100.100.100.200).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)

_SHARED_NAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPAT = ipaddress.ip_network("::/96")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SECURITY = {"SSL": "ssl", "STARTTLS": "starttls", "PLAIN": "none"}  # clientConfig socketType
_SECURITY_RANK = {"ssl": 0, "starttls": 1, "none": 2}
_PLAINTEXT_NOTE = "The server offers no TLS: the password would travel in clear text."


@dataclass(frozen=True)
class ServerSettings:
    """One server to connect to, placeholders already substituted.

    :ivar protocol: ``"imap"`` or ``"smtp"``.
    :ivar host: host name (IDNA A-label, no final dot).
    :ivar port: TCP port.
    :ivar security: ``"ssl"`` (implicit TLS), ``"starttls"`` or ``"none"``.
    :ivar username: user name to log in with (usually the address).
    """

    protocol: str
    host: str
    port: int
    security: str
    username: str


@dataclass(frozen=True)
class Detection:
    """What :func:`detect` found, and how.

    :ivar email: the address, as given (stripped).
    :ivar domain: its domain, lower case IDNA A-label.
    :ivar source: ``"known_provider"``, ``"autoconfig"``, ``"ispdb"``, ``"srv"``,
        ``"mx"`` or ``"guess"``.
    :ivar source_detail: the URL, DNS records or table entry used, to show the user
        ("found via MX ... -> Microsoft 365").
    :ivar provider_key: table key such as ``"gmail"`` or ``"microsoft365"``; ``""``
        when the servers are not a known provider's.
    :ivar provider_name: display name (from the table or the clientConfig
        ``displayName``), or ``""``.
    :ivar imap: IMAP server; ``None`` only for a known provider without direct IMAP
        (Proton Mail, see :attr:`notes`).
    :ivar smtp: SMTP submission server, or ``None`` when the source gave none.
    :ivar oauth_provider: ``"google"``, ``"microsoft"`` or ``""`` (password).
    :ivar notes: sentences for the user, e.g. that an app password is required.
    :ivar trusted: ``True`` when the servers come from the built-in table (sources
        ``known_provider`` and ``mx``); ``False`` for hosts taken from autoconfig,
        ISPDB, SRV or a guess, which the user should confirm before typing a
        password.
    :ivar tried: ``"source: reason"`` for each source tried before this one.
    """

    email: str
    domain: str
    source: str
    source_detail: str
    provider_key: str
    provider_name: str
    imap: ServerSettings | None
    smtp: ServerSettings | None
    oauth_provider: str = ""
    notes: tuple[str, ...] = ()
    trusted: bool = False
    tried: tuple[str, ...] = ()


#: ``probe(host, port, security) -> bool``: ``True`` when a server answers there.
Probe = Callable[[str, int, str], bool]


@dataclass(frozen=True)
class DiscoveryConfig:
    """Settings of :func:`detect`; the defaults suit production.

    :ivar ispdb_url: base URL of the Thunderbird ISPDB (HTTPS); the domain is appended.
    :ivar timeout: seconds allowed for each network operation (one DNS resolution,
        one TCP connect, TLS handshake, or one whole HTTP response).
    :ivar resolver: dnspython resolver used for every lookup, including the host
        names of HTTP requests and probes; ``None``: the system configuration.
    :ivar allow_private: administrator setting: allow hosts on loopback, private
        (RFC 1918, fc00::/7), shared (100.64/10) and link-local addresses, for
        on-premises servers (and tests). Metadata addresses stay refused.
    :ivar https_port: port of the autoconfig HTTPS requests (443; tests use their
        local server's port).
    :ivar http_verify: ``True`` to verify TLS with the system CAs, or the path of a
        CA file (PEM). ``False`` is refused: these answers decide where passwords go.
    :ivar sources: which sources to try, in order (a subset of :data:`SOURCES`).
    :ivar probe: ``probe(host, port, security) -> bool`` for the guess step, called
        only for host names that passed :func:`check_host_safe` (an exception counts
        as ``False``); ``None``: :func:`tcp_probe` to the vetted address.
    :ivar allowed_ports: extra ports accepted for untrusted hosts, besides
        :data:`USUAL_PORTS` (an admin allow-list; tests use their servers' ports).
    :ivar allowed_hosts: host names that may resolve to loopback, private or
        link-local addresses even without :attr:`allow_private` (an admin allow-list
        for one on-premises server, narrower than :attr:`allow_private`).
    """

    ispdb_url: str = "https://autoconfig.thunderbird.net/v1.1"
    timeout: float = 4.0
    resolver: dns.resolver.Resolver | None = None
    allow_private: bool = False
    https_port: int = 443
    http_verify: bool | str = True
    sources: tuple[str, ...] = SOURCES
    probe: Probe | None = None
    allowed_ports: frozenset[int] = field(default_factory=frozenset)
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = set(self.sources) - set(SOURCES)
        if unknown:
            raise ValueError(f"unknown discovery sources: {sorted(unknown)}")
        if not self.timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        if self.http_verify is False:
            raise ValueError("http_verify=False is refused: pass True or a CA file path")
        if not 0 < self.https_port < 65536:
            raise ValueError(f"invalid https_port {self.https_port}")
        object.__setattr__(self, "allowed_ports", frozenset(self.allowed_ports))
        object.__setattr__(self, "allowed_hosts",
                           frozenset(_normalize_host(h) for h in self.allowed_hosts))


class _Skip(Exception):
    """A source gave no usable answer; the message says why."""


# ---------------------------------------------------------------------------------
# Address and host checks
# ---------------------------------------------------------------------------------


def split_address(email: str) -> tuple[str, str, str]:
    """Check an address and split it.

    :param email: ``local@domain``; the domain may be an IDN (``user@bücher.example``).
    :returns: ``(email, local_part, domain)`` with *email* stripped and *domain*
        lower case IDNA A-label (``xn--bcher-kva.example``).
    :raises ValueError: not an address we can detect settings for (no ``@``, empty
        or over-long parts, spaces or control characters, invalid domain).
    :raises TypeError: *email* is not a string.
    """
    if not isinstance(email, str):
        raise TypeError("the address must be a string")
    email = email.strip()
    local, sep, domain = email.rpartition("@")
    if not sep or not local or not domain:
        raise ValueError(f"not an e-mail address: {email!r}")
    if len(email) > 254 or len(local) > 64:
        raise ValueError("the address is too long")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c == "@" for c in local):
        raise ValueError(f"invalid local part in {email!r}")
    try:
        ascii_domain = _normalize_host(domain)
    except ValueError:
        raise ValueError(f"invalid domain in {email!r}") from None
    if "." not in ascii_domain or ascii_domain.rsplit(".", 1)[1].isdigit():
        raise ValueError(f"invalid domain in {email!r}")
    return email, local, ascii_domain


def _normalize_host(host: str) -> str:
    """Lower case IDNA A-label without final dot; ValueError when not a host name."""
    host = host.strip().rstrip(".")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"invalid host name {host!r}") from None
    if not host or len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
        raise ValueError(f"invalid host name {host!r}")
    return host


def _address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                     allow_private: bool) -> str:
    """Why *ip* must not be contacted, or ``""``."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo or (None, None))[1]
        if embedded is None and (ip in _NAT64 or (ip in _IPV4_COMPAT and int(ip) > 1)):
            # NAT64 and the deprecated IPv4-compatible form (::a.b.c.d, RFC 4291 §2.5.5.1)
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return _address_problem(embedded, allow_private)
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if allow_private:
        return ""
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_NAT:
        return "shared (carrier-grade NAT)"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return ""


def _resolve(host: str, resolver: dns.resolver.Resolver, timeout: float) -> list[str]:
    """A then AAAA addresses of *host*; UnknownHost / ConnectTimeout on failure."""
    addresses: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve(host + ".", rdtype, lifetime=timeout, search=False)
        except dns.resolver.NXDOMAIN:
            raise UnknownHost(f"{host} does not exist (NXDOMAIN)", protocol="dns") from None
        except (dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            continue
        except dns.exception.Timeout:
            raise ConnectTimeout(f"DNS lookup of {host} timed out", step="dns",
                                 protocol="dns") from None
        except dns.exception.DNSException as exc:
            raise UnknownHost(f"DNS lookup of {host} failed: {exc}", protocol="dns") from None
        addresses.extend(rdata.address for rdata in answer)
    if not addresses:
        raise UnknownHost(f"{host} has no address", protocol="dns")
    return addresses


def check_host_safe(host: str, port: int, protocol: str, *, allow_private: bool,
                    resolver: dns.resolver.Resolver | None = None,
                    allowed_ports: Iterable[int] = (), allowed_hosts: Iterable[str] = (),
                    timeout: float = 4.0) -> tuple[str, ...]:
    """Refuse a host from an untrusted source before anything connects to it.

    The host is resolved once (A and AAAA, through *resolver*); every address must
    be acceptable, so a name that mixes a public and a private address is refused.
    Connect to one of the returned addresses, not to the name, so that a second
    lookup cannot return something else (DNS rebinding); keep *host* for SNI and
    certificate checks. Sources: reliability.md X04 and P06.

    :param host: host name or IP literal (``"imap.example.com"``, ``"192.0.2.7"``,
        ``"[2001:db8::1]"``); IDN names are accepted.
    :param port: TCP port; must be usual for *protocol* (:data:`USUAL_PORTS`) or in
        *allowed_ports*.
    :param protocol: ``"imap"``, ``"smtp"`` or ``"https"``.
    :param allow_private: accept loopback, private, shared and link-local addresses
        (an administrator's choice). Unspecified, multicast and cloud metadata
        addresses (:data:`METADATA_ADDRESSES`) are refused anyway.
    :param resolver: dnspython resolver; ``None``: the system configuration.
    :param allowed_ports: extra accepted ports.
    :param allowed_hosts: normalized host names treated as if *allow_private* were
        set (an administrator's allow-list).
    :param timeout: seconds for each DNS resolution.
    :returns: the vetted IP addresses (strings), A records first.
    :raises UnsafeHost: unusual port, invalid or ambiguous numeric host name
        (``"127.1"``, ``"0x7f.1"``), ``localhost``, or an address that is not allowed.
    :raises UnknownHost: the name does not resolve.
    :raises ConnectTimeout: the DNS lookup timed out (``step="dns"``).
    :raises ValueError: unknown *protocol*.
    """
    if protocol not in USUAL_PORTS:
        raise ValueError(f"unknown protocol {protocol!r}")
    if port not in USUAL_PORTS[protocol] and port not in set(allowed_ports):
        raise UnsafeHost(f"port {port} is not a usual {protocol} port", protocol=protocol)
    literal = host.strip().removeprefix("[").removesuffix("]")
    try:
        name = str(ipaddress.ip_address(literal))
        addresses = [name]
    except ValueError:
        addresses = []
    if not addresses:
        try:
            name = _normalize_host(host)
        except ValueError:
            raise UnsafeHost(f"{host!r} is not a valid host name", protocol=protocol) from None
        if name.rsplit(".", 1)[-1].isdigit() or _is_legacy_numeric(name):
            raise UnsafeHost(f"{host!r} is an ambiguous numeric host name", protocol=protocol)
        allow_private = allow_private or name in set(allowed_hosts)
        if (name == "localhost" or name.endswith(".localhost")) and not allow_private:
            raise UnsafeHost(f"{name} is a loopback name", protocol=protocol)
        if resolver is None:
            resolver = dns.resolver.Resolver()
        addresses = _resolve(name, resolver, timeout)
    for address in addresses:
        problem = _address_problem(ipaddress.ip_address(address), allow_private)
        if problem:
            raise UnsafeHost(f"{name} resolves to {address}, a {problem} address",
                             protocol=protocol)
    return tuple(addresses)


def _is_legacy_numeric(name: str) -> bool:
    """True for forms such as ``0x7f000001`` that inet_aton reads as an IPv4 address."""
    try:
        socket.inet_aton(name)
    except OSError:
        return False
    return True


# ---------------------------------------------------------------------------------
# HTTPS fetch (autoconfig, ISPDB)
# ---------------------------------------------------------------------------------


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a vetted IP address, with SNI, certificate check and Host header
    for the host name."""

    def __init__(self, host: str, port: int, address: str, *, context: ssl.SSLContext,
                 timeout: float):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _open_first(host: str, port: int, addresses: Sequence[str], context: ssl.SSLContext,
                timeout: float) -> _PinnedHTTPSConnection:
    """Connect to the first address that accepts TCP; a TLS failure is final."""
    for address in addresses[:-1]:
        conn = _PinnedHTTPSConnection(host, port, address, context=context, timeout=timeout)
        try:
            conn.connect()
            return conn
        except ssl.SSLError:
            conn.close()
            raise
        except OSError:
            conn.close()
    conn = _PinnedHTTPSConnection(host, port, addresses[-1], context=context, timeout=timeout)
    try:
        conn.connect()
    except OSError:
        conn.close()
        raise
    return conn


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def fetch_https(url: str, config: DiscoveryConfig, *,
                resolver: dns.resolver.Resolver | None = None) -> bytes:
    """GET a small document over HTTPS from a host that may be hostile.

    The host is vetted with :func:`check_host_safe` (port 443,
    :attr:`~DiscoveryConfig.https_port` or :attr:`~DiscoveryConfig.allowed_ports`)
    and the connection goes to the vetted address. Redirects are followed (at most
    3) only to the same scheme, host and port.

    :param url: ``https://host[:port]/path?query``.
    :param config: timeout (seconds for the whole response), TLS trust, address policy.
    :param resolver: overrides :attr:`DiscoveryConfig.resolver`.
    :returns: the body of a 200 response, at most :data:`MAX_CONFIG_BYTES`.
    :raises UnsafeHost: refused host, port, scheme or redirect.
    :raises ConnectFailed: DNS, TCP or TLS failure, timeout (its subclasses), an
        HTTP status other than 200, or a body over the size limit.
    """
    resolver = resolver or config.resolver
    ports = config.allowed_ports | {config.https_port}
    context = _ssl_context(config.http_verify)
    for _ in range(4):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise UnsafeHost(f"only https URLs are fetched: {url}", protocol="http")
        host, port = parts.hostname, parts.port or 443
        addresses = check_host_safe(host, port, "https", allow_private=config.allow_private,
                                    resolver=resolver, allowed_ports=ports,
                                    allowed_hosts=config.allowed_hosts,
                                    timeout=config.timeout)
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        deadline = time.monotonic() + config.timeout
        conn: _PinnedHTTPSConnection | None = None
        try:
            conn = _open_first(host, port, addresses, context, config.timeout)
            conn.sock.settimeout(max(0.01, deadline - time.monotonic()))
            conn.request("GET", target, headers={
                "Accept": "application/xml, text/xml", "User-Agent": "crm_inbox-discovery",
                "Connection": "close"})
            response = conn.getresponse()
            status = response.status
            location = response.getheader("Location", "")
            length = response.getheader("Content-Length")
            if status == 200 and length and length.isdigit() and int(length) > MAX_CONFIG_BYTES:
                raise ConnectFailed(f"{url}: response over {MAX_CONFIG_BYTES} bytes",
                                    step="fetch", protocol="http")
            body = b""
            while status == 200:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                conn.sock.settimeout(remaining)
                chunk = response.read(16384)
                if not chunk:
                    break
                body += chunk
                if len(body) > MAX_CONFIG_BYTES:
                    raise ConnectFailed(f"{url}: response over {MAX_CONFIG_BYTES} bytes",
                                        step="fetch", protocol="http")
        except ssl.SSLCertVerificationError as exc:
            raise TLSFailed(f"{url}: certificate not trusted ({exc.verify_message})",
                            protocol="http") from None
        except ssl.SSLError as exc:
            raise TLSFailed(f"{url}: TLS failed ({exc.reason})", protocol="http") from None
        except TimeoutError:
            raise ConnectTimeout(f"{url}: no answer within {config.timeout:g} s",
                                 protocol="http") from None
        except ConnectionRefusedError:
            raise ConnectionRefused(f"{url}: connection refused", protocol="http") from None
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectFailed(f"{url}: {exc.__class__.__name__}: {exc}",
                                protocol="http") from None
        finally:
            if conn is not None:
                conn.close()
        if status == 200:
            return body
        if status in (301, 302, 303, 307, 308) and location:
            new = urllib.parse.urlsplit(urllib.parse.urljoin(url, location))
            if new.scheme != "https" or new.hostname != host or (new.port or 443) != port:
                raise UnsafeHost(f"{url}: redirect to another host refused ({location})",
                                 protocol="http")
            url = new.geturl()
            continue
        raise ConnectFailed(f"{url}: HTTP {status}", step="fetch", protocol="http")
    raise ConnectFailed(f"{url}: too many redirects", step="fetch", protocol="http")


# ---------------------------------------------------------------------------------
# clientConfig (autoconfig, ISPDB)
# ---------------------------------------------------------------------------------


def _parse_xml(data: bytes) -> ET.Element:
    """ElementTree from expat with DOCTYPE and ENTITY declarations refused."""
    builder = ET.TreeBuilder()
    parser = xml.parsers.expat.ParserCreate()

    def forbid(*_args) -> None:
        raise ValueError("DOCTYPE and ENTITY declarations are refused")

    def start(tag: str, attrs: dict[str, str]) -> None:
        builder.start(tag.rsplit("}", 1)[-1], attrs)

    def end(tag: str) -> None:
        builder.end(tag.rsplit("}", 1)[-1])

    parser.StartDoctypeDeclHandler = forbid
    parser.EntityDeclHandler = forbid
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise ValueError(f"malformed XML: {exc}") from None
    return builder.close()


def _substitute(text: str, email: str, local: str, domain: str) -> str:
    return (text.replace("%EMAILADDRESS%", email).replace("%EMAILLOCALPART%", local)
            .replace("%EMAILDOMAIN%", domain))


def _pick_server(elements: Sequence[ET.Element], protocol: str, email: str, local: str,
                 domain: str) -> ServerSettings | None:
    candidates = []
    for element in elements:
        security = _SECURITY.get((element.findtext("socketType") or "").strip().upper())
        host = _substitute((element.findtext("hostname") or "").strip(), email, local, domain)
        port_text = (element.findtext("port") or "").strip()
        username = _substitute((element.findtext("username") or "").strip(), email, local,
                               domain) or email
        if security is None or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            continue
        try:
            host = _normalize_host(host)
        except ValueError:
            continue
        candidates.append(ServerSettings(protocol, host, int(port_text), security, username))
    candidates.sort(key=lambda s: _SECURITY_RANK[s.security])  # stable: document order kept
    return candidates[0] if candidates else None


def parse_client_config(data: bytes, email: str) -> tuple[ServerSettings, ServerSettings | None,
                                                           str]:
    """Read a Thunderbird clientConfig v1.1 document (autoconfig file or ISPDB entry).

    Only IMAP is read (POP3 and Exchange entries are ignored). Among several IMAP
    (or SMTP) entries, implicit TLS (``socketType`` ``SSL``) is preferred, then
    ``STARTTLS``, then ``plain`` (:rfc:`8314`); document order breaks ties.
    ``%EMAILADDRESS%``, ``%EMAILLOCALPART%`` and ``%EMAILDOMAIN%`` are substituted in
    host names and user names; a missing user name means the address. Source:
    Thunderbird autoconfig docs (wiki.mozilla.org/Thunderbird:Autoconfiguration:
    ConfigFileFormat).

    :param data: the XML bytes (any encoding XML allows).
    :param email: the address, for the placeholders.
    :returns: ``(imap, smtp or None, displayName or "")``.
    :raises ValueError: malformed XML, a DOCTYPE or ENTITY declaration (refused to
        rule out entity expansion and external entities), no ``emailProvider``, or
        no usable IMAP server.
    """
    email, local, domain = split_address(email)
    root = _parse_xml(data)
    if root.tag != "clientConfig":
        raise ValueError(f"not a clientConfig document (root <{root.tag}>)")
    provider = root.find("emailProvider")
    if provider is None:
        raise ValueError("no emailProvider in the clientConfig")
    imap = _pick_server([e for e in provider.findall("incomingServer")
                         if e.get("type", "").lower() == "imap"], "imap", email, local, domain)
    if imap is None:
        raise ValueError("no usable IMAP server in the clientConfig")
    smtp = _pick_server([e for e in provider.findall("outgoingServer")
                         if e.get("type", "").lower() == "smtp"], "smtp", email, local, domain)
    name = (provider.findtext("displayName") or "").strip()
    return imap, smtp, name


# ---------------------------------------------------------------------------------
# Probe
# ---------------------------------------------------------------------------------


def tcp_probe(host: str, port: int, security: str, *, address: str | None = None,
              timeout: float = 4.0) -> bool:
    """Tell whether a mail server answers at ``host:port``, without logging in.

    With ``security="ssl"`` a TLS handshake is enough (the certificate is not
    checked here: the real connection checks it and offers pinning). Otherwise the
    server must send an IMAP (``* OK`` / ``* PREAUTH``) or SMTP (``220``) greeting.

    :param host: host name, used for SNI (and for the connection without *address*).
    :param port: TCP port.
    :param security: ``"ssl"``, ``"starttls"`` or ``"none"``.
    :param address: the vetted IP to connect to (from :func:`check_host_safe`);
        ``None`` resolves *host* with the system resolver.
    :param timeout: seconds for the connect, and again for the handshake or greeting.
    :returns: ``True`` when a server answered as expected; never raises for network
        errors.
    """
    try:
        with socket.create_connection((address or host, port), timeout) as sock:
            sock.settimeout(timeout)
            if security == "ssl":
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                with context.wrap_socket(sock, server_hostname=host):
                    return True
            greeting = sock.recv(512)
            return greeting.startswith((b"* OK", b"* PREAUTH", b"220"))
    except (OSError, ssl.SSLError, ValueError):
        return False


# ---------------------------------------------------------------------------------
# Detection steps
# ---------------------------------------------------------------------------------


class _Context:
    """One detection run: the address, the config and the resolver."""

    def __init__(self, email: str, local: str, domain: str, config: DiscoveryConfig):
        self.email, self.local, self.domain, self.config = email, local, domain, config
        self._resolver = config.resolver

    @property
    def resolver(self) -> dns.resolver.Resolver:
        if self._resolver is None:
            try:
                self._resolver = dns.resolver.Resolver()
            except dns.exception.DNSException as exc:
                raise _Skip(f"no DNS resolver configuration ({exc})") from None
        return self._resolver

    def vet(self, host: str, port: int, protocol: str) -> tuple[str, ...]:
        """check_host_safe with this run's policy."""
        return check_host_safe(host, port, protocol, allow_private=self.config.allow_private,
                               resolver=self.resolver,
                               allowed_ports=self.config.allowed_ports,
                               allowed_hosts=self.config.allowed_hosts,
                               timeout=self.config.timeout)

    def lookup(self, name: str, rdtype: str) -> dns.resolver.Answer | None:
        """DNS answer, or ``None`` when the name or type does not exist."""
        try:
            return self.resolver.resolve(name + ".", rdtype, lifetime=self.config.timeout,
                                         search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.Timeout:
            raise _Skip(f"{rdtype} lookup of {name} timed out") from None
        except dns.exception.DNSException as exc:
            raise _Skip(f"{rdtype} lookup of {name} failed ({exc.__class__.__name__})") from None

    def settings(self, template: ServerTemplate | None, protocol: str) -> ServerSettings | None:
        if template is None:
            return None
        username = self.local if template.username == USERNAME_LOCALPART else self.email
        return ServerSettings(protocol, template.host, template.port, template.security,
                              username)

    def from_provider(self, provider: Provider, source: str, detail: str) -> Detection:
        return Detection(
            email=self.email, domain=self.domain, source=source, source_detail=detail,
            provider_key=provider.key, provider_name=provider.name,
            imap=self.settings(provider.imap, "imap"), smtp=self.settings(provider.smtp, "smtp"),
            oauth_provider=provider.oauth_provider, notes=provider.notes, trusted=True)

    def untrusted(self, source: str, detail: str, imap: ServerSettings,
                  smtp: ServerSettings | None, name: str = "", *,
                  vetted: bool = False) -> Detection:
        """Detection for hosts from an untrusted source, vetting them unless the
        caller did (*vetted*); servers listed in the table need no vetting."""
        provider = provider_for_host(imap.host)
        for server in (imap, smtp):
            if (vetted or server is None
                    or provider is not None and _is_table_server(provider, server)):
                continue
            try:
                self.vet(server.host, server.port, server.protocol)
            except EngineError as exc:
                raise _Skip(f"{detail}: {server.protocol} server refused: {exc}") from None
        notes = provider.notes if provider else ()
        if any(s is not None and s.security == "none" for s in (imap, smtp)):
            notes += (_PLAINTEXT_NOTE,)
        return Detection(
            email=self.email, domain=self.domain, source=source, source_detail=detail,
            provider_key=provider.key if provider else "",
            provider_name=provider.name if provider else name,
            imap=imap, smtp=smtp, oauth_provider=provider.oauth_provider if provider else "",
            notes=notes, trusted=False)


def _is_table_server(provider: Provider, server: ServerSettings) -> bool:
    template = provider.imap if server.protocol == "imap" else provider.smtp
    return template is not None and (template.host, template.port) == (server.host, server.port)


def _step_known_provider(ctx: _Context) -> Detection:
    provider = provider_for_domain(ctx.domain)
    if provider is None:
        raise _Skip(f"{ctx.domain} is not in the built-in table")
    return ctx.from_provider(provider, "known_provider",
                             f"built-in table: {provider.key} ({ctx.domain})")


def _config_from_url(ctx: _Context, source: str, url: str) -> Detection:
    try:
        data = fetch_https(url, ctx.config, resolver=ctx.resolver)
        imap, smtp, name = parse_client_config(data, ctx.email)
    except (EngineError, ValueError) as exc:
        text = str(exc)
        raise _Skip(text if text.startswith(url) else f"{url}: {text}") from None
    return ctx.untrusted(source, url, imap, smtp, name)


def _first_config(ctx: _Context, source: str, urls: Sequence[str]) -> Detection:
    reasons = []
    for url in urls:
        try:
            return _config_from_url(ctx, source, url)
        except _Skip as exc:
            reasons.append(str(exc))
    raise _Skip("; ".join(reasons))


def _step_autoconfig(ctx: _Context) -> Detection:
    port = "" if ctx.config.https_port == 443 else f":{ctx.config.https_port}"
    query = urllib.parse.urlencode({"emailaddress": ctx.email})
    return _first_config(ctx, "autoconfig", (
        f"https://autoconfig.{ctx.domain}{port}/mail/config-v1.1.xml?{query}",
        f"https://{ctx.domain}{port}/.well-known/autoconfig/mail/config-v1.1.xml",
    ))


def _step_ispdb(ctx: _Context) -> Detection:
    return _first_config(ctx, "ispdb", (f"{ctx.config.ispdb_url.rstrip('/')}/{ctx.domain}",))


def _srv_server(ctx: _Context, protocol: str, services: Sequence[tuple[str, str]],
                reasons: list[str]) -> tuple[ServerSettings, str] | None:
    """First usable SRV target for *protocol*: services in order, then by priority
    (lowest first) and weight (highest first, :rfc:`2782` without the random draw)."""
    for service, security in services:
        name = f"{service}.{ctx.domain}"
        answer = ctx.lookup(name, "SRV")
        if answer is None:
            continue
        records = sorted(answer, key=lambda r: (r.priority, -r.weight))
        for record in records:
            target = record.target.to_text(omit_final_dot=True)
            text = f"{name} SRV {record.priority} {record.weight} {record.port} {record.target}"
            if target in ("", "."):  # RFC 6186 section 3.4: service not offered
                reasons.append(f"{name}: not offered ('.')")
                break
            try:
                host = _normalize_host(target)
                ctx.vet(host, record.port, protocol)
            except (EngineError, ValueError) as exc:
                reasons.append(f"{text}: {exc}")
                continue
            return ServerSettings(protocol, host, record.port, security, ctx.email), text
    return None


def _step_srv(ctx: _Context) -> Detection:
    reasons: list[str] = []
    imap = _srv_server(ctx, "imap", (("_imaps._tcp", "ssl"), ("_imap._tcp", "starttls")),
                       reasons)
    if imap is None:
        raise _Skip("; ".join(reasons) or f"no IMAP SRV records for {ctx.domain}")
    smtp = _srv_server(ctx, "smtp", (("_submissions._tcp", "ssl"),
                                     ("_submission._tcp", "starttls")), reasons)
    detail = "; ".join(x[1] for x in (imap, smtp) if x is not None)
    return ctx.untrusted("srv", detail, imap[0], smtp[0] if smtp else None, vetted=True)


def _step_mx(ctx: _Context) -> Detection:
    answer = ctx.lookup(ctx.domain, "MX")
    if answer is None:
        raise _Skip(f"no MX records for {ctx.domain}")
    records = sorted(answer, key=lambda r: r.preference)
    for record in records:
        provider = provider_for_mx(record.exchange.to_text())
        if provider is not None:
            return ctx.from_provider(
                provider, "mx", f"MX {ctx.domain} {record.preference} {record.exchange}")
    hosts = ", ".join(r.exchange.to_text(omit_final_dot=True) for r in records)
    raise _Skip(f"MX hosts ({hosts}) are not a known provider's")


_GUESSES = {
    "imap": (("imap", 993, "ssl"), ("imap", 143, "starttls"),
             ("mail", 993, "ssl"), ("mail", 143, "starttls")),
    "smtp": (("smtp", 465, "ssl"), ("smtp", 587, "starttls"),
             ("mail", 465, "ssl"), ("mail", 587, "starttls")),
}


def _step_guess(ctx: _Context) -> Detection:
    reasons: list[str] = []
    vetted: dict[str, tuple[str, ...] | None] = {}
    for prefix in ("imap", "smtp", "mail"):
        host = f"{prefix}.{ctx.domain}"
        try:
            vetted[host] = ctx.vet(host, 993, "imap")  # the name only; ports are usual
        except EngineError as exc:
            vetted[host] = None
            reasons.append(str(exc))
    candidates = [(protocol, f"{prefix}.{ctx.domain}", port, security)
                  for protocol, guesses in _GUESSES.items()
                  for prefix, port, security in guesses
                  if vetted[f"{prefix}.{ctx.domain}"]]

    def run(candidate: tuple[str, str, int, str]) -> bool:
        _protocol, host, port, security = candidate
        if ctx.config.probe is not None:
            try:
                return bool(ctx.config.probe(host, port, security))
            except Exception:  # noqa: BLE001 (a failing probe means "no server")
                return False
        address = vetted[host][0]  # type: ignore[index]
        return tcp_probe(host, port, security, address=address, timeout=ctx.config.timeout)

    answered: dict[tuple[str, str, int, str], bool] = {}
    if candidates:
        with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
            answered = dict(zip(candidates, pool.map(run, candidates), strict=True))
    found: dict[str, ServerSettings] = {}
    for candidate in candidates:
        protocol, host, port, security = candidate
        if protocol not in found and answered[candidate]:
            found[protocol] = ServerSettings(protocol, host, port, security, ctx.email)
    if "imap" not in found:
        tried = ", ".join(f"{c[1]}:{c[2]}" for c in candidates if c[0] == "imap")
        reasons.append(f"no IMAP server answered ({tried})" if tried else "nothing to probe")
        raise _Skip("; ".join(reasons))
    detail = "; ".join(f"{s.host}:{s.port} ({s.security}) answered" for s in found.values())
    return ctx.untrusted("guess", detail, found["imap"], found.get("smtp"), vetted=True)


_STEPS: dict[str, Callable[[_Context], Detection]] = {
    "known_provider": _step_known_provider,
    "autoconfig": _step_autoconfig,
    "ispdb": _step_ispdb,
    "srv": _step_srv,
    "mx": _step_mx,
    "guess": _step_guess,
}


def detect(email: str, config: DiscoveryConfig | None = None) -> Detection:
    """Find the IMAP and SMTP settings of an address.

    Tries :attr:`DiscoveryConfig.sources` in order (default :data:`SOURCES`: built-in
    table, autoconfig, ISPDB, DNS SRV, MX, guess; see the module docstring) and
    returns the first answer that names an IMAP server. Each network operation has
    :attr:`DiscoveryConfig.timeout` seconds; a source that fails, times out or
    points at a refused host is skipped (and listed in :attr:`Detection.tried`).
    Sources: :rfc:`6186`, :rfc:`8314`, Thunderbird autoconfig docs (clientConfig
    v1.1), Thunderbird ISPDB.

    :param email: the address, e.g. ``"anna@example.com"``.
    :param config: sources, timeouts, resolver, address policy; ``None``: defaults.
    :returns: a :class:`Detection`; check :attr:`Detection.trusted` before
        connecting with a password to hosts it names.
    :raises ValueError: *email* is not a valid address.
    :raises DiscoveryFailed: no source gave settings; the message lists each source
        tried and why it failed (also in its ``tried`` attribute, a tuple of
        ``"source: reason"`` strings).
    """
    email, local, domain = split_address(email)
    ctx = _Context(email, local, domain, config or DiscoveryConfig())
    tried: list[str] = []
    for source in ctx.config.sources:
        try:
            detection = _STEPS[source](ctx)
        except _Skip as exc:
            tried.append(f"{source}: {exc}")
            continue
        return dataclasses.replace(detection, tried=tuple(tried))
    error = DiscoveryFailed(
        f"no mail settings found for {domain}; tried " + "; ".join(tried) if tried
        else f"no mail settings found for {domain}: no source enabled")
    error.tried = tuple(tried)
    raise error
