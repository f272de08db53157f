"""Built-in table of major mail providers: the first and only trusted detection source.

Each :class:`Provider` row gives the IMAP and SMTP servers of one provider, the form
of the user name, the OAuth sign-in to offer, and notes to show the user. Rows are
matched by the address domain (:func:`provider_for_domain`), by the domain's MX host
(:func:`provider_for_mx`, for Google Workspace and Microsoft 365 custom domains) or
by a server host name found by another source (:func:`provider_for_host`).

Sources: the providers' own help pages, cross-checked against the Thunderbird ISPDB
(github.com/thunderbird/autoconfig, ``ispdb/``), clientConfig v1.1 format. Adding a
provider is adding a row here, never an ``if provider == ...`` branch elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The port of each protocol and security setting (:rfc:`8314` §3.3 and §7.3: implicit
#: TLS on 993 and 465; STARTTLS on 143 and 587, :rfc:`6409`; plain SMTP relay on 25).
DEFAULT_PORTS: dict[str, dict[str, int]] = {
    "imap": {"ssl": 993, "starttls": 143, "none": 143},
    "smtp": {"ssl": 465, "starttls": 587, "none": 25},
}


def default_port(protocol: str, security: str, current: int = 0) -> int:
    """The usual port for *protocol* (``"imap"``/``"smtp"``) with *security*
    (``"ssl"``, ``"starttls"``, ``"none"``); *current* when the pair is unknown."""
    return DEFAULT_PORTS.get(protocol, {}).get(security, current)


#: ``username`` forms of :class:`ServerTemplate`.
USERNAME_EMAIL = "email"  # the full address, ``%EMAILADDRESS%`` in clientConfig
USERNAME_LOCALPART = "localpart"  # the part before ``@``, ``%EMAILLOCALPART%``

APP_PASSWORD_NOTE = (
    "An app password is required when two-step verification is on: create one in the "
    "account's security settings and use it instead of the normal password."
)


@dataclass(frozen=True)
class ServerTemplate:
    """One server of a provider, before the address is known.

    :ivar host: host name, e.g. ``"imap.gmail.com"``.
    :ivar port: TCP port.
    :ivar security: ``"ssl"`` (implicit TLS, :rfc:`8314`) or ``"starttls"``.
    :ivar username: :data:`USERNAME_EMAIL` or :data:`USERNAME_LOCALPART`.
    """

    host: str
    port: int
    security: str
    username: str = USERNAME_EMAIL


@dataclass(frozen=True)
class Provider:
    """One row of the table.

    :ivar key: stable identifier, e.g. ``"gmail"``; stored by the model layer.
    :ivar name: display name, e.g. ``"Gmail"``.
    :ivar domains: address domains served (lower case); empty for providers found
        only through MX (Google Workspace, Microsoft 365).
    :ivar imap: IMAP server, or ``None`` when the provider offers no direct IMAP
        (Proton Mail: only through Proton Mail Bridge).
    :ivar smtp: SMTP submission server, or ``None``.
    :ivar oauth_provider: ``"google"``, ``"microsoft"`` or ``""`` (password sign-in).
    :ivar notes: sentences to show the user (app passwords, enabling IMAP...).
    :ivar mx_hosts: MX host names (exact, lower case, no final dot) that reveal a
        domain hosted by this provider.
    :ivar mx_suffixes: MX host suffixes (starting with ``"."``) that do the same.
    """

    key: str
    name: str
    domains: tuple[str, ...]
    imap: ServerTemplate | None
    smtp: ServerTemplate | None
    oauth_provider: str = ""
    notes: tuple[str, ...] = ()
    mx_hosts: tuple[str, ...] = ()
    mx_suffixes: tuple[str, ...] = ()


def _ssl(host: str, port: int, username: str = USERNAME_EMAIL) -> ServerTemplate:
    return ServerTemplate(host, port, "ssl", username)


def _starttls(host: str, port: int, username: str = USERNAME_EMAIL) -> ServerTemplate:
    return ServerTemplate(host, port, "starttls", username)


_GOOGLE_IMAP = _ssl("imap.gmail.com", 993)
_GOOGLE_SMTP = _ssl("smtp.gmail.com", 465)
_MICROSOFT_IMAP = _ssl("outlook.office365.com", 993)

_YAHOO_DOMAINS = ("yahoo.com", "ymail.com", "rocketmail.com") + tuple(
    "yahoo." + tld
    for tld in (
        "co.uk", "fr", "de", "it", "es", "ca", "ie", "in", "co.in", "gr", "se", "dk", "no",
        "fi", "pl", "ro", "at", "be", "nl", "pt", "com.au", "com.br", "com.ar", "com.mx",
        "com.sg", "com.hk", "com.tw", "com.ph", "com.vn", "co.id", "co.nz", "co.za",
        "co.th",
    )
)  # yahoo.co.jp is a different company (Yahoo! JAPAN) with other servers

_OUTLOOK_DOMAINS = ("outlook.com", "hotmail.com", "live.com", "msn.com", "windowslive.com") + tuple(
    f"{brand}.{tld}"
    for brand, tlds in (
        ("outlook", ("at", "be", "cl", "cz", "de", "dk", "es", "fr", "hu", "ie", "in", "it",
                     "jp", "kr", "lv", "my", "ph", "pt", "sa", "sg", "sk", "co.id", "co.il",
                     "co.th", "com.ar", "com.au", "com.br", "com.gr", "com.tr", "com.vn")),
        ("hotmail", ("be", "ca", "cl", "cz", "de", "dk", "es", "fi", "fr", "gr", "hu", "it",
                     "lt", "lv", "my", "nl", "no", "ph", "rs", "se", "sg", "sk", "co.id",
                     "co.il", "co.in", "co.jp", "co.kr", "co.th", "co.uk", "co.za", "com.ar",
                     "com.au", "com.br", "com.hk", "com.tr", "com.tw", "com.vn")),
        ("live", ("at", "be", "ca", "cl", "cn", "de", "dk", "fi", "fr", "hk", "ie", "in", "it",
                  "jp", "nl", "no", "ru", "se", "co.jp", "co.kr", "co.uk", "co.za", "com.ar",
                  "com.au", "com.mx", "com.my", "com.ph", "com.pt", "com.sg")),
    )
    for tld in tlds
)  # list from ISPDB ispdb/hotmail.com

#: The table. Order matters only for :func:`provider_for_host` (first match wins).
PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "google_workspace", "Google Workspace", (), _GOOGLE_IMAP, _GOOGLE_SMTP, "google",
        ("Sign in with Google. IMAP access must be allowed by the Workspace administrator.",),
        mx_hosts=("aspmx.l.google.com", "smtp.google.com"),
        mx_suffixes=(".googlemail.com", ".google.com"),
    ),
    Provider(
        "gmail", "Gmail", ("gmail.com", "googlemail.com"), _GOOGLE_IMAP, _GOOGLE_SMTP, "google",
        (("Sign in with Google; password sign-in needs an app password "
         "(two-step verification on)."),),
    ),
    Provider(
        "microsoft365", "Microsoft 365", (), _MICROSOFT_IMAP,
        _starttls("smtp.office365.com", 587), "microsoft",
        (("Sign in with Microsoft: Microsoft 365 turned off password (basic) sign-in for IMAP. "
         "SMTP AUTH must be enabled for the mailbox to send."),),
        mx_suffixes=(".mail.protection.outlook.com",),
    ),
    Provider(
        "outlook", "Outlook.com", _OUTLOOK_DOMAINS, _MICROSOFT_IMAP,
        _starttls("smtp-mail.outlook.com", 587), "microsoft",
        ("Sign in with Microsoft: Outlook.com no longer accepts passwords for IMAP.",),
        mx_suffixes=(".olc.protection.outlook.com",),
    ),
    Provider(
        "yahoo", "Yahoo Mail", _YAHOO_DOMAINS, _ssl("imap.mail.yahoo.com", 993),
        _ssl("smtp.mail.yahoo.com", 465), "", (APP_PASSWORD_NOTE,),
    ),
    Provider(
        "icloud", "iCloud Mail", ("icloud.com", "me.com", "mac.com"),
        _ssl("imap.mail.me.com", 993, USERNAME_LOCALPART), _starttls("smtp.mail.me.com", 587),
        "", ("An app-specific password is required (appleid.apple.com, Sign-In and Security).",),
    ),
    Provider(
        "fastmail", "Fastmail", ("fastmail.com", "fastmail.fm"), _ssl("imap.fastmail.com", 993),
        _ssl("smtp.fastmail.com", 465), "",
        ("An app password is required (Settings, Privacy & Security, App passwords).",),
        mx_suffixes=(".messagingengine.com",),
    ),
    Provider(
        "gmx", "GMX", ("gmx.de", "gmx.net", "gmx.at", "gmx.ch", "gmx.eu", "gmx.org", "gmx.info",
                       "gmx.biz"),
        _ssl("imap.gmx.net", 993), _ssl("mail.gmx.net", 465), "",
        ("Allow POP3 & IMAP access once in the GMX mail settings.",),
    ),
    Provider(
        "gmx_com", "GMX (gmx.com)", ("gmx.com", "gmx.us", "gmx.co.uk", "gmx.fr", "gmx.es"),
        _ssl("imap.gmx.com", 993), _ssl("mail.gmx.com", 465), "",
        ("Allow POP3 & IMAP access once in the GMX mail settings.",),
    ),
    Provider(
        "webde", "WEB.DE", ("web.de",), _ssl("imap.web.de", 993), _starttls("smtp.web.de", 587),
        "", ("Allow POP3 & IMAP access once in the WEB.DE mail settings.",),
    ),
    Provider(
        "zoho", "Zoho Mail", ("zoho.com", "zohomail.com"), _ssl("imap.zoho.com", 993),
        _ssl("smtp.zoho.com", 465), "",
        ("Enable IMAP access in the Zoho Mail settings.", APP_PASSWORD_NOTE),
    ),
    Provider(
        "yandex", "Yandex Mail", ("yandex.ru", "yandex.com", "ya.ru", "yandex.by", "yandex.kz",
                                  "yandex.ua"),
        _ssl("imap.yandex.com", 993), _ssl("smtp.yandex.com", 465), "",
        ("An app password is required (Yandex ID, Security, App passwords).",),
    ),
    Provider(
        "aol", "AOL Mail", ("aol.com", "aim.com", "aol.co.uk", "aol.de", "aol.fr"),
        _ssl("imap.aol.com", 993), _ssl("smtp.aol.com", 465), "", (APP_PASSWORD_NOTE,),
    ),
    Provider(
        "proton", "Proton Mail", ("proton.me", "protonmail.com", "protonmail.ch", "pm.me"),
        None, None, "",
        (("Proton Mail has no direct IMAP/SMTP access: it needs Proton Mail Bridge (paid plans) "
         "running where the connection is made; enter the Bridge's host, ports and password "
         "by hand."),),
    ),
    Provider(
        "mailru", "Mail.ru", ("mail.ru", "inbox.ru", "list.ru", "bk.ru", "internet.ru"),
        _ssl("imap.mail.ru", 993), _ssl("smtp.mail.ru", 465), "",
        ("A password for external applications is required (Mail.ru security settings).",),
    ),
    Provider(
        "tonline", "Telekom Mail (t-online.de)", ("t-online.de", "magenta.de"),
        _ssl("secureimap.t-online.de", 993), _ssl("securesmtp.t-online.de", 465), "",
        (("Use the separate e-mail password set in the Telekom e-mail settings, "
         "not the Telekom login password."),),
    ),
    Provider(
        "orange", "Orange", ("orange.fr", "wanadoo.fr"), _ssl("imap.orange.fr", 993),
        _ssl("smtp.orange.fr", 465), "", (),
    ),
    Provider(
        "free", "Free", ("free.fr",), _ssl("imap.free.fr", 993, USERNAME_LOCALPART),
        _ssl("smtp.free.fr", 465, USERNAME_LOCALPART), "", (),
    ),
    Provider(
        "libero", "Libero Mail", ("libero.it", "iol.it", "inwind.it", "blu.it", "giallo.it"),
        _ssl("imapmail.libero.it", 993), _ssl("smtp.libero.it", 465), "", (),
    ),
    Provider(
        "qq", "QQ Mail", ("qq.com", "foxmail.com"), _ssl("imap.qq.com", 993),
        _ssl("smtp.qq.com", 465), "",
        (("Enable IMAP/SMTP in the QQ Mail settings and use the authorization code it gives "
         "as the password."),),
    ),
    Provider(
        "netease163", "NetEase 163 Mail", ("163.com",), _ssl("imap.163.com", 993),
        _ssl("smtp.163.com", 465), "",
        (("Enable IMAP/SMTP in the 163 Mail settings and use the client authorization "
         "password it gives."),),
    ),
    Provider(
        "netease126", "NetEase 126 Mail", ("126.com",), _ssl("imap.126.com", 993),
        _ssl("smtp.126.com", 465), "",
        (("Enable IMAP/SMTP in the 126 Mail settings and use the client authorization "
         "password it gives."),),
    ),
    Provider(
        "comcast", "Xfinity (Comcast)", ("comcast.net",), _ssl("imap.comcast.net", 993),
        _ssl("smtp.comcast.net", 465), "",
        ("Turn on third-party access in the Xfinity e-mail security settings.",),
    ),
    Provider(
        "mailbox_org", "mailbox.org", ("mailbox.org",), _ssl("imap.mailbox.org", 993),
        _ssl("smtp.mailbox.org", 465), "", (),
    ),
    Provider(
        "posteo", "Posteo", ("posteo.de", "posteo.net"), _ssl("posteo.de", 993),
        _ssl("posteo.de", 465), "", (),
    ),
)

_BY_DOMAIN: dict[str, Provider] = {d: p for p in PROVIDERS for d in p.domains}


def provider_for_domain(domain: str) -> Provider | None:
    """The row serving the address domain *domain* (case-insensitive, IDNA A-label),
    or ``None``. Sub-domains do not match: ``mail.gmail.com`` is not Gmail."""
    return _BY_DOMAIN.get(domain.lower().rstrip("."))


def provider_for_mx(mx_host: str) -> Provider | None:
    """The row whose MX host names or suffixes match *mx_host* (e.g.
    ``"aspmx.l.google.com."`` -> Google Workspace,
    ``"contoso-com.mail.protection.outlook.com"`` -> Microsoft 365), or ``None``."""
    host = mx_host.lower().rstrip(".")
    for provider in PROVIDERS:
        if host in provider.mx_hosts or any(host.endswith(s) for s in provider.mx_suffixes):
            return provider
    return None


def provider_for_host(imap_host: str) -> Provider | None:
    """The first row whose IMAP host is *imap_host*, or ``None``.

    Used to name the provider (and offer its OAuth sign-in) when an untrusted
    source points a custom domain at a known provider's servers; rows found only
    through MX (hosted business domains) come first in :data:`PROVIDERS`, so a
    custom domain on ``imap.gmail.com`` is Google Workspace, not Gmail.
    """
    host = imap_host.lower().rstrip(".")
    for provider in PROVIDERS:
        if provider.imap is not None and provider.imap.host == host:
            return provider
    return None
