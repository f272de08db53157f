"""A realistic demo mailbox, and bulk mailboxes for benchmarks.

:func:`demo_mailbox` tells a B2B sales story: a dozen contacts at seven
companies (France, Germany, Spain, China, the UK, Denmark, Japan) ask the
owner for quotes, meetings, invoices and deliveries; the owner answers from
the Sent folder. It covers what the sync and the UI must handle: threads
with correct Message-ID / In-Reply-To / References, one reply whose threading
headers were stripped by a gateway (subject fallback), text-only and
multipart/alternative mail, HTML with a tracking pixel and a ``<script>``,
inline images, PDF / PNG / CSV / DOCX attachments, RFC 2047 subjects and
names, RFC 2231 file names, flags, and badly broken messages.

Everything is deterministic for a given ``seed`` and ``now``; every raw
message uses CRLF line endings and has no NUL, so it can be APPENDed to any
IMAP server. Nothing here imports Odoo.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from ._engine import module

_mime = module("mime")
Address, Attachment, build_message = _mime.Address, _mime.Attachment, _mime.build_message
reply_headers, reply_subject = _mime.reply_headers, _mime.reply_subject

__all__ = ["DemoMessage", "bulk_mailbox", "demo_mailbox"]

#: Display name of the mailbox owner in the demo.
OWNER_NAME = "Demo Sales"
#: Messages are spread over this many days before ``now``.
SPREAD_DAYS = 60
#: Host of the remote image in HTML mail (must stay blocked by default).
TRACKER_URL = "https://tracker.example.net/pixel.gif"


@dataclass(frozen=True)
class DemoMessage:
    """One message to APPEND.

    :ivar folder: ``"INBOX"`` or ``"Sent"``.
    :ivar raw: RFC 5322 bytes, CRLF line endings, no NUL.
    :ivar flags: IMAP flags, e.g. ``("\\\\Seen",)``.
    :ivar msg_time: the INTERNALDATE to give to APPEND (aware, UTC).
    """

    folder: str
    raw: bytes
    flags: tuple[str, ...]
    msg_time: datetime


@dataclass(frozen=True)
class _Contact:
    name: str
    email: str
    company: str
    lang: str
    tz: int  # UTC offset in hours

    @property
    def first(self) -> str:
        return self.name.split()[0] if " " in self.name else self.name

    @property
    def address(self) -> Address:
        return Address(self.name, self.email)


CONTACTS = (
    _Contact("Élodie Durand", "elodie.durand@acme-industries.fr", "Acme Industries", "fr", 1),
    _Contact("Marc Lefèvre", "marc.lefevre@acme-industries.fr", "Acme Industries", "fr", 1),
    _Contact("José Núñez", "jose.nunez@iberica-logistica.es", "Ibérica Logística", "es", 1),
    _Contact("Lucía Fernández", "lucia.fernandez@iberica-logistica.es", "Ibérica Logística",
             "es", 1),
    _Contact("Jürgen Müller", "juergen.mueller@mueller-maschinenbau.de", "Müller Maschinenbau",
             "de", 1),
    _Contact("Anna Schmidt", "a.schmidt@mueller-maschinenbau.de", "Müller Maschinenbau", "de", 1),
    _Contact("李雷", "li.lei@huaxin-tech.cn", "华信科技", "zh", 8),
    _Contact("韩梅梅", "han.meimei@huaxin-tech.cn", "华信科技", "zh", 8),
    _Contact("Sarah O'Connor", "sarah.oconnor@northwind-traders.co.uk", "Northwind Traders",
             "en", 0),
    _Contact("James Smith", "j.smith@northwind-traders.co.uk", "Northwind Traders", "en", 0),
    _Contact("Søren Nielsen", "soren.nielsen@nordlys-energi.dk", "Nordlys Energi", "da", 1),
    _Contact("田中 愛子", "aiko.tanaka@sakura-trading.jp", "Sakura Trading", "ja", 9),
)

# (subject, first message) per language; {n} is a reference number.
_TOPICS = {
    "fr": [
        ("Demande de devis – pompes centrifuges série P{n}",
         ("Bonjour,\n\nPourriez-vous nous faire parvenir un devis pour 40 pompes centrifuges "
         "série P{n}, livraison à Lyon ?\nNous aurions besoin des délais et des conditions de "
         "paiement.\n\nMerci d'avance,")),
        ("Réunion de lancement du projet",
         ("Bonjour,\n\nSeriez-vous disponible mardi ou jeudi prochain pour une réunion de "
         "lancement ? Nous pouvons vous recevoir dans nos locaux à Villeurbanne.\n\nBien à vous,")),
        ("Facture n° F-2024-{n} : question sur le montant",
         ("Bonjour,\n\nLa facture F-2024-{n} mentionne 12 unités alors que le bon de commande en "
         "indique 10. Pouvez-vous vérifier et nous envoyer un avoir ?\n\nCordialement,")),
    ],
    "es": [
        ("Solicitud de presupuesto: envío a Valencia",
         ("Hola:\n\n¿Podrían enviarnos un presupuesto para el envío de 3 palés a Valencia? "
         "Necesitamos la mercancía antes de fin de mes.\n\nUn saludo,")),
        ("Pedido {n}: confirmación de entrega",
         ("Buenos días:\n\n¿Nos pueden confirmar la fecha de entrega del pedido {n}? El cliente "
         "final nos está preguntando.\n\nGracias,")),
    ],
    "de": [
        ("Angebotsanfrage: Förderbänder Typ K{n}",
         ("Guten Tag,\n\nbitte senden Sie uns ein Angebot über 6 Förderbänder Typ K{n} inklusive "
         "Montage. Lieferung nach Stuttgart.\n\nMit freundlichen Grüßen")),
        ("Terminvorschlag für die Vorführung",
         ("Hallo,\n\nwir würden die Maschine gern vor Ort sehen. Passt Ihnen der 14. um 10 Uhr?"
         "\n\nViele Grüße")),
        ("Rechnung {n} – Zahlungsbedingungen",
         ("Guten Tag,\n\nkönnen wir die Rechnung {n} in zwei Raten zahlen? Die erste Rate würden "
         "wir sofort überweisen.\n\nFreundliche Grüße")),
    ],
    "zh": [
        ("报价请求：工业传感器 {n} 型",
         "您好，\n\n请报价 200 个 {n} 型工业传感器，含运费到上海。\n我们希望本月内下单。\n\n谢谢！"),
        ("会议安排：下周二视频会议",
         "您好，\n\n下周二北京时间下午三点可以开视频会议吗？我们想讨论明年的合作计划。\n\n此致敬礼"),
    ],
    "en": [
        ("Quote request: 500 units of model X{n}",
         ("Hi,\n\nCould you quote 500 units of model X{n}, delivered to Leeds? Please include "
         "volume discounts if any.\n\nBest regards,")),
        ("Invoice {n} – payment reminder",
         ("Hello,\n\nOur accounts team noticed that invoice {n} is still open on your side; could "
         "you check whether the payment went out?\n\nKind regards,")),
        ("Contract renewal for next year",
         ("Hi,\n\nOur maintenance contract ends next month. Could we discuss the renewal terms "
         "and the new price list?\n\nThanks,")),
    ],
    "da": [
        ("Tilbud på reservedele",
         ("Hej,\n\nKan I sende et tilbud på reservedele til vores tre turbiner? Listen følger."
         "\n\nMed venlig hilsen")),
    ],
    "ja": [
        ("お見積りのお願い（型番 X{n}）",
         ("お世話になっております。\n\n型番 X{n} を 100 台お見積りいただけますでしょうか。\n納期も"
         "あわせてご教示ください。\n\nよろしくお願いいたします。")),
    ],
}

_FOLLOW_UPS = {
    "fr": ["Merci pour votre réponse rapide. C'est noté, nous revenons vers vous.",
           "Parfait, cela nous convient. Pouvez-vous confirmer par écrit ?",
           "Petite relance : avez-vous pu avancer sur ce point ?"],
    "es": ["Muchas gracias por la respuesta. Lo revisamos y les decimos algo.",
           "Perfecto, así nos va bien. ¿Pueden confirmarlo por escrito?",
           "¿Han podido avanzar con esto? Quedamos a la espera."],
    "de": ["Vielen Dank für die schnelle Antwort. Wir melden uns.",
           "Das passt uns. Können Sie das bitte schriftlich bestätigen?",
           "Kurze Nachfrage: Gibt es hierzu schon Neuigkeiten?"],
    "zh": ["谢谢您的快速回复，我们会尽快确认。", "好的，没有问题。请书面确认一下。", "请问这件事有进展吗？"],
    "en": ["Thanks for the quick answer, we will get back to you shortly.",
           "That works for us. Could you confirm in writing?",
           "Just following up: any news on this?"],
    "da": ["Tak for det hurtige svar. Vi vender tilbage.", "Det passer fint. Kan I bekræfte det?",
           "Har I nyt om sagen?"],
    "ja": ["早速のご回答ありがとうございます。社内で確認いたします。", "承知いたしました。書面でご確認いただけますか。",
           "その後いかがでしょうか。"],
}

_SIGN_OFF = {"fr": "Cordialement,", "es": "Un saludo,", "de": "Viele Grüße", "zh": "此致",
             "en": "Best regards,", "da": "Venlig hilsen", "ja": "よろしくお願いいたします。"}

_OWNER_REPLIES = [
    ("Dear {first},\n\nThank you for your message. Please find our answer below; I will send "
    "the details by the end of the week.\n\nBest regards,\n{owner}"),
    ("Hello {first},\n\nThanks, that is noted. I checked with our logistics team and we can "
    "deliver within three weeks.\n\nKind regards,\n{owner}"),
    ("Hi {first},\n\nGood news: the price list is attached to our offer and valid for 60 days. "
    "Shall we schedule a short call?\n\nBest,\n{owner}"),
    ("Dear {first},\n\nApologies for the delay. Our accounting department has corrected the "
    "amount; you will receive the credit note tomorrow.\n\nRegards,\n{owner}"),
]

_OUTREACH_SUBJECTS = ["Offre commerciale – maintenance 2025", "Our offer for your new line",
                      "Proposal: extended warranty"]


# --------------------------------------------------------------------------
# Attachment payloads (small, valid files built without third-party code)
# --------------------------------------------------------------------------


def _pdf(text: str) -> bytes:
    """A minimal valid one-page PDF showing ``text`` (ASCII)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>"),
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def _png(width: int = 24, height: int = 24, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A valid PNG of one colour with a lighter diagonal."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b""
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            row += bytes((255, 255, 255)) if x == y else bytes(rgb)
        rows += bytes(row)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def _csv(rng: random.Random) -> bytes:
    lines = ["sku;description;quantity;unit_price_eur"]
    for i in range(8):
        lines.append(f"P-{100 + i};Pompe centrifuge série P{i} – modèle réduit;"
                     f"{rng.randint(1, 50)};{rng.randint(100, 900)},{rng.randint(0, 99):02d}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _docx(text: str) -> bytes:
    """A small Office Open XML document (zip) with fixed timestamps."""
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.wordprocessingml.document.main+xml"/></Types>'),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
            'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>'
            f"{text}</w:t></w:r></w:p></w:body></w:document>"),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content.encode("utf-8"))
    return buf.getvalue()


