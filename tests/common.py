"""Shared fixtures of the Odoo tests: a real Dovecot and a real SMTP server per class."""

from datetime import timedelta

import freezegun
from odoo import fields
from odoo.tests import HttpCase, TransactionCase, new_test_user

from ..testkit.demo_mail import demo_mailbox
from ..testkit.mail_servers import DovecotServer, SMTPTestServer
from ..testkit.net_servers import DNSTestServer

OWNER = "sales@example.com"
OWNER_PASSWORD = "sales-pass"
COLLEAGUE = "colleague@example.com"
COLLEAGUE_PASSWORD = "colleague-pass"


def start_mail_servers(cls, users):
    """Start a Dovecot (IMAP) and an aiosmtpd (SMTP) server for the test class *cls*, on
    free loopback ports, with these ``{login: password}`` users (copied for each server):
    ``cls.dovecot`` and ``cls.smtpd``, stopped when the class is done.

    A class with ``dovecot_lmtp = True`` also gets Dovecot's LMTP listener with Sieve
    (``cls.dovecot.deliver``, ``cls.dovecot.set_sieve``) and ``cls.relay``, an SMTP server
    without AUTH that receives the mail Sieve sends (vacation replies)."""
    submission = None
    if getattr(cls, "dovecot_lmtp", False):
        cls.relay = SMTPTestServer(auth_required=False)
        cls.relay.start()
        cls.addClassCleanup(cls.relay.stop)
        submission = (cls.relay.host, cls.relay.port)
    cls.dovecot = DovecotServer(users=dict(users), lmtp=submission is not None,
                                submission=submission)
    cls.dovecot.start()
    cls.addClassCleanup(cls.dovecot.stop)
    cls.smtpd = SMTPTestServer(users=dict(users))
    cls.smtpd.start()
    cls.addClassCleanup(cls.smtpd.stop)


def loopback_servers(cls):
    """Servers are on loopback: allow private mail hosts, and resolve names through a
    local DNS server (empty zone: every name is NXDOMAIN) rather than the system's."""
    cls.local_dns = DNSTestServer({})
    cls.local_dns.start()
    cls.addClassCleanup(cls.local_dns.close)
    icp = cls.env["ir.config_parameter"].sudo()
    icp.set_param("crm_inbox.allow_private_hosts", "True")
    icp.set_param("crm_inbox.dns_server", f"127.0.0.1:{cls.local_dns.port}")


class MailServersMixin:
    """Starts Dovecot (IMAP) and aiosmtpd (SMTP) on free loopback ports for the class,
    with a salesperson (``user``, mailbox OWNER) and a colleague."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        users = {OWNER: OWNER_PASSWORD, COLLEAGUE: COLLEAGUE_PASSWORD}
        start_mail_servers(cls, users)
        loopback_servers(cls)
        cls.user = new_test_user(
            cls.env, login="crm_inbox_sales", name="Sam Sales", email=OWNER,
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        cls.colleague = new_test_user(
            cls.env, login="crm_inbox_colleague", name="Cole League", email=COLLEAGUE,
            groups="base.group_user,sales_team.group_sale_salesman",
        )

    @classmethod
    def _create_account(cls, user=None, email=OWNER, password=OWNER_PASSWORD, **values):
        """An account of *user* on the fixture servers (plain IMAP/SMTP on loopback)."""
        user = user or cls.user
        vals = {
            "email": email,
            "user_id": user.id,
            "imap_host": cls.dovecot.host,
            "imap_port": cls.dovecot.imap_port,
            "imap_security": "none",
            "imap_password": password,
            "smtp_host": cls.smtpd.host,
            "smtp_port": cls.smtpd.port,
            "smtp_security": "none",
            "sync_from": "3m",
        }
        vals.update(values)
        return cls.env["crm.inbox.account"].with_user(user).create(vals)

    _mailbox_seq = 0

    def _fresh_account(self, user=None, **values):
        """A new Dovecot user with its own empty mailbox, and an account on it."""
        MailServersMixin._mailbox_seq += 1
        login = f"box{MailServersMixin._mailbox_seq}-{self._testMethodName[:20]}@example.com"
        login = login.replace("_", "-").lower()
        password = f"pw-{MailServersMixin._mailbox_seq}"
        self.dovecot.add_user(login, password)
        self.smtpd.users[login] = password
        return self._create_account(user=user, email=login, password=password, **values)

    def _connect(self, account):
        """Test the connection (lists the folders) and return the account."""
        account.action_test_connection()
        self.assertEqual(account.state, "connected")
        return account

    def _run_mail_queue(self, at=None, delay=None):
        """Run Odoo's mail queue in-process, as its scheduled action does (the real
        SMTP server receives what it sends).

        :param at: UTC ``datetime`` the clock shows while the queue runs (it ticks);
            :param delay: or seconds from now (``delay=11`` passes a 10 s undo delay).
        """
        if delay is not None:
            at = fields.Datetime.now() + timedelta(seconds=delay)
        Mail = self.env["mail.mail"].sudo()
        if at is None:
            return Mail.process_email_queue()
        with freezegun.freeze_time(at, tick=True):
            return Mail.process_email_queue()

    def _load_demo(self, user=OWNER, count=200, **kw):
        """APPEND the demo mailbox to Dovecot; returns the DemoMessage list."""
        messages = demo_mailbox(owner=user, count=count, **kw)
        for message in messages:
            self.dovecot.append(user, message.folder, message.raw, message.flags,
                                message.msg_time)
        return messages


class CrmInboxCase(MailServersMixin, TransactionCase):
    """The fixture servers and users, in a transaction (see :class:`MailServersMixin`)."""


class CrmInboxHttpCase(MailServersMixin, HttpCase):
    """The fixture servers and users, with Odoo's HTTP server (JSON-RPC, XML-RPC, tours)."""
