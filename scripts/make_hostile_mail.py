#!/usr/bin/env python3
"""Write the hostile mail corpus, tests/hostile_mail/NNN-name.eml (run once, files committed).

Every vector tries to do something observable if it ever ran or fetched:
* script: ``top.__pwned=1``, ``alert(1)`` (a dialog), a request to ``/js/...``;
* remote: a request to http://127.0.0.2/ (the test's "remote" loopback origin), with a
  path naming the kind of fetch: ``/img/`` for plain ``<img src>`` (the only thing
  allowed to load after the user's consent), ``/css/``, ``/media/``, ``/font/``,
  ``/srcset/``, ``/svg/``, ``/frame/``, ``/nav/``, ``/form/``, ``/obj/``, ... otherwise.

Sources of the vectors: OWASP XSS Filter Evasion Cheat Sheet
(https://cheatsheetseries.owasp.org/cheatsheets/XSS_Filter_Evasion_Cheat_Sheet.html),
PortSwigger XSS cheat sheet (https://portswigger.net/web-security/cross-site-scripting/cheat-sheet),
html5sec.org, Roundcube CVE-2023-5631 / CVE-2024-37383 / feImage bypass, the mXSS papers
(noscript / svg style / math mglyph namespace confusion), and finding 1 of the issue-8 review.
All messages join one thread (References: the first one).
"""

import base64
import os
import sys

R = "http://127.0.0.2"
P = "top.__pwned=1;alert(1);fetch('http://127.0.0.2/js/ran')"
PQ = "top.__pwned=1;alert(1)"  # no quotes inside

