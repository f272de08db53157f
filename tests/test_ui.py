"""Chromium tour: the setup wizard from the email address to the first synced message."""

from odoo.tests import HttpCase, new_test_user, tagged

from ..testkit.net_servers import DNSTestServer, HTTPTestServer
from .common import start_mail_servers
from .test_setup_wizard import LOOPBACK, client_config

TOUR_USER = "tour@local.test"
TOUR_PASSWORD = "tour-secret"


@tagged("post_install", "-at_install")
class TestSetupTour(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_mail_servers(cls, {TOUR_USER: TOUR_PASSWORD})
        cls.dns = DNSTestServer({"localhost": LOOPBACK, "autoconfig.local.test": LOOPBACK})
        cls.dns.start()
        cls.addClassCleanup(cls.dns.close)
        cls.web = HTTPTestServer({"autoconfig.local.test/mail/config-v1.1.xml": (
            200, client_config(("localhost", cls.dovecot.imap_port, "plain", "%EMAILADDRESS%"),
                               ("localhost", cls.smtpd.port, "plain", "%EMAILADDRESS%"),
                               name="Local Mail"))})
        cls.web.start()
        cls.addClassCleanup(cls.web.close)
        icp = cls.env["ir.config_parameter"].sudo()
        icp.set_param("crm_inbox.dns_server", f"127.0.0.1:{cls.dns.port}")
        icp.set_param("crm_inbox.discovery_https_port", str(cls.web.port))
        icp.set_param("crm_inbox.ca_file", cls.web.cafile)
        icp.set_param("crm_inbox.allow_private_hosts", "True")
        icp.set_param("crm_inbox.discovery_timeout", "2")
        icp.set_param("crm_inbox.discovery_allowed_ports",
                      f"{cls.dovecot.imap_port},{cls.smtpd.port}")
        cls.user = new_test_user(cls.env, login="crm_inbox_tour", name="Tina Tour",
                                 email=TOUR_USER,
                                 groups="base.group_user,sales_team.group_sale_salesman")
        cls.dovecot.append(TOUR_USER, "INBOX", (
            f"From: Carla <carla@customer.example>\r\nTo: {TOUR_USER}\r\n"
            "Subject: Welcome to your CRM inbox\r\nMessage-ID: <welcome@customer.example>\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\nHello Tina!\r\n").encode())

    def test_setup_tour(self):
        self.start_tour("/odoo", "crm_inbox_setup_tour", login="crm_inbox_tour", timeout=120)
        account = self.env["crm.inbox.account"].search([("email", "=", TOUR_USER)])
        self.assertEqual((account.state, account.user_id, account.connection_type),
                         ("connected", self.user, "password"))
        self.assertEqual(self.env["crm.inbox.message"].search(
            [("account_id", "=", account.id)]).mapped("subject"),
            ["Welcome to your CRM inbox"])