_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# --------------------------------------------------------------------------
# The demo mailbox
# --------------------------------------------------------------------------


def _html(text: str, *, tracker: str = "", script: bool = False, logo_cid: str = "") -> str:
    paragraphs = "".join(
        "<p>" + "<br>".join(_escape(line) for line in block.split("\n")) + "</p>"
        for block in text.split("\n\n") if block
    )
    extra = ""
    if logo_cid:
        extra += f'<p><img src="cid:{logo_cid}" alt="logo" width="24" height="24"></p>'
    if tracker:
        extra += f'<img src="{tracker}" width="1" height="1" alt="" style="display:none">'
    if script:
        extra += "<script>document.title='pwned';fetch('https://tracker.example.net/x')</script>"
    return (
        '<html><head><meta charset="utf-8"><style>p{font-family:Arial}</style></head>'
        f'<body><div dir="auto">{paragraphs}{extra}</div></body></html>'
    )


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _quote(text: str, who: str) -> str:
    lines = [line for line in text.split("\n") if line.strip()][:6]
    return f"\n\n{who} wrote:\n" + "\n".join("> " + line for line in lines)


def _thread_sizes(total: int, rng: random.Random) -> list[int]:
    sizes = []
    remaining = total
    while remaining > 0:
        if remaining == 1:
            sizes.append(1)
            break
        size = min(rng.randint(2, 6), remaining)
        if remaining - size == 1:
            size = remaining if remaining <= 6 else size - 1
        sizes.append(size)
        remaining -= size
    return sizes


