"""Upstream error text keeps no terminal control sequence (red team).

An upstream's error text is kept (ledger.error, provider_health.last_error) and shown by
`gate top` and `gate traces show` through Textual, which writes an ESC it is given to the
terminal: an upstream could retitle, clear or recolour the operator's terminal. The scrubber,
which every upstream error passes through, now replaces C0 and C1 controls (but tab and
newline) with U+FFFD.
"""

from __future__ import annotations

import json

import pytest

from server.providers.scrub import Scrubber

SCRUBBER = Scrubber(["sk-Ab3dEf9hIjKlMnOpQrStUv12Wx"])


@pytest.mark.parametrize("text", ["bad \x1b]0;pwned\x07 key", "a\x1b[2Jb\x1b[31mc", "x\x9b31my", "cr\rhides\x08\x7f"])
def test_control_sequences_are_replaced(text):
    clean = SCRUBBER.scrub(text)
    assert not any(ord(c) < 32 and c not in "\t\n" or 0x7f <= ord(c) <= 0x9f for c in clean), repr(clean)
    assert clean.count("\ufffd") == sum(1 for c in text if ord(c) < 32 or 0x7f <= ord(c) <= 0x9f)


def test_tabs_newlines_and_text_are_kept():
    text = "line one\n\tline two: bad temperature 3.5 (max 2)"
    assert SCRUBBER.scrub(text) == text


def test_an_error_event_keeps_no_control_sequence():
    event = json.dumps({"error": {"message": "cannot \x1b]0;pwned\x07 do it", "type": "server_error"}}).encode()
    out = json.loads(SCRUBBER.scrub_event(event))
    assert out["error"]["message"] == "cannot \ufffd]0;pwned\ufffd do it"
