"""18.0.1.0.0 -> 18.0.1.1.0, after the models load: fill the new summary columns.

Conversation summaries (counterparts, snippet, attachments, search text) are maintained in
SQL by ``crm.inbox.conversation._refresh_summary`` as mail is synced; rows stored by the
previous version get theirs here, 1,000 conversations at a time. Nothing is deleted or
re-keyed: folder cursors, secrets and messages are kept as they are, so the next sync
fetches nothing again.
"""

import logging

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)
BATCH = 1000


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    # also fills the messages' search_text (crm.inbox.conversation._refresh_search_text)
    cr.execute("SELECT id FROM crm_inbox_conversation ORDER BY id")
    ids = [row[0] for row in cr.fetchall()]
    Conversation = env["crm.inbox.conversation"]
    for start in range(0, len(ids), BATCH):
        Conversation.browse(ids[start:start + BATCH])._refresh_summary()
    _logger.info("crm_inbox 18.0.1.1.0: summaries of %s conversations filled", len(ids))