def _malformed_raw(variant: int, index: int, owner: str, when: datetime) -> bytes:
    """Badly broken but APPEND-able messages (CRLF, no NUL)."""
    date = when.strftime("%a, %d %b %Y %H:%M:%S +0000").encode("ascii")
    owner_b = owner.encode("ascii", "replace")
    if variant == 0:
        # 8-bit headers without encoding, multipart whose boundary never appears,
        # invalid base64, Latin-1 body without charset.
        lines = [
            b"From: J\xfcrgen M\xfcller <juergen.mueller@mueller-maschinenbau.de>",
            b"To: " + owner_b,
            b"Subject: Rechnung f\xfcr Auftrag \xc4\xd6\xdc (kaputt)",
            b"Date: " + date,
            b"Message-ID: <broken-%d.boundary@mueller-maschinenbau.de>" % index,
            b"MIME-Version: 1.0",
            b'Content-Type: multipart/mixed; boundary="----=_NextPart_000_DEAD"',
            b"",
            b"------=_NextPart_000_BEEF",
            b"Content-Type: text/plain",
            b"",
            b"Sehr geehrte Damen und Herren, anbei die \xdcbersicht \xe4\xf6\xfc\xdf.",
            b"------=_NextPart_000_BEEF",
            b"Content-Type: application/pdf; name=\"Rechnung.pdf\"",
            b"Content-Transfer-Encoding: base64",
            b"",
            b"JVBERi0xLjQK!!!@@@###$$$ not base64 at all \xff\xfe",
            b"------=_NextPart_000_BEEF",
        ]
    elif variant == 1:
        # Garbage before any header: nothing is a header for a MIME parser.
        lines = [
            b"\xff\xfe\xfd garbage line without a colon \x80\x81\x82",
            b"From: =?utf-8?q?broken <nobody@@invalid",
            b"Subject: =?unknown-8bit?b?!!!?= junk \xe9\xe8",
            b"Date: not a date at all",
            b"",
            b"Body with 8-bit junk \xe9\xe0\xff\xfe and a stray boundary",
            b"--",
        ]
    else:
        # Multipart inside multipart without a boundary, invalid base64 image.
        lines = [
            b"From: Sarah O'Connor <sarah.oconnor@northwind-traders.co.uk>",
            b"To: " + owner_b,
            b"Subject: =?utf-8?q?Broken_structure_=E2=80=93_please_ignore?=",
            b"Date: " + date,
            b"Message-ID: <broken-%d.nested@northwind-traders.co.uk>" % index,
            b"MIME-Version: 1.0",
            b'Content-Type: multipart/alternative; boundary="outer"',
            b"",
            b"--outer",
            b"Content-Type: multipart/mixed",
            b"",
            b"no boundary parameter above",
            b"--outer",
            b"Content-Type: image/png",
            b"Content-Transfer-Encoding: base64",
            b"",
            b"iVBORw0KGgo=====%%%%",
            b"--outer--",
        ]
    return b"\r\n".join(lines) + b"\r\n"


