"""18.0.1.0.0 -> 18.0.1.1.0, before the models load.

Nothing is renamed or retyped: the new columns of this version (conversation summaries and
search text, the delivery key of forwarded mail, forwarding fields, the company's "mail of
deleted users") are added by the ORM, and the post-migration script fills those computed
from the stored mail.

Views this version no longer ships are removed first. Odoo deletes obsolete records only
after every data file is loaded, but it validates each updated view together with all the
views inheriting from it, so an old view that still shows a removed field (the "Team
emails" tabs of contacts and leads, which became the chatter) would fail the upgrade.
"""

import ast
import logging
import os

from lxml import etree

_logger = logging.getLogger(__name__)
ADDON_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _shipped_view_names():
    """Names (xmlids without the module) of the ir.ui.view records in this version's files."""
    with open(os.path.join(ADDON_DIR, "__manifest__.py"), encoding="utf-8") as fh:
        manifest = ast.literal_eval(fh.read())
    names = set()
    for path in manifest.get("data", []):
        if not path.endswith(".xml"):
            continue
        tree = etree.parse(os.path.join(ADDON_DIR, path))
        for node in tree.iter("record", "template"):
            if node.tag == "template" or node.get("model") == "ir.ui.view":
                names.add(node.get("id", "").split(".")[-1])
    return names


def migrate(cr, version):
    if not version:
        return
    cr.execute("SELECT count(*) FROM crm_inbox_message")
    _logger.info("crm_inbox %s -> 18.0.1.1.0: %s stored messages to keep", version,
                 cr.fetchone()[0])
    shipped = _shipped_view_names()
    cr.execute("""SELECT id, name, res_id FROM ir_model_data
                   WHERE module = 'crm_inbox' AND model = 'ir.ui.view'""")
    obsolete = [(imd_id, name, view_id) for imd_id, name, view_id in cr.fetchall()
                if name not in shipped]
    for imd_id, name, view_id in obsolete:
        _logger.info("crm_inbox: removing the view %s, no longer shipped", name)
        cr.execute("DELETE FROM ir_ui_view WHERE id = %s OR inherit_id = %s", (view_id, view_id))
        cr.execute("DELETE FROM ir_model_data WHERE id = %s", (imd_id,))
