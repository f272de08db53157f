"""engine.quote: quoted history and signatures folded off real-world bodies."""

import pytest

from engine.quote import snippet, split_html, split_text

# ----------------------------------------------------------------------
# plain text
# ----------------------------------------------------------------------
GMAIL_TEXT = """\
Hi Sam,

Thursday 10:00 works for us.

Best,
Lucía

On Mon, Dec 2, 2024 at 9:14 AM Sam Sales <sales@example.com> wrote:

> Dear Lucía,
>
> Would Thursday suit you for the delivery?
>
> Sam
"""

GMAIL_TEXT_WRAPPED = """\
Thanks, received.

On Mon, Dec 2, 2024 at 9:14 AM Sam Sales via Acme Industries <
sales@example.com> wrote:
> Here is the quote.
"""

OUTLOOK_TEXT = """\
Please find the signed order attached.

Regards
Anna Schmidt

-----Original Message-----
From: Sam Sales <sales@example.com>
Sent: Monday, December 2, 2024 9:14 AM
To: Anna Schmidt <anna@schmidt.example>
Subject: RE: Rechnung 4471

Hi Anna, the invoice is attached.
"""

OUTLOOK_HEADER_BLOCK = """\
Ok for me.

________________________________
From: Marc Lefèvre <marc@lefevre.example>
Sent: 30 November 2024 17:02
To: Sam Sales <sales@example.com>
Subject: Facture n° 1182

Dear Sam,
"""

FRENCH = """\
Bonjour,

C'est noté, merci.

Le lun. 2 déc. 2024 à 09:14, Sam Sales <sales@example.com> a écrit :
> Bonjour Marc,
"""

GERMAN = """\
Danke!

Am 02.12.2024 um 09:14 schrieb Sam Sales <sales@example.com>:
> Hallo Anna,
"""

SPANISH = """\
Perfecto.

El lun, 2 dic 2024 a las 9:14, Sam Sales (<sales@example.com>) escribió:
> Hola Lucía,
"""

SIGNATURE = """\
Sounds good, see you Thursday.

-- 
Sam Sales
Acme Industries · +33 1 23 45 67 89
"""

SIGNATURE_AND_QUOTE = """\
Sounds good.

-- 
Sam Sales

On Mon, Dec 2, 2024 at 9:14 AM Lucía <lucia@iberica.example> wrote:
> ¿Nos vemos el jueves?
"""

NO_DATE_ATTRIBUTION = """\
Dear Lucía,
Apologies for the delay.

Lucía Fernández <lucia@iberica.example> wrote:
> Buenos días:
> ¿Nos pueden enviar el pedido?
"""

INLINE_REPLY = """\
> Can you deliver on Thursday?
Yes, in the morning.

> And the invoice?
It is attached.
"""


@pytest.mark.parametrize("body, main_end, folded_start", [
    (GMAIL_TEXT, "Best,\nLucía", "On Mon, Dec 2, 2024 at 9:14 AM"),
    (GMAIL_TEXT_WRAPPED, "Thanks, received.", "On Mon, Dec 2, 2024"),
    (OUTLOOK_TEXT, "Regards\nAnna Schmidt", "-----Original Message-----"),
    (OUTLOOK_HEADER_BLOCK, "________________________________", "From: Marc Lefèvre"),
    (FRENCH, "C'est noté, merci.", "Le lun. 2 déc. 2024"),
    (GERMAN, "Danke!", "Am 02.12.2024"),
    (SPANISH, "Perfecto.", "El lun, 2 dic 2024"),
    (SIGNATURE, "see you Thursday.", "-- \nSam Sales"),
    (SIGNATURE_AND_QUOTE, "Sounds good.", "-- \nSam Sales"),
    (NO_DATE_ATTRIBUTION, "Apologies for the delay.", "Lucía Fernández <lucia"),
])
def test_split_text(body, main_end, folded_start):
    main, folded = split_text(body)
    assert main.endswith(main_end)
    assert folded.startswith(folded_start)
    # nothing is lost: the folded part is the rest of the body
    assert main in body and folded.strip() in body
    assert len(main) + len(folded) >= len(body.strip()) - 4