def demo_mailbox(
    owner: str = "demo@example.com",
    count: int = 200,
    seed: int = 0,
    malformed: int = 1,
    now: datetime | None = None,
) -> list[DemoMessage]:
    """Build the demo mailbox of ``owner``.

    :param owner: the mailbox address; its messages go to ``"Sent"``.
    :param count: exact number of messages returned (0 gives ``[]``).
    :param seed: random seed; the same ``seed`` and ``now`` give the same bytes.
    :param malformed: how many of the ``count`` messages are badly broken
        (garbage headers, missing MIME boundary, invalid base64, 8-bit junk
        without charset); capped at ``count``.
    :param now: end of the time range (aware; naive is UTC); defaults to the
        current time. Messages lie within the :data:`SPREAD_DAYS` days before.
    :returns: ``count`` :class:`DemoMessage`, oldest first. About 30% of INBOX
        messages carry ``\\Seen`` (Sent copies always do), a few ``\\Flagged``;
        INBOX messages answered by the owner carry ``\\Answered``.
    """
    if count <= 0:
        return []
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    me = Address(OWNER_NAME, owner)
    owner_domain = owner.rpartition("@")[2] or "example.com"
    n_bad = max(0, min(malformed, count))
    sizes = _thread_sizes(count - n_bad, rng)
    pdf, png, docx = _pdf("Quotation Q-2024-117"), _png(), _docx("Offre technique / Angebot")
    logo = _png(16, 16, (30, 90, 200))
    out: list[DemoMessage] = []
    msg_no = 0
    for t_index, size in enumerate(sizes):
        contact = CONTACTS[rng.randrange(len(CONTACTS))] if t_index >= 3 else CONTACTS[t_index]
        colleagues = [c for c in CONTACTS if c.company == contact.company and c is not contact]
        n_ref = rng.randint(100, 999)
        rewritten = t_index == 2 and size >= 2  # the gateway-stripped reply thread
        owner_first = rewritten or rng.random() < 0.15
        if owner_first:
            subject = rng.choice(_OUTREACH_SUBJECTS)
            first_body = (f"Dear {contact.first},\n\nAs discussed, please find our offer "
                          f"attached. It is valid until the end of next month.\n\n"
                          f"Best regards,\n{OWNER_NAME}")
        else:
            subject, first_body = rng.choice(_TOPICS[contact.lang])
            subject = subject.format(n=n_ref)
            first_body = (first_body.format(n=n_ref)
                          + f"\n{contact.name}\n{contact.company}")
        gaps = [timedelta(hours=rng.uniform(0.5, 48)) for _ in range(size - 1)]
        span = sum(gaps, timedelta())
        latest_start = SPREAD_DAYS * 86400 - span.total_seconds() - 600
        start = now - timedelta(seconds=rng.uniform(span.total_seconds() + 600,
                                                    span.total_seconds() + 600 + latest_start))
        when = start
        parent = None  # (message_id, references, in_reply_to, body, author name)
        from_owner = owner_first
        thread: list[dict] = []
        for position in range(size):
            if position:
                when = when + gaps[position - 1]
                # mostly alternate; sometimes the same side writes twice
                if rng.random() > 0.15 or (rewritten and position == 1):
                    from_owner = not from_owner
            msg_no += 1
            author = contact
            if not from_owner and position and colleagues and rng.random() < 0.2:
                author = rng.choice(colleagues)
            tz = timezone(timedelta(hours=0 if from_owner else author.tz))
            date = when.astimezone(tz)
            if position == 0:
                body = first_body
                msg_subject = subject
            elif from_owner:
                body = rng.choice(_OWNER_REPLIES).format(first=contact.first, owner=OWNER_NAME)
                msg_subject = reply_subject(subject)
            else:
                body = (rng.choice(_FOLLOW_UPS[author.lang]) + "\n\n" + _SIGN_OFF[author.lang]
                        + f"\n{author.name}\n{author.company}")
                msg_subject = reply_subject(subject)
            if parent is not None:
                body += _quote(parent["body"], parent["who"])
            in_reply_to, references = ("", ())
            if parent is not None:
                in_reply_to, references = reply_headers(
                    parent["id"], parent["refs"], parent["irt"])
            if rewritten and position == 1:
                in_reply_to, references = "", ()
                msg_subject = "RE: " + subject
            sender = me if from_owner else author.address
            if from_owner:
                to = [contact.address]
                cc = [colleagues[0].address] if colleagues and rng.random() < 0.25 else []
            elif rng.random() < 0.1 and colleagues:
                to, cc = [colleagues[0].address], [me]
            else:
                to, cc = [me], []
            domain = owner_domain if from_owner else author.email.rpartition("@")[2]
            message_id = f"<{rng.getrandbits(64):016x}.{msg_no}@{domain}>"
            # content features
            attachments: list[Attachment] = []
            body_html = ""
            special = (t_index, position)
            if special == (0, 0):  # HTML with a tracking pixel, a script and an inline logo
                body_html = _html(body, tracker=f"{TRACKER_URL}?m={msg_no}", script=True,
                                  logo_cid=f"logo.{msg_no}@{domain}")
                attachments.append(Attachment("logo.png", "image/png", logo,
                                              f"logo.{msg_no}@{domain}", True))
            elif special == (1, 0):
                attachments.append(Attachment("Devis_été_2024.pdf", "application/pdf", pdf))
            elif special == (1, 1) or (owner_first and position == 0):
                attachments.append(Attachment("Quotation-Q-2024-117.pdf", "application/pdf", pdf))
            elif special == (3, 0):
                attachments.append(Attachment("price-list.csv", "text/csv", _csv(rng)))
            elif special == (4, 0):
                attachments.append(Attachment("Offre technique.docx", _DOCX, docx))
            elif special == (5, 0):
                attachments.append(Attachment("photo-machine.png", "image/png", png))
            else:
                roll = rng.random()
                if roll < 0.08:
                    attachments.append(rng.choice([
                        Attachment("Quotation-Q-2024-117.pdf", "application/pdf", pdf),
                        Attachment("price-list.csv", "text/csv", _csv(rng)),
                        Attachment("Specification.docx", _DOCX, docx),
                        Attachment("diagram.png", "image/png", png),
                    ]))
            if not body_html and not from_owner and rng.random() < 0.45:
                tracker = f"{TRACKER_URL}?m={msg_no}" if rng.random() < 0.4 else ""
                body_html = _html(body, tracker=tracker, script=bool(tracker) and
                                  rng.random() < 0.3)
            elif not body_html and from_owner and rng.random() < 0.3:
                body_html = _html(body)
            _mid, raw = build_message(
                from_=sender, to=to, cc=cc, subject=msg_subject, body_text=body,
                body_html=body_html, in_reply_to=in_reply_to, references=references,
                attachments=attachments, message_id=message_id, date=date,
            )
            delay = timedelta(0) if from_owner else timedelta(seconds=rng.randint(2, 90))
            msg_time = min(when + delay, now).replace(microsecond=0)
            thread.append({"from_owner": from_owner, "raw": raw, "time": msg_time})
            parent = {"id": message_id, "refs": references, "irt": in_reply_to, "body": body,
                      "who": sender.name or sender.email}
        for position, item in enumerate(thread):
            if item["from_owner"]:
                flags: tuple[str, ...] = ("\\Seen",)
                folder = "Sent"
            else:
                folder = "INBOX"
                chosen = []
                if rng.random() < 0.3:
                    chosen.append("\\Seen")
                if position + 1 < len(thread) and thread[position + 1]["from_owner"]:
                    chosen.append("\\Answered")
                if rng.random() < 0.06:
                    chosen.append("\\Flagged")
                flags = tuple(chosen)
            out.append(DemoMessage(folder, item["raw"], flags, item["time"]))
    for index in range(n_bad):
        when = now - timedelta(seconds=rng.uniform(3600, SPREAD_DAYS * 86400))
        raw = _malformed_raw(index % 3, index, owner, when)
        out.append(DemoMessage("INBOX", raw, (), when.replace(microsecond=0)))
    out.sort(key=lambda m: m.msg_time)
    return out


