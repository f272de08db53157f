"""Odoo-free protocol engine of crm_inbox.

Nothing in this package imports ``odoo`` (``engine/tests/test_engine_imports.py``
enforces it): IMAP and SMTP sessions, MIME parsing, provider detection and OAuth
live here and are tested with plain pytest against real local servers.
"""
