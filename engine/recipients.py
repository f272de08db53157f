"""Who a reply goes to: Reply and Reply all computed from the message answered.

:rfc:`5322` section 3.6.3: a reply goes to the ``Reply-To`` mailboxes when the field is
present, else to the ``From`` mailboxes; "reply all" also sends to every ``To`` and ``Cc``
mailbox of the original. Here, every address of the sending account (its address and
its aliases, compared normalized) is left out, no address appears twice (To first, then
Cc), and nobody is added who is not on the original: the function returns exactly what
the composer shows, and the composer sends exactly what it shows.

A reply to our own message (its From is one of our addresses, e.g. answered from Sent)
goes to its recipients instead, as mail clients do: To stays To, and reply-all keeps Cc.

Pure functions; addresses are :class:`engine.mime.Address`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .mime import Address, normalize_email

#: Composer modes that compute recipients.
REPLY_MODES = ("reply", "reply_all")


@dataclass(frozen=True)
class ReplyRecipients:
    """The recipients of a reply and how they differ from the message answered.

    :ivar to: the To mailboxes, in order.
    :ivar cc: the Cc mailboxes, in order (empty for a plain reply).
    :ivar added: normalized addresses the reply sends to that were on none of the
        original's From, To and Cc (e.g. a ``Reply-To`` address).
    :ivar removed: normalized addresses of the original's From, To and Cc the reply
        does not send to (our own addresses; for a plain reply, the other recipients).
    """

    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]


def _unique(addresses: Iterable[Address], skip: set[str]) -> list[Address]:
    """*addresses* without those whose normalized form is in *skip* or invalid, first
    occurrence kept; *skip* grows with each address kept."""
    out = []
    for addr in addresses:
        norm = normalize_email(addr.email)
        if not norm or norm in skip:
            continue
        skip.add(norm)
        out.append(addr)
    return out


def _normalized(addresses: Iterable[Address]) -> list[str]:
    out = []
    for addr in addresses:
        norm = normalize_email(addr.email)
        if norm and norm not in out:
            out.append(norm)
    return out


def recipient_changes(original: Iterable[Address], recipients: Iterable[Address]):
    """``(added, removed)``: normalized addresses in *recipients* and not in *original*,
    and in *original* and not in *recipients*, each in order, without duplicates.

    :param original: the mailboxes of the message answered (From, To, Cc).
    :param recipients: what the reply sends to (To, Cc, Bcc).
    """
    before, after = _normalized(original), _normalized(recipients)
    return (tuple(a for a in after if a not in before),
            tuple(a for a in before if a not in after))


def reply_recipients(mode: str, *, from_: Sequence[Address], to: Sequence[Address],
                     cc: Sequence[Address] = (), reply_to: Sequence[Address] = (),
                     own: Iterable[str] = ()) -> ReplyRecipients:
    """The To and Cc of a reply to a message with these header fields.

    :param mode: ``"reply"`` or ``"reply_all"``.
    :param from_, to, cc, reply_to: the original's address fields (``Address`` tuples,
        as :class:`engine.mime.ParsedMessage` has them).
    :param own: the sending account's addresses (any case): never recipients.
    :returns: :class:`ReplyRecipients`.
    :raises ValueError: *mode* is not one of :data:`REPLY_MODES`.
    """
    if mode not in REPLY_MODES:
        raise ValueError(f"reply mode must be one of {REPLY_MODES}, not {mode!r}")
    mine = {normalize_email(a) for a in own} - {""}
    ours = bool(from_) and all(normalize_email(a.email) in mine for a in from_)
    skip = set(mine)
    if ours:
        new_to = _unique(to, skip)
        new_cc = _unique(cc, skip) if mode == "reply_all" else []
    else:
        new_to = _unique(reply_to or from_, skip)
        new_cc = _unique((*to, *cc), skip) if mode == "reply_all" else []
    added, removed = recipient_changes((*from_, *to, *cc), (*new_to, *new_cc))
    return ReplyRecipients(tuple(new_to), tuple(new_cc), added, removed)


__all__ = ["REPLY_MODES", "ReplyRecipients", "recipient_changes", "reply_recipients"]
