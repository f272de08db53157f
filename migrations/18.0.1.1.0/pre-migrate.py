"""18.0.1.0.0 -> 18.0.1.1.0, before the models load: nothing is renamed or retyped.

The new columns of this version (conversation summaries and search text, the delivery key
of forwarded mail, forwarding fields, the company's "mail of deleted users") are added by
the ORM with their defaults; the post-migration script fills those computed from the
stored mail.
"""

import logging

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    if not version:
        return
    cr.execute("SELECT count(*) FROM crm_inbox_message")
    _logger.info("crm_inbox %s -> 18.0.1.1.0: %s stored messages to keep", version,
                 cr.fetchone()[0])
