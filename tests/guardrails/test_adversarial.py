"""Hostile inputs: nothing may take super-linear time (a request body can be megabytes)."""

from __future__ import annotations

import time

import pytest

from server.guardrails import InjectionDetector, Scanner, StreamRestorer, TopicPolicy, redact

SCANNER = Scanner()
INJECTION = InjectionDetector()
TOPICS = TopicPolicy(deny={"x": ["alpha beta", "gamma"]})

HOSTILE = {
    "digits": "1" * 50_000,
    "digit groups": "1234 " * 10_000,
    "dashed digits": "123-" * 12_000,
    "dots": "1." * 25_000,
    "colons": "a:" * 25_000,
    "hex colons": "ab:" * 16_000,
    "at signs": "a@" * 25_000,
    "local part": "a" * 50_000 + "@",
    "domain labels": "x@" + "a." * 25_000,
    "letters": "a" * 50_000,
    "spaced letters": "a " * 25_000,
    "base64": "QUFB" * 12_500,
    "iban heads": "DE89 " * 10_000,
    "plus signs": "+1 " * 16_000,
    "brackets": "[EMAIL_" * 7_000,
    "quotes": "'a " * 16_000,
    "begin key": "-----BEGIN RSA PRIVATE KEY-----\n" + "QUJD\n" * 10_000,
    "leet": "1gn0r3 " * 7_000,
    "newlines": "system:\n" * 6_000,
    # Dense findings: every check against earlier findings must not be a scan of all of them.
    "dense ipv4": "10.1.2.3 " * 12_000,
    "dense ibans": "DE89 3704 0044 0532 0130 00 " * 4_000,
    "dense mixed": "1.2.3.4 a@example.com DE89 3704 0044 0532 0130 00 +1 415 555 0132 " * 1_500,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_linear_enough(name: str) -> None:
    text = HOSTILE[name]
    start = time.perf_counter()
    findings = SCANNER.scan(text)
    redacted, mapping = redact(text, findings)
    INJECTION.score(text)
    TOPICS.check(text)
    restorer = StreamRestorer(mapping or {"[EMAIL_1]": "x"})
    for i in range(0, len(text), 4096):
        restorer.feed(text[i : i + 4096])
    restorer.flush()
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"{name}: {elapsed:.2f}s for {len(text)} characters"


@pytest.mark.parametrize("unit", ["3141592653", "QUJD", "a@b"])
def test_a_long_stream_without_blanks_is_filtered_in_linear_time(unit: str) -> None:
    """An answer streamed in small deltas with no blank (digits of pi, base64): the held-back
    text was rescanned on every delta, 32 s for 40,000 digits."""
    from server.core.settings_guardrails import GuardrailSettings
    from server.guardrails.runtime import Guard, OutputGuard

    guard = OutputGuard(Guard(GuardrailSettings()), {}, set())
    text = unit * (40_000 // len(unit))
    start = time.perf_counter()
    out = [guard.feed(text[i : i + 4]) for i in range(0, len(text), 4)]
    out.append(guard.flush())
    elapsed = time.perf_counter() - start
    assert "".join(out) == text
    assert elapsed < 2.0, f"{elapsed:.2f}s for {len(text)} characters"
