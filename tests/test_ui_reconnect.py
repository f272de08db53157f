"""Chromium tour: the Inbox banner of a paused mailbox and its Re-connect button."""

from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestReconnectTour(HttpCase):

    def test_reconnect_banner_tour(self):
        user = new_test_user(self.env, login="crm_inbox_paused", name="Paula Paused",
                             email="paused@local.test",
                             groups="base.group_user,sales_team.group_sale_salesman")
        self.env["ir.config_parameter"].sudo().set_param("crm_inbox.allow_private_hosts", "True")
        account = self.env["crm.inbox.account"].with_user(user).create({
            "email": "paused@local.test", "imap_host": "127.0.0.1", "imap_port": 1,
            "imap_security": "none", "smtp_host": "127.0.0.1", "smtp_port": 1,
            "smtp_security": "none", "imap_password": "old",
        })
        account.sudo().write({"state": "auth_failed",
                              "last_error": "IMAP: the server rejected the password"})
        self.start_tour("/odoo", "crm_inbox_reconnect_tour", login="crm_inbox_paused",
                        timeout=60)