VECTORS = [
    # --- classic XSS (OWASP, PortSwigger) ---
    ("script-tag", f"<p>hi</p><script>{P}</script>"),
    ("img-onerror", f'<img src=x onerror="{P}">'),
    ("svg-onload", f'<svg onload="{P}"></svg>'),
    ("body-onload", f'<html><body onload="{P}"><p>x</p></body></html>'),
    ("iframe-javascript", f'<iframe src="javascript:{P}"></iframe>'),
    ("a-javascript", f'<a href="javascript:{P}">click</a>'),
    ("a-entity-javascript", ('<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;'
                            f':{PQ}">entities</a>')),
    ("a-tab-javascript", f'<a href="jav&#x09;ascript:{PQ}">tab</a>'),
    ("a-leading-space-js", f'<a href="  &#14; javascript:{PQ}">space</a>'),
    ("entity-no-semicolon", ('<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099'
                            '&#0000114&#0000105&#0000112&#0000116&#0000058alert(1)">long</a>')),
    ("input-autofocus", f'<input autofocus onfocus="{P}">'),
    ("details-ontoggle", f'<details open ontoggle="{P}"><summary>s</summary>d</details>'),
    ("marquee-onstart", f'<marquee onstart="{P}">m</marquee>'),
    ("video-source-onerror", f'<video><source onerror="{P}"></video>'),
    ("audio-onerror", f'<audio src=x onerror="{P}"></audio>'),
    ("img-onload-remote", f'<img src="{R}/img/onload.png" onload="{P}">'),
    ("img-javascript-src", f'<img src="javascript:{PQ}">'),
    ("malformed-img-quotes", f'<img """><script>{P}</script>">'),
    ("unclosed-img", f"<img src=x onerror={PQ}//"),
    ("vertical-tab-attr", f"<img src=x onerror\x0b={PQ}>"),
    ("null-in-tag", f"<scr\x00ipt>{P}</scr\x00ipt>"),
    ("entity-in-handler", '<img src=x onerror="&#x74;op.__pwned=1;&#97;lert(1)">'),
    ("vbscript-link", '<a href="vbscript:msgbox(1)">vb</a>'),
    ("template-content", f'<template><img src=x onerror="{P}"></template>'),
    ("css-expression", f'<div style="width: expression({PQ})">ie</div>'),
    ("css-javascript-url", f"<div style=\"background:url('javascript:{PQ}')\">u</div>"),
    ("object-javascript", f'<object data="javascript:{PQ}"></object>'),
    ("button-formaction-js", f'<form><button formaction="javascript:{PQ}">go</button></form>'),
    ("conditional-comment", f"<!--[if gte mso 9]><img src=x onerror={PQ}><![endif]--><p>mso</p>"),
    ("comment-breakout", f'<!--<img src="--><img src=x onerror={PQ}//">'),
    # --- mutation XSS, namespace confusion ---
    ("mxss-noscript", f'<noscript><p title="</noscript><img src=x onerror={PQ}>"></noscript>'),
    ("mxss-svg-style", f"<svg><style><img src=x onerror={PQ}></style></svg>"),
    ("mxss-math-mglyph", (f"<math><mtext><table><mglyph><style><img src=x onerror={PQ}>"
                         "</style></mglyph></table></mtext></math>")),
    ("mxss-math-style", f"<math><style><img src=x onerror={PQ}></style></math>"),
    ("mxss-title", f"<title><img src=x onerror={PQ}></title><p>t</p>"),
    ("mxss-textarea", f"<textarea><img src=x onerror={PQ}></textarea>"),
    ("finding1-escaped-lead", (f'<html><body>&lt;img src=x onerror="{P}"&gt;'
                              f'<img src="{R}/img/finding1.png"></body></html>')),
    ("finding1-escaped-script", ('<html><body>&lt;script&gt;top.__pwned=1&lt;/script&gt;'
                                f'<img src="{R}/img/finding1b.png"></body></html>')),
    # --- SVG / MathML ---
    ("svg-script", f"<svg><script>{P}</script></svg>"),
    ("svg-animate-href", ('<svg><a><animate attributeName="href" values="javascript:'
                         f'{PQ}"/><text x="0" y="20">click</text></a></svg>')),
    ("svg-set-onbegin", f'<svg><set attributeName="x" to="1" onbegin="{P}"/></svg>'),
    ("svg-xlink-js", f'<svg><a xlink:href="javascript:{PQ}"><text y="20">x</text></a></svg>'),
    ("svg-image-href", f'<svg><image href="{R}/svg/image.png" width="10" height="10"/></svg>'),
    ("svg-feimage", (f'<svg><filter id="f"><feImage href="{R}/svg/feimage.png"/></filter>'
                    '<rect width="10" height="10" filter="url(#f)"/></svg>')),
    ("svg-use-external", f'<svg><use href="{R}/svg/use.svg#x"/></svg>'),
    ("math-href", f'<math href="javascript:{PQ}"><mi>x</mi></math>'),
    # --- remote content / tracking ---
    ("tracking-pixel", f'<p>newsletter</p><img src="{R}/img/pixel.gif" width="1" height="1">'),
    ("img-protocol-relative", '<img src="//127.0.0.2/srcset/protocol-relative.png">'),
    ("img-srcset", f'<img srcset="{R}/srcset/1x.png 1x, {R}/srcset/2x.png 2x">'),
    ("picture-source", (f'<picture><source srcset="{R}/srcset/pic.png">'
                       f'<img src="{R}/img/picture.png"></picture>')),
    ("img-lowsrc", f'<img lowsrc="{R}/legacy/low.png" dynsrc="{R}/legacy/dyn.avi">'),
    ("input-image", f'<input type="image" src="{R}/input/x.png">'),
    ("video-poster", f'<video poster="{R}/media/poster.png"></video>'),
    ("video-src", f'<video src="{R}/media/v.mp4" autoplay></video>'),
    ("video-source-src", f'<video autoplay><source src="{R}/media/s.mp4"></video>'),
    ("audio-src", f'<audio src="{R}/media/a.mp3" autoplay></audio>'),
    ("track-src", f'<video><track src="{R}/media/t.vtt" default></video>'),
    ("table-background", f'<table background="{R}/bg/table.png"><tr><td>t</td></tr></table>'),
    ("td-background", f'<table><tr><td background="{R}/bg/td.png">t</td></tr></table>'),
    ("body-background", f'<html><body background="{R}/bg/body.png"><p>b</p></body></html>'),
    ("style-url", f'<div style="background-image:url({R}/css/url.png)">css</div>'),
    ("style-url-escaped", f'<div style="background:u\\72l({R}/css/escaped.png)">esc</div>'),
    ("style-url-comment", f'<div style="back/**/ground:url({R}/css/comment.png)">cm</div>'),
    ("style-list-image", f'<ul style="list-style-image:url({R}/css/list.png)"><li>l</li></ul>'),
    ("style-border-image", f'<div style="border-image:url({R}/css/border.png) 30">b</div>'),
    ("style-image-set", f'<div style="background-image:image-set(\'{R}/css/set.png\' 1x)">s</div>'),
    ("style-behavior", (f'<div style="behavior:url({R}/css/x.htc);-moz-binding:url({R}/css/b.xml)">'
                       "b</div>")),
    ("style-tag-import", f"<style>@import url({R}/css/import.css);</style><p>imp</p>"),
    ("style-tag-background", f"<style>p{{background:url({R}/css/tag.png)}}</style><p>p</p>"),
    ("style-font-face", (f"<style>@font-face{{font-family:x;src:url({R}/font/x.woff)}}"
                        "p{font-family:x}</style><p>font</p>")),
    ("link-stylesheet", f'<link rel="stylesheet" href="{R}/css/link.css"><p>link</p>'),
    ("link-prefetch", (f'<link rel="prefetch" href="{R}/link/prefetch"><link rel="dns-prefetch" '
                      f'href="{R}/link/dns"><link rel="preload" as="image" href="{R}/link/pre">')),
    ("a-ping", f'<a href="https://example.com/" ping="{R}/ping/x">ping</a>'),
    ("object-remote", f'<object data="{R}/obj/x.swf" type="application/x-shockwave-flash"></object>'),
    ("embed-remote", f'<embed src="{R}/obj/e.swf">'),
    ("iframe-remote", f'<iframe src="{R}/frame/x.html"></iframe>'),
    ("frameset", f'<frameset><frame src="{R}/frame/f.html"></frameset>'),
    ("iframe-data-url", "<iframe src=\"data:text/html,<script>top.__pwned=1</script>\"></iframe>"),
    ("a-data-url", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">d</a>'),
    ("embed-data-svg", '<embed src="data:image/svg+xml;base64,'
                       + base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" '
                                          b'onload="top.__pwned=1"/>').decode() + '">'),
    # --- <base>, meta refresh, forms ---
    ("base-href", f'<base href="{R}/base/"><img src="x.png"><a href="y">rel</a>'),
    ("base-javascript", f'<base href="javascript:{PQ}//"><a href="/x">b</a>'),
    ("meta-refresh-js", f'<meta http-equiv="refresh" content="0;url=javascript:{PQ}">'),
    ("meta-refresh-remote", f'<meta http-equiv="refresh" content="0;url={R}/nav/meta">'),
    ("meta-set-cookie", '<meta http-equiv="Set-Cookie" content="session_id=evil">'),
    ("form-remote-autofocus", (f'<form action="{R}/form/login" method="post"><input name="pw" '
                              'type="password" autofocus><button>Log in</button></form>')),
    ("formaction-remote", f'<form><button formaction="{R}/form/formaction">x</button></form>'),
]

