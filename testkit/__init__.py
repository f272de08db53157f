"""The test kit: local servers speaking the real protocols, and the demo mailboxes.

Used by the tests (``tests/``, ``engine/tests/``), the benchmarks and the demo
script; the addon never imports it at runtime, and nothing here is runtime code.

* :mod:`.mail_servers`: a private Dovecot (IMAP) and an aiosmtpd SMTP server;
* :mod:`.net_servers`: DNS (UDP and TCP), HTTPS and raw TCP/TLS servers;
* :mod:`.oauth_server`: an OAuth 2.0 / OIDC provider standing in for Google and
  Microsoft (authorization code + PKCE, refresh rotation, introspection);
* :mod:`.demo_mail`: the demo and bulk mailboxes;
* :mod:`.chromium`: a second headless Chromium driven over the DevTools protocol
  (two people in two browsers at once);
* :mod:`socket_guard` / ``sitecustomize``: the loopback-only guard of the test tiers
  (loaded through ``PYTHONPATH``, see ``scripts/test.sh``).

The kit is imported two ways: as ``testkit`` (plain pytest, benchmarks, scripts:
the repository root is on ``sys.path``, beside the top-level ``engine``) and as
``odoo.addons.crm_inbox.testkit`` (Odoo tests). :mod:`._engine` gives it the engine
package of the same import root, so the settings objects it builds are the classes
the code under test uses.
"""
