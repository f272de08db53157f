"""Real local network servers for tests: DNS (UDP+TCP), HTTP(S), and a TCP/TLS listener.

No mocks: the code under test talks to these through real sockets on 127.0.0.1.

* :class:`DNSTestServer` answers from a zone dict, with responses built by
  dnspython (:func:`dns.message.make_response`); point a real
  :class:`dns.resolver.Resolver` at it with :meth:`DNSTestServer.resolver`.
* :class:`HTTPTestServer` serves fixed routes keyed by ``host/path`` (the ``Host``
  header picks the virtual host), over HTTPS with a self-signed certificate made
  by the ``openssl`` command line tool for every host name it serves.
* :class:`TCPTestServer` accepts connections, optionally does a TLS handshake, and
  writes a greeting (an IMAP or SMTP banner).

All servers are context managers; each runs its loops in daemon threads and stops
within a second of :meth:`close`. This module is imported by tests only, never by
production code.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset

#: Route value that makes :class:`HTTPTestServer` accept the request and never answer
#: (until the server is closed).
HANG = object()


def make_self_signed_cert(directory: str, hostnames: Iterable[str]) -> tuple[str, str]:
    """Create a self-signed certificate (P-256 key, 2 days) with the openssl CLI.

    :param directory: where to write ``cert.pem`` and ``key.pem``.
    :param hostnames: DNS names for the subjectAltName; ``localhost`` and the IP
        ``127.0.0.1`` are always added.
    :returns: ``(certfile, keyfile)`` paths. The certificate is its own CA: pass
        ``certfile`` as the trust store (``cafile``) of the client.
    """
    names = sorted({h.lower().rstrip(".") for h in hostnames} | {"localhost"})
    san = ",".join([f"DNS:{n}" for n in names] + ["IP:127.0.0.1"])
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=crm-inbox-test", "-addext",
         f"subjectAltName={san}", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


class DNSTestServer:
    """Authoritative-style DNS server on 127.0.0.1 (UDP and TCP on the same port).

    :param zone: ``{name: {rdtype: [rdata text, ...]}}``, e.g.
        ``{"example.test": {"MX": ["10 aspmx.l.google.com."], "A": ["192.0.2.1"]},
        "_imaps._tcp.example.test": {"SRV": ["0 1 993 mail.example.test."]}}``.
        Names are case-insensitive, with or without the final dot. A name present
        with no records of the asked type answers NOERROR/empty; an absent name
        answers NXDOMAIN. A ``CNAME`` entry is followed inside the zone. The dict
        may be changed while the server runs (``server.zone[name] = ...``).
    :param drop: names whose queries are never answered (to test timeouts).

    :ivar port: the port (UDP and TCP).
    :ivar queries: ``(name, rdtype text, "udp"|"tcp")`` of every query received.
    """

    def __init__(self, zone: Mapping[str, Mapping[str, Iterable[str]]] | None = None, *,
                 drop: Iterable[str] = ()):
        self.zone: dict = dict(zone or {})
        self.drop = {self._key(n) for n in drop}
        self.queries: list[tuple[str, str, str]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.port = 0
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None

    @staticmethod
    def _key(name: str) -> str:
        return name.lower().rstrip(".") + "."

    def _records(self, name: str) -> dict[str, list[str]] | None:
        for key, value in self.zone.items():
            if self._key(key) == name:
                return {t.upper(): list(v) for t, v in value.items()}
        return None

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        """Build the response to *query* (``None`` to stay silent)."""
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name = self._key(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        if name in self.drop:
            return None
        for _ in range(8):  # CNAME chain inside the zone
            records = self._records(name)
            if records is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                return response
            if rdtype != "CNAME" and "CNAME" in records:
                target = records["CNAME"][0]
                response.answer.append(
                    dns.rrset.from_text_list(name, 300, "IN", "CNAME", [target]))
                name = self._key(target)
                continue
            if records.get(rdtype):
                response.answer.append(
                    dns.rrset.from_text_list(name, 300, "IN", rdtype, records[rdtype]))
            return response
        return response

    # -- serving --------------------------------------------------------------------

    def start(self) -> DNSTestServer:
        for _ in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            self._udp, self._tcp, self.port = udp, tcp, port
            break
        else:  # pragma: no cover
            raise RuntimeError("no free port for UDP and TCP")
        self._udp.settimeout(0.2)
        self._tcp.settimeout(0.2)
        for target in (self._serve_udp, self._serve_tcp):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _handle(self, wire: bytes, transport: str) -> dns.message.Message | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if query.question:
            q = query.question[0]
            self.queries.append(
                (q.name.to_text().lower(), dns.rdatatype.to_text(q.rdtype), transport))
        return self.answer(query)

    def _serve_udp(self) -> None:
        assert self._udp is not None
        while not self._stop.is_set():
            try:
                wire, peer = self._udp.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            response = self._handle(wire, "udp")
            if response is None:
                continue
            max_size = max(512, response.payload if response.edns >= 0 else 512)
            try:
                out = response.to_wire(max_size=max_size)
            except dns.exception.TooBig:
                response.answer.clear()
                response.flags |= dns.flags.TC
                out = response.to_wire()
            try:
                self._udp.sendto(out, peer)
            except OSError:  # pragma: no cover  # pylint: disable=except-pass
                pass

    def _serve_tcp(self) -> None:
        assert self._tcp is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def _tcp_conn(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with conn:
                while not self._stop.is_set():
                    head = _recv_exact(conn, 2)
                    if not head:
                        return
                    wire = _recv_exact(conn, struct.unpack("!H", head)[0])
                    response = self._handle(wire, "tcp")
                    if response is None:
                        return
                    out = response.to_wire()
                    conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            return

    def resolver(self, lifetime: float = 2.0) -> dns.resolver.Resolver:
        """A real :class:`dns.resolver.Resolver` that asks only this server.

        :param lifetime: total seconds per resolution.
        """
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.port
        resolver.lifetime = lifetime
        resolver.timeout = lifetime
        return resolver

    def close(self) -> None:
        self._stop.set()
        if self.port:  # wake both loops now rather than at their next poll
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as wake:
                wake.sendto(b"", ("127.0.0.1", self.port))
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1):
                pass
        for thread in self._threads:
            thread.join(2)
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


class HTTPTestServer:
    """HTTP(S) server on 127.0.0.1 serving fixed routes per virtual host.

    :param routes: ``{"host/path": (status, body)}`` or
        ``{"host/path": (status, body, {header: value})}``; the query string is
        ignored for matching; *body* is ``bytes`` or ``str`` (UTF-8). The value
        :data:`HANG` accepts the request and never answers. Other paths: 404.
        May be changed while the server runs.
    :param tls: serve HTTPS with a self-signed certificate for every host in
        *routes* and *hostnames* (trust it with :attr:`cafile`).
    :param hostnames: more host names for the certificate.

    :ivar port: the TCP port.
    :ivar cafile: path of the certificate to trust (``None`` without TLS).
    :ivar requests: ``(host, path with query, headers dict)`` of every request.
    """

    def __init__(self, routes: Mapping[str, object] | None = None, *, tls: bool = True,
                 hostnames: Iterable[str] = ()):
        self.routes: dict = dict(routes or {})
        self.tls = tls
        self.hostnames = set(hostnames) | {k.split("/", 1)[0] for k in self.routes}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.cafile: str | None = None
        self.port = 0
        self._stop = threading.Event()
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HTTPTestServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
                path = self.path
                server.requests.append((host, path, dict(self.headers.items())))
                route = server.routes.get(host + path.split("?", 1)[0])
                if route is HANG:
                    server._stop.wait(30)
                    self.close_connection = True
                    return
                if route is None:
                    route = (404, b"not found")
                status, body, *rest = route
                headers = rest[0] if rest else {}
                if isinstance(body, str):
                    body = body.encode("utf-8")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Type" not in headers:
                    self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="crm_inbox_https_")
            cert, key = make_self_signed_cert(self._tmp.name, self.hostnames)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            # handshake in the handler thread, not in accept(): a silent client must not
            # block the server
            self._httpd.socket = context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False)
            self.cafile = cert
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(2)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class TCPTestServer:
    """TCP listener on 127.0.0.1 that greets every client (e.g. ``b"* OK ready\\r\\n"``).

    :param greeting: bytes written after accept (after the TLS handshake with *tls*).
    :param tls: do a server-side TLS handshake first (self-signed certificate for
        *hostnames*).
    :param hostnames: host names for the certificate.

    :ivar port: the TCP port.
    :ivar cafile: certificate to trust, with *tls*.
    :ivar accepted: number of connections accepted.
    """

    def __init__(self, greeting: bytes = b"* OK ready\r\n", *, tls: bool = False,
                 hostnames: Iterable[str] = ()):
        self.greeting = greeting
        self.tls = tls
        self.hostnames = list(hostnames)
        self.accepted = 0
        self.cafile: str | None = None
        self.port = 0
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._context: ssl.SSLContext | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> TCPTestServer:
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="crm_inbox_tcp_")
            cert, key = make_self_signed_cert(self._tmp.name, self.hostnames)
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(cert, key)
            self.cafile = cert
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            conn.sendall(self.greeting)
            while not self._stop.is_set() and conn.recv(4096):
                pass
        except (OSError, ssl.SSLError):  # pylint: disable=except-pass
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(2)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
