"""Loopback-only socket guard for the test tiers (no Odoo import: plain Python).

:func:`install` patches :class:`socket.socket` ``connect``, ``connect_ex`` and
``sendto`` (which ``socket.create_connection``, ``ssl``, ``smtplib``, ``imaplib``,
``asyncio``, dnspython and ``http.client`` all go through), and
``socket.create_connection`` itself: a destination outside 127.0.0.0/8 and ::1
(IPv4-mapped loopback included) is refused with ``OSError(ENETUNREACH)``, and one
line per refusal is appended to the file named by ``CRM_INBOX_SOCKET_GUARD_LOG``.
``AF_UNIX`` sockets are allowed. ``scripts/test.sh`` counts the lines per tier and
fails when there is any, or when no process of the tier was guarded (``<log>.procs``
has one line per guarded process).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import traceback

ENV = "CRM_INBOX_SOCKET_GUARD_LOG"
_installed = False


def _allowed_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def allowed(family: int, address) -> bool:
    """True when a socket of *family* may reach *address* (loopback or AF_UNIX).

    :param address: the ``connect``/``sendto`` address: ``(host, port[, ...])`` for
        AF_INET/AF_INET6 (a host name is resolved and every address must be
        loopback), a path for AF_UNIX.
    :raises socket.gaierror: a host name that does not resolve (as the real call).
    """
    if family == getattr(socket, "AF_UNIX", None):
        return True
    if not isinstance(address, tuple) or not address:
        return False
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if _allowed_ip(host):
        return True
    # a name that does not resolve raises socket.gaierror here, as the real call
    # would: nothing is reached, so it is not counted as a refusal
    infos = _real_getaddrinfo(host, None)
    return bool(infos) and all(_allowed_ip(info[4][0]) for info in infos)


def _refuse(what: str, address) -> OSError:
    path = os.environ.get(ENV)
    where = "".join(traceback.format_stack(limit=6)[:-2]).replace("\n", " | ")
    line = f"pid={os.getpid()} {what} {address!r} refused; at {where}\n"
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(line)
    return OSError(errno.ENETUNREACH, f"socket guard: {what} to {address!r} refused "
                                      "(tests reach loopback only)")


_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto
_real_create_connection = socket.create_connection


def _connect(self, address):
    if not allowed(self.family, address):
        raise _refuse("connect", address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    if not allowed(self.family, address):
        _refuse("connect_ex", address)
        return errno.ENETUNREACH
    return _real_connect_ex(self, address)


def _sendto(self, data, *args):
    address = args[-1] if args else None
    if not allowed(self.family, address):
        raise _refuse("sendto", address)
    return _real_sendto(self, data, *args)


def _create_connection(address, *args, **kwargs):
    if not allowed(socket.AF_INET, address):
        raise _refuse("create_connection", address)
    return _real_create_connection(address, *args, **kwargs)


def install() -> None:
    """Patch the socket module (idempotent)."""
    global _installed
    if _installed:
        return
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.socket.sendto = _sendto
    socket.create_connection = _create_connection
    _installed = True
    path = os.environ.get(ENV)
    if path:  # one line per guarded process: the tier shows the guard really ran
        with open(path + ".procs", "a", encoding="utf-8") as procs:
            procs.write(f"pid={os.getpid()}\n")
