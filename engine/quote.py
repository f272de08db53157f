"""Fold quoted history and signatures off a mail body (no Odoo import).

A reading pane shows what is new in a message and folds the rest behind a "…"
toggle, as mail clients do. The splitters here find where that rest starts:

- plain text: an attribution line ("On … wrote:", in the common languages,
  possibly wrapped over two lines), Outlook's ``-----Original Message-----`` or
  its "From: … Sent: … To: … Subject:" header block, a trailing block of ``>``
  lines, or a signature after the RFC 3676 separator ``-- `` ;
- HTML (already sanitized): Gmail's ``gmail_quote`` / ``gmail_signature``,
  ``blockquote type="cite"`` (Apple Mail, Thunderbird) with its
  ``moz-cite-prefix`` attribution, Outlook's ``divRplyFwdMsg`` /
  ``appendonsend`` / ``Signature`` and its "From: … Sent:" block, Yahoo's
  ``yahoo_quoted``, and the text markers above in block elements.

Nothing is folded when it would leave the visible part empty (a bare forward,
a message that is only a quote): the whole body is then the main part.

Both splitters return ``(main, folded)`` where ``main + folded`` keeps all of
the content (the folded part is everything from the first marker on, in
document order). For HTML both halves are fragments to be rendered (sanitized)
afterwards: splitting happens before the mail renderer, never after it.
"""

import copy
import re

from lxml import etree
from lxml import html as lxml_html

# "On Tue, 3 Dec 2024 at 10:00, Lucía <l@x.es> wrote:" and its translations
_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"On\b.{0,300}\bwrote\s*:"                      # en
    r"|Le\b.{0,300}\ba\s+écrit\s*:"                 # fr
    r"|Am\b.{0,300}\bschrieb\b.{0,200}:"            # de
    r"|El\b.{0,300}\bescribió\s*:"                  # es
    r"|Il\b.{0,300}\bha\s+scritto\s*:"              # it
    r"|Op\b.{0,300}\bschreef\b.{0,200}:"            # nl
    r"|(?:Em|No)\b.{0,300}\bescreveu\s*:"           # pt
    r"|W\s+dniu\b.{0,300}\bnapisał[a]?\s*:"         # pl
    r"|.{0,200}\d{4}.{0,100}(?:写道|寫道|のメッセージ|님이 작성)\s*[:：]?"  # zh, ja, ko
    r")\s*$",
    re.IGNORECASE | re.DOTALL,
)
# "Lucía <l@x.es> wrote:" (no date) counts when quoted lines follow
_WROTE = re.compile(
    r"^.{1,300}\b(?:wrote|a\s+écrit|schrieb|escribió|ha\s+scritto|schreef|escreveu|"
    r"napisał[a]?|skrev|kirjoitti)\s*:\s*$|^.{1,300}(?:写道|寫道)\s*[:：]?\s*$",
    re.IGNORECASE,
)
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Message d'origine|Ursprüngliche Nachricht|"
    r"Mensaje original|Messaggio originale|Oorspronkelijk bericht|Mensagem original|"
    r"Originalnachricht)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_HDR_FROM = re.compile(r"^\s*\*?(?:From|De|Von|Da|Van|Od|发件人|差出人)\s*\*?\s*[:：]", re.IGNORECASE)
_HDR_SENT = re.compile(
    r"^\s*\*?(?:Sent|Date|Envoyé|Gesendet|Datum|Enviado|Fecha|Inviato|Verzonden|Data|"
    r"Wysłano|发送时间|日期|送信日時)\s*\*?\s*[:：]", re.IGNORECASE)
_HDR_SUBJECT = re.compile(
    r"^\s*\*?(?:Subject|Objet|Betreff|Asunto|Oggetto|Onderwerp|Assunto|Temat|主题|件名)"
    r"\s*\*?\s*[:：]", re.IGNORECASE)
_SIGNATURE = re.compile(r"^-- ?$")
#: A "--" line starts a signature only when at most this many lines follow it
#: (before the quoted history), so a divider in a long text is not folded.
MAX_SIGNATURE_LINES = 15


def _is_header_block(lines, i):
    """Whether ``lines[i]`` starts an Outlook-style "From: / Sent: / Subject:" block."""
    if not _HDR_FROM.match(lines[i]):
        return False
    window = lines[i + 1:i + 8]
    return any(_HDR_SENT.match(x) for x in window) and any(_HDR_SUBJECT.match(x)
                                                            for x in window)


