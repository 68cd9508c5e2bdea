"""Scanner: choosing kinds, custom patterns and word lists, and overlap resolution."""

from __future__ import annotations

import time

import pytest

from server.guardrails import BUILTIN_KINDS, CustomPattern, Finding, Scanner, WordList, resolve_overlaps

TEXT = (
    "Mail maria@example.com, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, "
    "SSN 123-45-6789, server 10.0.0.7, phone +44 20 7946 0958, token ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5."
)


def test_all_kinds_by_default_sorted_and_disjoint() -> None:
    findings = Scanner().scan(TEXT)
    assert [f.kind for f in findings] == ["email", "card", "iban", "ssn", "ip", "phone", "secret"]
    for a, b in zip(findings, findings[1:]):
        assert a.end <= b.start


def test_only_the_chosen_kinds() -> None:
    assert [f.kind for f in Scanner({"card", "ip"}).scan(TEXT)] == ["card", "ip"]
    assert Scanner(set()).scan(TEXT) == []
    assert Scanner({"email"}).kinds == frozenset({"email"})


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown guardrail kind"):
        Scanner({"emails"})


def test_custom_pattern_and_word_list() -> None:
    scanner = Scanner(
        {"email"},
        custom=[CustomPattern("employee_id", r"\bE-\d{6}\b"), WordList("project", ["Blue Falcon", "Orion"])],
    )
    text = "E-123456 works on blue  falcon and Orion-2, not on Orionids; mail e@x.org"
    assert [(f.kind, f.text) for f in scanner.scan(text)] == [
        ("employee_id", "E-123456"),
        ("project", "blue  falcon"),
        ("project", "Orion"),
        ("email", "e@x.org"),
    ]


def test_word_list_case_sensitive() -> None:
    words = WordList("client", ["ACME"], case_insensitive=False)
    assert [f.text for f in words.detect("ACME and acme")] == ["ACME"]


def test_large_word_list_stays_fast() -> None:
    words = WordList("name", [f"client{i:05d}" for i in range(20000)])
    text = "we met client01234 and client19999 but not client2 " * 40
    start = time.perf_counter()
    found = words.detect(text)
    elapsed = time.perf_counter() - start
    assert len(found) == 80
    assert elapsed < 0.05, elapsed


@pytest.mark.parametrize(
    "custom, message",
    [
        (lambda: CustomPattern("Bad Name", "x"), "lowercase"),
        (lambda: CustomPattern("x", "("), "invalid regex"),
        (lambda: CustomPattern("x", "a*"), "empty string"),
        (lambda: WordList("x", ["", "  "]), "empty"),
    ],
)
def test_custom_validation(custom, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        custom()


def test_custom_name_cannot_shadow_a_builtin_or_repeat() -> None:
    with pytest.raises(ValueError, match="clash"):
        Scanner(custom=[CustomPattern("email", "x")])
    with pytest.raises(ValueError, match="clash"):
        Scanner(custom=[CustomPattern("a", "x"), WordList("a", ["y"])])


def test_longest_wins_then_most_specific() -> None:
    f = lambda kind, s, e: Finding(kind, s, e, "x" * (e - s))  # noqa: E731
    found = [f("phone", 0, 10), f("iban", 0, 22), f("ip", 30, 40), f("secret", 30, 40), f("email", 41, 45)]
    kept = resolve_overlaps(found)
    assert [(x.kind, x.start) for x in kept] == [("iban", 0), ("secret", 30), ("email", 41)]


def test_ssn_beats_an_equally_long_phone() -> None:
    # "012-34-5678" is SSN-shaped; the phone detector declines SSN shapes and the SSN wins.
    assert [(f.kind, f.text) for f in Scanner().scan("SSN 012-34-5678")] == [("ssn", "012-34-5678")]


def test_every_builtin_kind_is_covered() -> None:
    assert set(BUILTIN_KINDS) == {f.kind for f in Scanner().scan(TEXT)}
