"""Shared fixtures: one real Dovecot and one real aiosmtpd server per test session."""

from __future__ import annotations

import itertools
import uuid

import pytest

from testkit.mail_servers import DovecotServer, SMTPTestServer

USERS = {
    "alice@example.com": "alice-pass",
    "bob@example.com": "bob-pass",
}
ALICE = "alice@example.com"
BOB = "bob@example.com"

_counter = itertools.count(1)


def pytest_collection_modifyitems(session, config, items):
    """Do not import the Odoo addon while running the Odoo-free engine tests.

    The repository root is the addon (``__init__.py`` + ``__manifest__.py``),
    so pytest 8+ wraps everything in a ``Package`` node whose setup imports
    the root ``__init__.py`` (``from . import models`` -> ``import odoo``),
    which fails outside Odoo. The engine tests need nothing from it: skip
    that package-level setup (``setUpModule`` lookup) for the addon root only.
    """
    done = set()
    for item in items:
        for node in item.listchain():
            if (
                isinstance(node, pytest.Package)
                and id(node) not in done
                and (node.path / "__manifest__.py").exists()
            ):
                node.setup = lambda: None
                done.add(id(node))


@pytest.fixture(scope="session")
def dovecot():
    """A running :class:`DovecotServer` with alice and bob (passwords in ``USERS``)."""
    with DovecotServer(dict(USERS)) as server:
        yield server


@pytest.fixture(scope="session")
def smtpd():
    """A running :class:`SMTPTestServer` (plain+STARTTLS and implicit TLS) with alice and bob."""
    with SMTPTestServer(dict(USERS)) as server:
        yield server


@pytest.fixture
def fresh_folder(dovecot):
    """Create and return a new, empty folder name for alice (tests do not share folders)."""
    name = f"T{next(_counter)}-{uuid.uuid4().hex[:8]}"
    dovecot.create_folder(ALICE, name)
    return name


@pytest.fixture
def folder_factory(dovecot):
    """``make(user=ALICE) -> name``: create more fresh folders in one test."""

    def make(user: str = ALICE) -> str:
        name = f"T{next(_counter)}-{uuid.uuid4().hex[:8]}"
        dovecot.create_folder(user, name)
        return name

    return make