def _attribution_at(lines, i):
    """Number of lines (1 or 2) of an attribution starting at ``lines[i]``, else 0."""
    line = lines[i].strip()
    if not line or line.startswith(">"):
        return 0
    if _ATTRIBUTION.match(line):
        return 1
    if i + 1 < len(lines) and lines[i + 1].strip() and \
            _ATTRIBUTION.match(line + " " + lines[i + 1].strip()):
        return 2
    if _WROTE.match(line):
        following = [x for x in lines[i + 1:i + 3] if x.strip()]
        if following and following[0].lstrip().startswith(">"):
            return 1
    return 0


def _quote_start(lines):
    """Index of the first line of the quoted history, or ``None``."""
    for i, line in enumerate(lines):
        if _ORIGINAL.match(line) or _is_header_block(lines, i):
            return i
        if _attribution_at(lines, i):
            return i
    # a trailing block of ">" lines (blank lines allowed inside): inline replies
    # (quote, answer, quote, answer) are left alone
    start = None
    for i in range(len(lines) - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped.startswith(">"):
            start = i
        elif stripped:
            break
    return start


def _signature_start(lines, end):
    """Index of a "-- " separator before ``end`` with a short signature after it."""
    for i in range(end - 1, -1, -1):
        if _SIGNATURE.match(lines[i].rstrip("\r")):
            body = [x for x in lines[i + 1:end] if x.strip()]
            if len(body) <= MAX_SIGNATURE_LINES:
                return i
            return None
    return None


def split_text(text):
    """Split a plain-text body into what is new and what to fold.

    :param text: the body (``str``; ``None``/``""`` allowed).
    :returns: ``(main, folded)``, both ``str``; ``folded`` is ``""`` when there is
        nothing to fold, ``main`` has its trailing blank lines removed. Lines are
        kept as they are (no unwrapping, no ``>`` stripping).
    """
    if not text:
        return "", ""
    lines = text.split("\n")
    end = _quote_start(lines)
    end = len(lines) if end is None else end
    sig = _signature_start(lines, end)
    cut = sig if sig is not None else end
    if cut >= len(lines):
        return text.rstrip(), ""
    main = "\n".join(lines[:cut]).rstrip()
    if not main.strip():
        return text.rstrip(), ""
    return main, "\n".join(lines[cut:]).strip("\n")


# ----------------------------------------------------------------------
# HTML
# ----------------------------------------------------------------------
_QUOTE_CLASSES = {"gmail_quote", "gmail_quote_container", "yahoo_quoted", "moz-cite-prefix",
                  "gmail_signature", "moz-signature", "protonmail_quote", "zmail_extra",
                  "OutlookMessageHeader", "x_gmail_quote"}
_QUOTE_IDS = {"divrplyfwdmsg", "appendonsend", "signature", "x_divrplyfwdmsg",
              "mail-editor-reference-message-container", "ms-outlook-mobile-signature"}
_BLOCKS = {"p", "div", "span", "font", "b", "strong", "td", "pre"}


def _marker(el):
    """Whether element *el* starts the quoted history or a signature."""
    if not isinstance(el.tag, str):
        return False
    tag = el.tag.lower()
    classes = set((el.get("class") or "").split())
    if classes & _QUOTE_CLASSES:
        return True
    if (el.get("id") or "").lower() in _QUOTE_IDS:
        return True
    if el.get("data-smartmail") == "gmail_signature":
        return True
    if tag == "blockquote" and (el.get("type") or "").lower() == "cite":
        return True
    if tag in _BLOCKS:
        text = " ".join(el.itertext()).strip()
        if not text or len(text) > 2000:
            return False
        first = text.split("\n", 1)[0]
        if _ORIGINAL.match(first):
            return True
        if _HDR_FROM.match(text) and len(text) < 1500:
            flat = re.sub(r"\s+", " ", text)
            has_sent = re.search(r"\b(?:Sent|Date|Envoyé|Gesendet|Enviado|Fecha|Inviato|"
                                 r"Verzonden|Datum|Data)\s*:", flat, re.IGNORECASE)
            has_subject = re.search(r"\b(?:Subject|Objet|Betreff|Asunto|Oggetto|Onderwerp|"
                                    r"Assunto|Temat)\s*:", flat, re.IGNORECASE)
            if has_sent and has_subject:
                return True
        # an attribution line right before a quote
        if len(text) < 400 and _ATTRIBUTION.match(re.sub(r"\s+", " ", text)):
            nxt = el.getnext()
            while nxt is not None and isinstance(nxt.tag, str) and nxt.tag.lower() == "br":
                nxt = nxt.getnext()
            if nxt is None or (isinstance(nxt.tag, str) and nxt.tag.lower() == "blockquote"):
                return True
    return False


def _is_br(el):
    return isinstance(el.tag, str) and el.tag.lower() == "br"


def _line_marker(el):
    """A quote that starts on a line of *el*'s own text (lines split by ``<br>``), as
    clients that write plain text as HTML do: ``<p>Lucía wrote:<br>&gt; …</p>``.

    :returns: the element to cut at: *el* itself when the quote starts on its first
        line, else a new ``<span>`` wrapping the rest of *el* (the tree is changed).
    """
    if not isinstance(el.tag, str) or el.tag.lower() not in _BLOCKS:
        return None
    brs = [child for child in el if _is_br(child)]
    lines = [(None, el.text or "")] + [(br, br.tail or "") for br in brs]
    for i, (br, text) in enumerate(lines):
        line = text.strip()
        if not line:
            continue
        following = [t.strip() for _b, t in lines[i + 1:i + 3] if t.strip()]
        quoted_next = bool(following) and following[0].startswith(">")
        if not (_ORIGINAL.match(line) or _ATTRIBUTION.match(line)
                or (_WROTE.match(line) and quoted_next)):
            continue
        if br is None:
            return el
        span = etree.Element("span")
        span.text, br.tail = br.tail, None
        for sibling in list(br.itersiblings()):
            span.append(sibling)  # moves it (with its tail)
        br.addnext(span)
        return span
    return None


def _find_marker(root):
    for el in list(root.iter()):
        if el is root:
            continue
        line_marker = _line_marker(el)
        if line_marker is not None and line_marker is not el:
            return line_marker
        if _marker(el) or line_marker is el:
            # an <hr> right before Outlook's header block belongs to the quote
            prev = el.getprevious()
            if prev is not None and isinstance(prev.tag, str) and prev.tag.lower() == "hr":
                return prev
            return el
    return None


def _path(root, el):
    path = []
    while el is not root:
        parent = el.getparent()
        path.append(parent.index(el))
        el = parent
    return path[::-1]


def _at(root, path):
    el = root
    for i in path:
        el = el[i]
    return el


def _cut_after(root, path):
    """Remove the element at *path* and everything after it (document order)."""
    el = _at(root, path)
    parent = el.getparent()
    # text after the element (its tail) and later siblings go
    while True:
        idx = parent.index(el)
        for sibling in list(parent)[idx + 1:]:
            parent.remove(sibling)
        el.tail = None
        if parent is root:
            break
        el, parent = parent, parent.getparent()
    _at(root, path).getparent().remove(_at(root, path))


def _cut_before(root, path):
    """Remove everything before the element at *path* (document order)."""
    el = _at(root, path)
    while el is not root:
        parent = el.getparent()
        idx = parent.index(el)
        for sibling in list(parent)[:idx]:
            parent.remove(sibling)
        parent.text = None
        el = parent


def _serialize(root):
    out = root.text or ""
    # text is escaped by tostring only for children; escape the leading text here
    out = _escape(out)
    return out + "".join(lxml_html.tostring(child, encoding="unicode", method="html")
                         for child in root)


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _has_content(root):
    if root.text_content().strip():
        return True
    return any(isinstance(el.tag, str) and el.tag.lower() in ("img", "table")
               for el in root.iter())


def split_html(html):
    """Split a (sanitized) HTML body into what is new and what to fold.

    :param html: an HTML fragment (``str``; ``None``/``""`` allowed).
    :returns: ``(main, folded)`` HTML fragments (``str``); ``folded`` is ``""``
        when nothing is folded, then ``main`` is *html* unchanged. Both still go
        through the mail renderer before display.
    """
    if not html or not str(html).strip():
        return "", ""
    html = str(html)
    try:
        root = lxml_html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return html, ""
    marker = _find_marker(root)
    if marker is None:
        return html, ""
    path = _path(root, marker)
    main_root, folded_root = copy.deepcopy(root), copy.deepcopy(root)
    _cut_after(main_root, path)
    if not _has_content(main_root):
        return html, ""
    _cut_before(folded_root, path)
    return _serialize(main_root), _serialize(folded_root)


def snippet(text, length=140):
    """One line of the new text of a plain-text body, at most *length* characters.

    :param text: the plain-text body (``str`` or ``None``).
    """
    main, _folded = split_text(text or "")
    flat = re.sub(r"\s+", " ", main).strip()
    if len(flat) > length:
        flat = flat[:length - 1].rstrip() + "…"
    return flat
