"""Passwords and OAuth tokens of inbox accounts, on a model no user can read.

``crm.inbox.account.secret`` has no access rights: only the account's settings
builders (``_get_imap_settings`` / ``_get_smtp_settings``, as superuser) read it.
Values are encrypted at rest when the Odoo configuration file sets
``crm_inbox_secret_key`` (a Fernet key).
"""

import logging

from odoo import fields, models
from odoo.tools import config

_logger = logging.getLogger(__name__)


SECRET_PREFIX = "crm_inbox_enc1:"


def _secret_fernet():
    """The Fernet of the ``crm_inbox_secret_key`` option of the Odoo configuration file
    (a key from ``Fernet.generate_key()``), or ``None`` when it is not set."""
    key = config.get("crm_inbox_secret_key")
    if not key:
        return None
    from cryptography.fernet import Fernet

    return Fernet(key.encode() if isinstance(key, str) else key)


class SecretChar(fields.Char):
    """A Char encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256) when the Odoo
    configuration file sets ``crm_inbox_secret_key``; stored as is otherwise.

    Values are encrypted on their way to the database and decrypted when read from a
    record; values stored before the key was set stay readable. A value that cannot
    be decrypted (the key changed) reads as empty: the account then fails to log in
    and its owner is asked to re-connect.
    """

    def convert_to_column(self, value, record, values=None, validate=True):
        value = super().convert_to_column(value, record, values, validate)
        fernet = _secret_fernet()
        if value and fernet and not value.startswith(SECRET_PREFIX):
            value = SECRET_PREFIX + fernet.encrypt(value.encode()).decode()
        return value

    def convert_to_record(self, value, record):
        value = super().convert_to_record(value, record)
        if isinstance(value, str) and value.startswith(SECRET_PREFIX):
            fernet = _secret_fernet()
            try:
                value = fernet.decrypt(value[len(SECRET_PREFIX):].encode()).decode()
            except Exception:  # noqa: BLE001 - no key, wrong key or damaged value
                _logger.warning("crm_inbox: a stored secret of %s cannot be decrypted with the "
                                "configured crm_inbox_secret_key", record)
                value = False
        return value


class CrmInboxAccountSecret(models.Model):
    """Passwords and tokens of an account. No access rights: only sudo code reads it."""

    _name = "crm.inbox.account.secret"
    _description = "Inbox Account Secret"
    _log_access = False

    account_id = fields.Many2one(
        "crm.inbox.account", required=True, ondelete="cascade", index=True
    )
    imap_password = SecretChar()
    smtp_password = SecretChar()
    oauth_access_token = SecretChar()
    oauth_refresh_token = SecretChar()

    _sql_constraints = [
        ("account_unique", "UNIQUE(account_id)", "One secret row per account."),
    ]