# --------------------------------------------------------------------------
# Bulk mailboxes for benchmarks
# --------------------------------------------------------------------------

_WORDS = ["offer", "quote", "delivery", "invoice", "meeting", "pump", "conveyor", "sensor", "price", "contract", "renewal", "sample", "warranty", "shipment", "pallet", "order", "discount", "payment", "schedule", "maintenance", "spare", "parts", "volume", "lead", "time", "installation", "training", "support", "project", "review", "budget", "approval", "forecast", "the", "a", "of", "to", "and", "for", "with", "on", "we", "you", "our", "your", "please", "could", "would", "next", "week", "month", "thanks", "regards"]


def bulk_mailbox(
    count: int,
    seed: int = 0,
    attachment_ratio: float = 0.2,
    attachment_size: tuple[int, int] = (50_000, 500_000),
    *,
    owner: str = "bench@example.com",
    now: datetime | None = None,
) -> Iterator[bytes]:
    """Yield ``count`` varied raw messages for benchmarks, quickly.

    Bodies of 200 B to about 20 KB, a third multipart/alternative, and about
    ``attachment_ratio`` of them with one base64 attachment of a size drawn in
    ``attachment_size`` (bytes, before encoding). Payloads are precomputed
    once and sliced, so generation costs little more than the copying.

    :param count: number of messages.
    :param seed: random seed; same seed and ``now`` give the same bytes.
    :param attachment_ratio: share of messages with an attachment, 0..1.
    :param attachment_size: ``(min, max)`` attachment size in bytes.
    :param owner: the recipient address.
    :param now: dates are spread over the 60 days before it (default: now).
    :returns: an iterator of raw messages (CRLF, unique Message-IDs).
    """
    rng = random.Random(seed)
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    low, high = attachment_size
    low, high = max(0, min(low, high)), max(low, high, 57)
    # 57 payload bytes -> one 76-character base64 line (+ CRLF = 78 bytes)
    payload = rng.randbytes(high + 57)
    b64 = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    total_lines = len(payload) // 57
    words = [rng.choice(_WORDS) for _ in range(8000)]
    text_lines: list[bytes] = []
    for i in range(0, len(words) - 12, 12):
        text_lines.append(" ".join(words[i:i + 12]).capitalize().encode("ascii") + b".\r\n")
    senders = [f"Sender {i:02d} <sender{i:02d}@client{i % 7}.example>".encode("ascii")
               for i in range(50)]
    owner_b = owner.encode("ascii", "replace")
    span = 60 * 86400
    for i in range(count):
        when = now - timedelta(seconds=span * (count - i) / max(count, 1))
        date = when.strftime("%a, %d %b %Y %H:%M:%S +0000").encode("ascii")
        n_lines = rng.choice((2, 4, 8, 16, 40, 120, 240))
        start = rng.randrange(0, len(text_lines) - n_lines)
        text = b"".join(text_lines[start:start + n_lines])
        headers = (
            b"From: " + senders[i % len(senders)] + b"\r\n"
            b"To: " + owner_b + b"\r\n"
            b"Subject: Bulk message %d about " % i + text_lines[start][:40].rstrip(b".\r\n")
            + b"\r\nDate: " + date + b"\r\n"
            b"Message-ID: <bulk.%d.%d@client.example>\r\n" % (seed, i)
            + b"MIME-Version: 1.0\r\n"
        )
        alternative = rng.random() < 0.33
        if alternative:
            html_body = b"<html><body><p>" + text.replace(b"\r\n", b"<br>\r\n") + b"</p></body></html>\r\n"
            body_type = b'Content-Type: multipart/alternative; boundary="alt-%d"\r\n' % i
            body = (
                b"--alt-%d\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" % i + text
                + b"--alt-%d\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n" % i + html_body
                + b"--alt-%d--\r\n" % i
            )
        else:
            body_type = b"Content-Type: text/plain; charset=us-ascii\r\n"
            body = text
        if rng.random() < attachment_ratio:
            size = rng.randint(low, high)
            lines = max(1, size // 57)
            first = rng.randrange(0, total_lines - lines + 1)
            data = b64[first * 78:(first + lines) * 78]
            yield (
                headers + b'Content-Type: multipart/mixed; boundary="mix-%d"\r\n\r\n' % i
                + b"--mix-%d\r\n" % i + body_type + b"\r\n" + body
                + b"--mix-%d\r\nContent-Type: application/octet-stream\r\n" % i
                + b'Content-Disposition: attachment; filename="data-%d.bin"\r\n' % i
                + b"Content-Transfer-Encoding: base64\r\n\r\n" + data
                + b"--mix-%d--\r\n" % i
            )
        else:
            yield headers + body_type + b"\r\n" + body
