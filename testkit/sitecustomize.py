"""Loaded by every Python process whose PYTHONPATH holds this directory (the test
tiers of scripts/test.sh): installs the loopback-only socket guard when
``CRM_INBOX_SOCKET_GUARD_LOG`` names the refusal log."""

import os

if os.environ.get("CRM_INBOX_SOCKET_GUARD_LOG"):
    import socket_guard

    socket_guard.install()
