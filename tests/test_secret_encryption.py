from cryptography.fernet import Fernet
from odoo.tools import config, mute_logger

from .common import CrmInboxCase


class TestSecretEncryption(CrmInboxCase):
    """With ``crm_inbox_secret_key`` in the Odoo configuration, secrets are encrypted at rest."""

    def setUp(self):
        super().setUp()
        previous = config.get("crm_inbox_secret_key")
        config["crm_inbox_secret_key"] = Fernet.generate_key().decode()
        self.addCleanup(config.__setitem__, "crm_inbox_secret_key", previous)

    def _column(self, account):
        self.env.flush_all()
        self.env.cr.execute("SELECT imap_password FROM crm_inbox_account_secret "
                            "WHERE account_id = %s", (account.id,))
        return self.env.cr.fetchone()[0]

    def test_password_encrypted_in_the_database_and_used_in_clear(self):
        account = self._fresh_account()
        password = self.dovecot.users[account.email]
        stored = self._column(account)
        self.assertTrue(stored.startswith("crm_inbox_enc1:"))
        self.assertNotIn(password, stored)
        self.env.invalidate_all()
        self.assertEqual(account._get_imap_settings().password, password)
        self._connect(account)  # logs in to the real Dovecot with the decrypted password

    def test_changed_key_reads_as_empty_and_asks_to_reconnect(self):
        account = self._fresh_account()
        self._column(account)
        config["crm_inbox_secret_key"] = Fernet.generate_key().decode()
        self.env.invalidate_all()
        with mute_logger("odoo.addons.crm_inbox.models.crm_inbox_account"):
            self.assertEqual(account._get_imap_settings().password, "")