def test_signature_and_quote_fold_together():
    main, folded = split_text(SIGNATURE_AND_QUOTE)
    assert "¿Nos vemos el jueves?" in folded and "Sam Sales" in folded
    assert "Sam Sales" not in main


def test_inline_replies_are_not_folded():
    assert split_text(INLINE_REPLY) == (INLINE_REPLY.rstrip(), "")


def test_trailing_quote_block_without_attribution():
    main, folded = split_text("Agreed.\n\n> earlier\n> text\n")
    assert (main, folded) == ("Agreed.", "> earlier\n> text")


def test_only_a_quote_or_a_forward_is_kept_whole():
    body = "-----Original Message-----\nFrom: a@b.c\nSent: today\nSubject: x\n\nhello"
    assert split_text(body) == (body, "")
    assert split_text("> only quoted\n> lines") == ("> only quoted\n> lines", "")


def test_long_text_after_dashes_is_not_a_signature():
    body = "Intro\n--\n" + "\n".join(f"line {i}" for i in range(40))
    assert split_text(body) == (body, "")


def test_empty_and_plain():
    assert split_text("") == ("", "")
    assert split_text(None) == ("", "")
    assert split_text("Hello\nWorld\n\n") == ("Hello\nWorld", "")


def test_crlf_bodies():
    main, folded = split_text(GMAIL_TEXT.replace("\n", "\r\n"))
    assert main.rstrip().endswith("Lucía")
    assert folded.startswith("On Mon")


def test_snippet():
    assert snippet(GMAIL_TEXT) == "Hi Sam, Thursday 10:00 works for us. Best, Lucía"
    assert snippet("word " * 100, length=20) == ("word " * 4).strip() + "…"
    assert snippet(None) == ""


# ----------------------------------------------------------------------
# HTML (as stored: already sanitized by Odoo)
# ----------------------------------------------------------------------
GMAIL_HTML = (
    '<div dir="ltr">Thursday works.<div><br></div><div>Lucía</div></div><br>'
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Dec 2, 2024 at 9:14 AM '
    'Sam Sales &lt;<a href="mailto:sales@example.com">sales@example.com</a>&gt; wrote:<br></div>'
    '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">Dear Lucía,<br>'
    'Would Thursday suit you?</blockquote></div>'
)
GMAIL_SIGNATURE_HTML = (
    '<div dir="ltr">See attached.<br clear="all"><div><br></div><span class="gmail_signature_'
    'prefix">-- </span><br><div dir="ltr" class="gmail_signature" data-smartmail="gmail_'
    'signature">Anna Schmidt<br>Schmidt GmbH</div></div>'
)
APPLE_HTML = (
    '<div>Perfect, thank you!</div><div><br><blockquote type="cite"><div>On 2 Dec 2024, at '
    '09:14, Sam Sales &lt;sales@example.com&gt; wrote:</div><br><div><div>Dear Marc,</div>'
    '</div></blockquote></div>'
)
THUNDERBIRD_HTML = (
    '<p>Noted.</p><div class="moz-cite-prefix">On 02/12/2024 09:14, Sam Sales wrote:<br></div>'
    '<blockquote type="cite" cite="mid:abc@example.com"><p>Hello</p></blockquote>'
    '<div class="moz-signature">-- <br>Bo</div>'
)
OUTLOOK_WEB_HTML = (
    '<div dir="ltr"><div>Approved.</div><div id="Signature"><div>Kenji Tanaka</div></div>'
    '<hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr"><b>From:'
    '</b> Sam Sales<br><b>Sent:</b> Monday<br><b>Subject:</b> Quote</div><div>Old text</div>'
    '</div>'
)
OUTLOOK_DESKTOP_HTML = (
    '<div class="WordSection1"><p class="MsoNormal">Confirmed for Friday.</p>'
    '<p class="MsoNormal">&nbsp;</p><div><div><p class="MsoNormal"><b>From:</b> Sam Sales '
    '&lt;sales@example.com&gt;<br><b>Sent:</b> Monday, December 2, 2024 9:14 AM<br><b>To:</b>'
    ' Zhang Wei<br><b>Subject:</b> Order 77</p></div></div><p class="MsoNormal">Dear Zhang,'
    '</p></div>'
)
ORIGINAL_MESSAGE_HTML = (
    '<div>Yes.</div><div>-----Original Message-----</div><div>From: x</div><div>old</div>'
)


