"""The loopback-only socket guard of the test tiers (testkit/socket_guard.py)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "testkit"))
import socket_guard

V4, V6 = socket.AF_INET, socket.AF_INET6


@pytest.mark.parametrize(("family", "address", "ok"), [
    (V4, ("127.0.0.1", 993), True),
    (V4, ("127.8.9.10", 25), True),
    (V4, ("localhost", 25), True),
    (V6, ("::1", 993, 0, 0), True),
    (V6, ("::ffff:127.0.0.1", 993, 0, 0), True),
    (socket.AF_UNIX, "/tmp/.s.PGSQL.5432", True),
    (V4, ("10.255.255.53", 53), False),
    (V4, ("169.254.169.254", 80), False),
    (V4, ("0.0.0.0", 80), False),
    (V6, ("fd00:ec2::254", 80, 0, 0), False),
    (V6, ("::ffff:169.254.169.254", 80, 0, 0), False),
    (V4, ("192.0.2.1", 993), False),
    (V4, None, False),
])
def test_allowed(family, address, ok):
    assert socket_guard.allowed(family, address) is ok


def test_unresolvable_name_fails_like_the_real_call():
    with pytest.raises(socket.gaierror):
        socket_guard.allowed(V4, ("nonexistent.invalid", 993))


@pytest.mark.skipif(not os.environ.get(socket_guard.ENV), reason="run by scripts/test.sh")
def test_guard_is_installed_in_this_process():
    assert socket.socket.connect is socket_guard._connect
    assert socket.create_connection is socket_guard._create_connection
