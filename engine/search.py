"""Text folding for the mail client's search (no Odoo import).

The search column of a message and the words typed in the search box go through
the same :func:`fold`, so a case- and accent-insensitive match is a plain
substring match (``LIKE '%word%'``, served by a trigram index): "lucia" finds
"Lucía", "LEFEVRE" finds "Lefèvre", full-width "ＡＢＣ" finds "abc".
"""

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold(text):
    """*text* lower-cased (``casefold``), without accents, whitespace collapsed.

    :param text: ``str`` or ``None``; :returns: ``str``.
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def escape_like(term):
    """*term* with the ``LIKE`` wildcards ``%``, ``_`` and ``\\`` escaped."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