@pytest.mark.parametrize("body, main_has, main_lacks, folded_has", [
    (GMAIL_HTML, "Thursday works.", "Would Thursday", "gmail_quote"),
    (GMAIL_SIGNATURE_HTML, "See attached.", "Schmidt GmbH", "Schmidt GmbH"),
    (APPLE_HTML, "Perfect, thank you!", "Dear Marc", 'type="cite"'),
    (THUNDERBIRD_HTML, "Noted.", "Hello", "moz-cite-prefix"),
    (OUTLOOK_WEB_HTML, "Approved.", "Old text", "divRplyFwdMsg"),
    (OUTLOOK_DESKTOP_HTML, "Confirmed for Friday.", "Dear Zhang", "Order 77"),
    (ORIGINAL_MESSAGE_HTML, "Yes.", "old", "-----Original Message-----"),
])
def test_split_html(body, main_has, main_lacks, folded_has):
    main, folded = split_html(body)
    assert main_has in main
    assert main_lacks not in main
    assert folded_has in folded
    assert main_has not in folded


def test_html_folded_part_keeps_the_following_content():
    _main, folded = split_html(OUTLOOK_WEB_HTML)
    assert "Kenji Tanaka" in folded and "Old text" in folded and "<hr" in folded


def test_html_without_marker_is_unchanged():
    body = "<p>Hello <b>Lucía</b></p><blockquote>a quote the sender chose</blockquote>"
    assert split_html(body) == (body, "")
    assert split_html("") == ("", "")
    assert split_html(None) == ("", "")


def test_html_only_quote_is_kept_whole():
    body = '<div class="gmail_quote"><blockquote class="gmail_quote">fwd</blockquote></div>'
    assert split_html(body) == (body, "")


def test_html_text_before_first_element_is_escaped():
    main, folded = split_html('a &lt;b&gt; c<div class="gmail_quote">q</div>')
    assert main == "a &lt;b&gt; c"
    assert "q" in folded


def test_search_fold():
    from engine.search import escape_like, fold
    assert fold("Lucía FERNÁNDEZ") == "lucia fernandez"
    assert fold("Lefèvre  \n Jürgen Ødegaard") == "lefevre jurgen ødegaard"
    assert fold("ＡＢＣ 王芳 さとう") == "abc 王芳 さとう"
    assert fold("Straße") == "strasse"
    assert fold(None) == ""
    assert escape_like("50%_a\\b") == "50\\%\\_a\\\\b"


def test_html_quote_written_as_text_lines():
    """Clients that send their plain text as HTML: attribution and ``>`` lines in a <p>."""
    body = ('<div dir="auto"><p>Muchas gracias.</p><p>Un saludo,<br>Lucía</p>'
            '<p>Demo Sales wrote:<br>&gt; Dear Lucía,<br>&gt; Thank you.</p></div>')
    main, folded = split_html(body)
    assert "Muchas gracias." in main and "Lucía" in main
    assert "Demo Sales wrote" not in main and "Thank you" not in main
    assert folded.count("Demo Sales wrote:") == 1 and "Thank you." in folded
    # the attribution after a <br> in the middle of a paragraph
    body = '<p>Yes, fine.<br><br>On Mon, 2 Dec 2024, Bob wrote:<br>&gt; old</p>'
    main, folded = split_html(body)
    assert "Yes, fine." in main and "Bob wrote" not in main
    assert "Bob wrote" in folded and "old" in folded and "Yes, fine" not in folded


def test_html_wrote_without_quote_lines_is_kept():
    body = "<p>Bob wrote: the price is fine.</p><p>Thanks</p>"
    assert split_html(body) == (body, "")
