"""Every message of CPython's own email test corpus parses without raising."""

import email
import glob
import os
import time

import pytest

from engine.mime import parse_message

CORPUS = os.path.normpath(
    os.path.join(os.path.dirname(email.__file__), "..", "test", "test_email", "data"))
FILES = sorted(glob.glob(os.path.join(CORPUS, "msg_*.txt")))


def test_corpus_is_present():
    if not FILES:
        pytest.skip(f"CPython test data not installed at {CORPUS}")
    assert len(FILES) > 40


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_corpus_message_parses(path):
    with open(path, "rb") as handle:
        raw = handle.read()
    for variant in (raw, raw.replace(b"\n", b"\r\n")):
        started = time.perf_counter()
        parsed = parse_message(variant)
        assert time.perf_counter() - started < 1
        assert parsed.size == len(variant)
        for text in (parsed.subject, parsed.body_text, parsed.body_html,
                     *(a.filename for a in parsed.attachments),
                     *(a.name for a in parsed.from_ + parsed.to + parsed.cc)):
            text.encode("utf-8")  # valid Unicode, storable in PostgreSQL
            assert "\x00" not in text
        assert parsed.malformed or not any("limit" in w or "deeper" in w for w in parsed.warnings)