# special encodings (name, builder): full messages
SPECIAL = ["qp-encoded-script", "base64-encoded-html", "utf7-charset", "iso2022jp-charset",
           "cid-svg-attachment", "cid-html-attachment", "html-attachment"]


#: Messages per thread: a conversation shows them all on one page (x2many limit 40).
THREAD_SIZE = 30


def headers(index, name, extra=""):
    mid = f"<hostile-{index:03d}@attacker.example>"
    root = (index - 1) // THREAD_SIZE * THREAD_SIZE + 1
    refs = "" if index == root else f"References: <hostile-{root:03d}@attacker.example>\r\n"
    return (f"From: Mallory Attacker <mallory@attacker.example>\r\n"
            f"To: victim@example.com\r\nSubject: Hostile {index:03d}: {name}\r\n"
            f"Message-ID: {mid}\r\n{refs}Date: Mon, 30 Nov 2026 10:{index % 60:02d}:00 +0000\r\n"
            f"MIME-Version: 1.0\r\n{extra}")


def simple(index, name, html):
    boundary = f"b{index:03d}"
    body = html.encode("utf-8")
    cte = "8bit"
    if b"\x00" in body:  # IMAP APPEND refuses NUL: carried base64-encoded
        body, cte = base64.encodebytes(body).replace(b"\n", b"\r\n").rstrip(), "base64"
    return (headers(index, name, f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n')
            .encode() + b"\r\n" +
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"vector {name}\r\n--{boundary}\r\n"
            f"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
            .encode() + body + f"\r\n--{boundary}--\r\n".encode())


def special(index, name):
    h = headers
    if name == "qp-encoded-script":
        html = (f"<p>qp</p><script>{P}</script><img src=3D{R}/img/qp.png onerror=3D\"{PQ}\">"
                ).replace("<", "=3C").replace(">", "=3E")
        return (h(index, name, "Content-Type: text/html; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: quoted-printable\r\n") + "\r\n" + html + "\r\n"
                ).encode()
    if name == "base64-encoded-html":
        html = (f'<p>b64</p><img src=x onerror="{P}"><div style="background:url({R}/css/b64.png)">'
                "</div>")
        body = base64.encodebytes(html.encode()).decode().replace("\n", "\r\n")
        return (h(index, name, "Content-Type: text/html; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: base64\r\n") + "\r\n" + body).encode()
    if name == "utf7-charset":
        html = "+ADw-script+AD4-top.__pwned=1+ADw-/script+AD4- +ADw-img src=x onerror=alert(1)+AD4-"
        return (h(index, name, "Content-Type: text/html; charset=utf-7\r\n") + "\r\n" + html
                + "\r\n").encode()
    if name == "iso2022jp-charset":
        # ESC ( J switches to JIS X 0201 Roman: a backslash becomes a yen sign, quotes shift
        body = (b'<p>\x1b$B$3$s$K$A$O\x1b(B</p><img src="x\x1b(J" onerror="top.__pwned=1;'
                b'alert(1)\x1b(B">\r\n')
        return h(index, name, "Content-Type: text/html; charset=iso-2022-jp\r\n").encode() + \
            b"\r\n" + body
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="top.__pwned=1;alert(1)"><script>' \
          b'top.__pwned=1</script></svg>'
    htmlfile = b"<html><body><script>top.__pwned=1;alert(1)</script></body></html>"
    if name in ("cid-svg-attachment", "cid-html-attachment", "html-attachment"):
        boundary = f"r{index:03d}"
        if name == "cid-svg-attachment":
            html, part = ('<p>inline svg</p><img src="cid:evil-svg@attacker"><object data='
                          '"cid:evil-svg@attacker"></object>'), (
                "image/svg+xml", "evil.svg", "<evil-svg@attacker>", svg)
        elif name == "cid-html-attachment":
            html, part = ('<p>inline html</p><iframe src="cid:evil-html@attacker"></iframe>'
                          '<img src="cid:evil-html@attacker">'), (
                "text/html", "evil.html", "<evil-html@attacker>", htmlfile)
        else:
            html, part = "<p>see attached page</p>", ("text/html", "invoice.html", "", htmlfile)
        ctype, fname, cid, data = part
        cid_header = f"Content-ID: {cid}\r\n" if cid else ""
        disp = "inline" if cid else "attachment"
        return (h(index, name, f'Content-Type: multipart/related; boundary="{boundary}"\r\n')
                + f"\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
                f"--{boundary}\r\nContent-Type: {ctype}; name=\"{fname}\"\r\n{cid_header}"
                f"Content-Disposition: {disp}; filename=\"{fname}\"\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n"
                + base64.encodebytes(data).decode().replace("\n", "\r\n")
                + f"--{boundary}--\r\n").encode()
    raise ValueError(name)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for old in os.listdir(out_dir):
        if old.endswith(".eml"):
            os.unlink(os.path.join(out_dir, old))
    index = 0
    names = []
    for name, html in VECTORS:
        index += 1
        raw = simple(index, name, html)
        names.append(name)
        with open(os.path.join(out_dir, f"{index:03d}-{name}.eml"), "wb") as handle:
            handle.write(raw)
    for name in SPECIAL:
        index += 1
        names.append(name)
        with open(os.path.join(out_dir, f"{index:03d}-{name}.eml"), "wb") as handle:
            handle.write(special(index, name))
    print(f"{index} vectors written to {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "tests", "hostile_mail"))
