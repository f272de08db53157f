"""When a mailbox is tried again: exponential backoff of failing accounts.

Pure functions, no Odoo import; the account model (models/crm_inbox_account_health.py)
stores ``sync_failure_count`` and ``sync_next_attempt`` and asks here for the delay.

A failing mailbox is retried after its sync interval, then 2x, 4x, ... that, capped
(``cap`` seconds, default 6 hours), so a hundred broken accounts take a few claims
per hour instead of every cycle. A throttling answer (:class:`~engine.errors.Throttled`,
or an IMAP ``[THROTTLED]``/``[UNAVAILABLE]``/``[INUSE]``/``[LIMIT]`` response code,
RFC 5530, or SMTP 421/454, RFC 5321 section 4.2.3) is backed off from at least
``throttle_floor`` seconds (default 15 minutes): the server said "later", hammering
it makes providers block the account longer.
"""

from __future__ import annotations

import re

from .errors import EngineError, Throttled

#: Response codes / reply codes that mean "come back later".
_THROTTLE_RE = re.compile(
    r"\[(THROTTLED|UNAVAILABLE|INUSE|LIMIT)\]|(?:^|\D)(421|454)[ -]\S", re.IGNORECASE
)
DEFAULT_CAP = 6 * 3600
DEFAULT_THROTTLE_FLOOR = 15 * 60


def is_throttled(exc: BaseException) -> bool:
    """Whether *exc* is a server's "come back later" answer (see module docstring).

    :param exc: an exception from the engine (or ``smtplib``).
    """
    if isinstance(exc, Throttled):
        return True
    code = getattr(exc, "smtp_code", None)
    if code in (421, 454):
        return True
    if not isinstance(exc, EngineError):
        return False
    return bool(_THROTTLE_RE.search(str(exc)))


def retry_delay(failures: int, interval: float, *, throttled: bool = False,
                cap: float = DEFAULT_CAP,
                throttle_floor: float = DEFAULT_THROTTLE_FLOOR) -> float:
    """Seconds to wait before the next attempt after *failures* consecutive failures.

    ``interval * 2 ** (failures - 1)``, at most *cap*; at least *throttle_floor*
    when the last answer was a throttling one. Zero failures: *interval*.

    :param failures: consecutive failed syncs, the one just recorded included (>= 0).
    :param interval: the account's normal sync interval, in seconds (> 0).
    :param throttled: the last failure was a throttling answer (:func:`is_throttled`).
    :param cap: the longest delay, in seconds.
    :param throttle_floor: the shortest delay after a throttling answer, in seconds.
    :raises ValueError: *interval* not positive or *failures* negative.
    """
    if interval <= 0 or failures < 0:
        raise ValueError(f"retry_delay(failures={failures}, interval={interval}): "
                         "the interval must be positive and failures not negative")
    exponent = max(failures - 1, 0)
    # 2 ** 40 intervals is far past any cap: avoid huge floats for long failure streaks
    delay = min(interval * 2 ** min(exponent, 40), max(cap, interval))
    if throttled:
        delay = max(delay, min(throttle_floor, max(cap, interval)))
    return float(delay)
