"""engine.backoff: the retry delay grows, is capped, and throttling is recognised."""

import smtplib

import pytest

from engine import backoff, errors


def test_delay_doubles_then_caps():
    delays = [backoff.retry_delay(n, 300, cap=3600) for n in range(7)]
    assert delays == [300, 300, 600, 1200, 2400, 3600, 3600]


def test_throttled_has_a_floor():
    assert backoff.retry_delay(1, 300, throttled=True, throttle_floor=900) == 900
    assert backoff.retry_delay(4, 300, throttled=True, throttle_floor=900) == 2400


def test_long_streak_stays_finite():
    assert backoff.retry_delay(10_000, 300) == backoff.DEFAULT_CAP


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="interval must be positive"):
        backoff.retry_delay(1, 0)
    with pytest.raises(ValueError):
        backoff.retry_delay(-1, 300)


@pytest.mark.parametrize("exc", [
    errors.Throttled("x"),
    errors.ProtocolFailed("IMAP select failed: NO [THROTTLED] Request is throttled"),
    errors.ConnectFailed("A1 NO [UNAVAILABLE] try later"),
    errors.ProtocolFailed("SMTP mail failed: 421 4.7.0 Try again later"),
    errors.ProtocolFailed("SMTP rcpt failed: 454 4.7.0 Temporary authentication failure"),
    smtplib.SMTPResponseException(421, b"Service not available"),
])
def test_throttling_answers(exc):
    assert backoff.is_throttled(exc)


@pytest.mark.parametrize("exc", [
    errors.ConnectionRefused("127.0.0.1:1 refused"),
    errors.AuthenticationFailed("NO [AUTHENTICATIONFAILED] bad password"),
    errors.ProtocolFailed("SMTP mail failed: 550 5.1.1 no such user"),
    ValueError("[THROTTLED]"),
])
def test_not_throttling(exc):
    assert not backoff.is_throttled(exc)
