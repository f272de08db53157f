"""The one renderer of mail HTML: every display path of a synced message goes through it.

Order matters (security review, issue 8): transformations first (``cid:`` images
pointed at the message's own attachments), then Odoo's sanitizer with full
settings (``html_sanitize(sanitize_attributes=True, sanitize_style=True)``),
then removal of every remaining reference to remote content (``src``,
``srcset``, ``poster``, ``background``, ``data``, ``href`` outside ``<a>``,
CSS ``url()``/``@import``/``image-set()``), whatever its scheme. Nothing is
added after the sanitizer: the last steps only delete attributes and CSS
declarations. With the user's consent for a message, ``<img src>`` with an
``http(s)`` URL is kept, and only that: no CSS image, no media, no font.

The output is a fragment meant for the sandboxed frame of the
``crm_inbox_mail_frame`` field widget (``static/src/mail_frame``), whose fixed
wrapper adds a Content-Security-Policy allowing no script and only local images
(remote images too after consent). The composer quotes the same output.
"""

import re

from lxml import etree
from lxml import html as lxml_html
from markupsafe import Markup
from odoo.tools import html_sanitize

#: Attributes that make a browser fetch something, on any element.
FETCHING_ATTRS = frozenset({
    "src", "srcset", "lowsrc", "dynsrc", "poster", "background", "data", "codebase",
    "classid", "archive", "longdesc", "usemap", "action", "formaction", "ping",
    "manifest", "profile", "icon", "imagesrcset", "xlink:href",
    "{http://www.w3.org/1999/xlink}href",
})

#: Images shown inline after consent (and ``cid:`` parts): never SVG (script-capable).
INLINE_IMAGE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp",
})

_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6}\s?|.)", re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_CSS_FETCH = re.compile(r"url\s*\(|@import|image(-set)?\s*\(|expression\s*\(|element\s*\(|"
                        r"src\s*\(|behavior|-moz-binding", re.IGNORECASE)
_REMOTE = re.compile(r"^\s*(https?:|//|ftp:)", re.IGNORECASE)


def _css_unescape(value):
    def repl(match):
        token = match.group(1)
        if re.fullmatch(r"[0-9a-fA-F]{1,6}\s?", token):
            try:
                return chr(int(token.strip(), 16))
            except (ValueError, OverflowError):
                return "\ufffd"
        return token
    return _CSS_ESCAPE.sub(repl, value)


def _clean_style(style):
    """*style* without declarations that fetch anything; ``(style, had_remote)``."""
    kept, remote = [], False
    for declaration in style.split(";"):
        plain = _css_unescape(_CSS_COMMENT.sub("", declaration))
        if _CSS_FETCH.search(plain) or "\\" in declaration or "/*" in declaration:
            remote = remote or bool(re.search(r"https?:|//", plain, re.IGNORECASE))
            continue
        if declaration.strip():
            kept.append(declaration.strip())
    return "; ".join(kept), remote


def render_mail_html(body, cid_urls=None, allow_remote=False):
    """Render a stored mail body for display: sanitized last, nothing remote unless allowed.

    :param body: HTML (``str`` or ``Markup``), usually ``crm.inbox.message.body_html``;
        ``""``/``None`` gives ``""``.
    :param cid_urls: ``{content-id without <>: local URL}`` of the message's own
        inline images (e.g. ``"/web/image/42"``); other ``cid:`` references are dropped.
    :param allow_remote: the user allowed remote images for this message: keep
        ``<img src="http(s)://...">`` (and only that).
    :returns: ``(Markup fragment, has_remote)``; *has_remote* tells whether the
        body referred to remote content at all (blocked or not).
    """
    if not body or not str(body).strip():
        return Markup(""), False
    cid_urls = cid_urls or {}
    try:
        doc = lxml_html.fragment_fromstring(str(body), create_parent="div")
    except (etree.ParserError, ValueError):
        return Markup(""), False
    # 1. transformations, before the sanitizer
    for img in doc.iter("img"):
        src = (img.get("src") or "").strip()
        if src[:4].lower() == "cid:":
            url = cid_urls.get(src[4:].strip().strip("<>"))
            if url:
                img.set("src", url)
            else:
                del img.attrib["src"]
    source = lxml_html.tostring(doc, encoding="unicode", method="html")
    # 2. Odoo's sanitizer, full settings
    clean = html_sanitize(source, sanitize_attributes=True, sanitize_style=True,
                          sanitize_form=True, sanitize_conditional_comments=True)
    if not clean:
        return Markup(""), False
    # 3. nothing remote (deletions only)
    doc = lxml_html.fragment_fromstring(str(clean), create_parent="div")
    has_remote = False
    local = tuple(url for url in cid_urls.values() if url)
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        for name in list(el.attrib):
            lname = name.lower()
            value = el.get(name) or ""
            fetching = lname in FETCHING_ATTRS or (lname == "href" and tag != "a")
            if not fetching:
                continue
            if tag == "img" and lname == "src":
                if value in local:
                    continue
                if _REMOTE.match(value):
                    has_remote = True
                    if allow_remote and value.strip()[:2] != "//":
                        continue
            elif _REMOTE.match(value) or "http" in value.lower():
                has_remote = True
            del el.attrib[name]
        if "style" in el.attrib:
            style, remote = _clean_style(el.get("style"))
            has_remote = has_remote or remote
            if style:
                el.set("style", style)
            else:
                del el.attrib["style"]
    out = (doc.text or "") and Markup.escape(doc.text)
    out = Markup(out) + Markup("").join(
        Markup(lxml_html.tostring(child, encoding="unicode", method="html")) for child in doc)
    return out, has_remote


def render_plain_text(text):
    """A text/plain body as an escaped, wrapped ``<pre>`` (same frame as HTML)."""
    if not text:
        return Markup("")
    return Markup("<pre style='white-space: pre-wrap'>%s</pre>") % text
