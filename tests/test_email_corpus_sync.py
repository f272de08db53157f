import glob
import os
import re

import test.test_email
from odoo.tests import tagged

from .common import CrmInboxCase

CORPUS = os.path.join(os.path.dirname(test.test_email.__file__), "data")


@tagged("post_install", "-at_install")
class TestEmailCorpusSync(CrmInboxCase):

    def test_python_email_corpus_syncs_through_dovecot(self):
        """Every message of CPython's email test corpus that Dovecot accepts is synced:
        none crashes the sync, none is dropped."""
        files = sorted(glob.glob(os.path.join(CORPUS, "msg_*.txt")))
        self.assertGreater(len(files), 40, "the corpus ships with Python")
        account = self._connect(self._fresh_account(sync_from="6m"))
        appended, refused = 0, []
        for path in files:
            with open(path, "rb") as handle:
                raw = re.sub(rb"\r?\n", b"\r\n", handle.read())
            try:
                self.dovecot.append(account.email, "INBOX", raw)
                appended += 1
            except Exception as exc:  # noqa: BLE001 - the server's refusal is not ours to test
                refused.append((os.path.basename(path), str(exc)[:80]))
        inbox = account._get_folder("\\Inbox")
        # SEARCH SINCE compares INTERNALDATE (the APPEND time), not the 1990s Date headers
        new = account._sync()
        self.assertEqual(account.state, "connected", account.last_error)
        self.assertEqual(new, appended)
        self.assertEqual(self.env["crm.inbox.message"].search_count(
            [("folder_id", "=", inbox.id)]), appended)
        # figures for the test log  # pylint: disable-next=print-used
        print(f"crm_inbox: CPython email corpus: {appended} messages synced, "
              f"{len(refused)} refused by Dovecot's APPEND {refused}")
