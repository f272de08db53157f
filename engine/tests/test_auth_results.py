"""engine.mime: Authentication-Results (RFC 8601) and the forged-sender warning."""

from hypothesis import given
from hypothesis import strategies as st

from engine.mime import AuthResults, parse_authentication_results, parse_message, sender_warning

GENUINE = ("mx.example.com 1; spf=pass (sender ok) smtp.mailfrom=bounce@mail.Customer.example;"
           " dkim=fail header.d=other.example; dkim=pass header.d=customer.example header.s=s1;"
           " dmarc=pass (p=none) header.from=customer.example")
FORGED = ("mx.example.com; spf=fail smtp.mailfrom=evil.example; dkim=none;"
          " dmarc=fail (p=reject dis=none) header.from=customer.example")


def test_genuine_message():
    auth = parse_authentication_results([GENUINE])
    assert auth == AuthResults(
        authserv_id="mx.example.com", spf="pass", dkim="pass", dmarc="pass",
        spf_domain="mail.customer.example", dkim_domains=("customer.example",),
        dmarc_from="customer.example")
    assert sender_warning(auth, "carla@customer.example") == ""


def test_dmarc_fail_warns():
    auth = parse_authentication_results([FORGED])
    assert (auth.spf, auth.dkim, auth.dmarc) == ("fail", "none", "fail")
    assert "DMARC failed for customer.example" in sender_warning(auth, "carla@customer.example")


def test_only_the_topmost_field_counts():
    """A field added upstream (below the receiving server's) is ignored (RFC 8601 §5)."""
    auth = parse_authentication_results([FORGED, GENUINE.replace("mx.example.com", "evil")])
    assert auth.dmarc == "fail"


def test_trusted_authserv_id_picks_that_field():
    forged_on_top = "mx.example.com; dmarc=pass header.from=customer.example"
    auth = parse_authentication_results(
        [forged_on_top, FORGED.replace("mx.example.com", "mx.ours.example")],
        trusted_ids=["MX.Ours.Example"])
    assert (auth.authserv_id, auth.dmarc) == ("mx.ours.example", "fail")
    assert parse_authentication_results([forged_on_top], ["mx.ours.example"]) == AuthResults()


def test_alignment_without_dmarc():
    unaligned = parse_authentication_results(
        ["mx; spf=pass smtp.mailfrom=bulk.mailer.example; dkim=pass header.d=mailer.example"])
    assert "not confirmed by DKIM or SPF" in sender_warning(unaligned, "ceo@customer.example")
    aligned = parse_authentication_results(
        ['mx; dkim=pass header.i="@news.customer.example"'])
    assert sender_warning(aligned, "ceo@customer.example") == ""
    spf_only = parse_authentication_results(["mx; spf=pass smtp.mailfrom=customer.example"])
    assert sender_warning(spf_only, "ceo@customer.example") == ""


def test_unknown_is_not_a_warning():
    assert sender_warning(parse_authentication_results([]), "a@b.example") == ""
    assert parse_authentication_results(["mx.example.com 1; none"]) == AuthResults()
    assert parse_authentication_results(["", ";;;", "(only a comment)"]) == AuthResults()


def test_comments_and_quotes():
    auth = parse_authentication_results(
        [('mx (a; b (nested; )) ; dkim = pass (good; sig) header.d="customer.example";'
         ' dmarc=pass header.from=customer.example')])
    assert (auth.authserv_id, auth.dkim, auth.dkim_domains, auth.dmarc) == (
        "mx", "pass", ("customer.example",), "pass")


def test_parse_message_keeps_fields_topmost_first():
    raw = (b"Authentication-Results: mx.example.com;\r\n spf=pass smtp.mailfrom=a.example\r\n"
           b"Authentication-Results: upstream; dmarc=pass\r\n"
           b"From: a@a.example\r\nSubject: s\r\n\r\nbody\r\n")
    msg = parse_message(raw)
    assert msg.authentication_results == ("mx.example.com; spf=pass smtp.mailfrom=a.example",
                                          "upstream; dmarc=pass")


@given(st.lists(st.text(max_size=200), max_size=4), st.text(max_size=60))
def test_never_raises(values, sender):
    auth = parse_authentication_results(values)
    assert isinstance(sender_warning(auth, sender), str)
