"""Redaction with stable placeholders, restoring them, and restoring over a stream."""

from __future__ import annotations

import itertools

import pytest

from server.guardrails import Finding, Redactor, Scanner, StreamRestorer, redact, restore
from server.guardrails.redact import placeholder_label

SCANNER = Scanner()
TEXT = "Ask ann@example.com and bob@example.org; cc ann@example.com. Card 4111 1111 1111 1111."


def test_placeholders_are_stable_and_numbered_per_kind() -> None:
    redacted, mapping = redact(TEXT, SCANNER.scan(TEXT))
    assert redacted == "Ask [EMAIL_1] and [EMAIL_2]; cc [EMAIL_1]. Card [CARD_1]."
    assert mapping == {
        "[EMAIL_1]": "ann@example.com",
        "[EMAIL_2]": "bob@example.org",
        "[CARD_1]": "4111 1111 1111 1111",
    }


def test_round_trip() -> None:
    redacted, mapping = redact(TEXT, SCANNER.scan(TEXT))
    assert restore(redacted, mapping) == TEXT


def test_restore_any_number_of_times_in_any_case_or_not_at_all() -> None:
    mapping = {"[EMAIL_1]": "ann@example.com", "[CARD_1]": "4111"}
    assert restore("[EMAIL_1] [email_1] [Email_1]", mapping) == "ann@example.com ann@example.com ann@example.com"
    assert restore("no placeholders here", mapping) == "no placeholders here"
    assert restore("[EMAIL_9] and [PHONE_1] stay", mapping) == "[EMAIL_9] and [PHONE_1] stay"
    assert restore("[EMAIL_1", mapping) == "[EMAIL_1"
    assert restore("anything", {}) == "anything"


def test_one_redactor_across_the_messages_of_a_request() -> None:
    r = Redactor()
    first = r.redact("from ann@example.com", SCANNER.scan("from ann@example.com"))
    second = r.redact("to bob@example.org, cc ann@example.com", SCANNER.scan("to bob@example.org, cc ann@example.com"))
    assert (first, second) == ("from [EMAIL_1]", "to [EMAIL_2], cc [EMAIL_1]")


def test_a_placeholder_already_in_the_text_is_skipped() -> None:
    text = "literal [EMAIL_1] and [email_2] then ann@example.com"
    redacted, mapping = redact(text, SCANNER.scan(text))
    assert redacted == "literal [EMAIL_1] and [email_2] then [EMAIL_3]"
    assert restore(redacted, mapping) == text


def test_custom_kind_labels() -> None:
    assert placeholder_label("employee_id") == "EMPLOYEE_ID"
    assert placeholder_label("a-b c") == "A_B_C"
    [f] = [Finding("employee_id", 0, 8, "E-123456")]
    assert redact("E-123456 left", [f]) == ("[EMPLOYEE_ID_1] left", {"[EMPLOYEE_ID_1]": "E-123456"})


def test_overlapping_findings_keep_the_first() -> None:
    text = "abcdefgh"
    out, mapping = redact(text, [Finding("a", 0, 4, "abcd"), Finding("b", 2, 6, "cdef"), Finding("c", 6, 8, "gh")])
    assert out == "[A_1]ef[C_1]"
    assert restore(out, mapping) == "abcdefgh"


MAPPING = {"[EMAIL_1]": "ann@example.com", "[EMAIL_12]": "bob@example.org", "[CARD_1]": "4111 1111 1111 1111"}
ANSWER = "Sure [EMAIL_1]: [CARD_1] was charged; tell [EMAIL_12] and [EMAIL_1]. [EMAIL_2] and [EMA"


def stream(chunks: list[str], mapping: dict[str, str]) -> str:
    restorer = StreamRestorer(mapping)
    out = [restorer.feed(c) for c in chunks]
    out.append(restorer.flush())
    return "".join(out)


def test_stream_every_split_point() -> None:
    expected = restore(ANSWER, MAPPING)
    for i in range(len(ANSWER) + 1):
        assert stream([ANSWER[:i], ANSWER[i:]], MAPPING) == expected, i


def test_stream_every_pair_of_split_points() -> None:
    text = "x[EMAIL_1]y[CARD_1]"
    expected = restore(text, MAPPING)
    for i, j in itertools.combinations(range(len(text) + 1), 2):
        assert stream([text[:i], text[i:j], text[j:]], MAPPING) == expected, (i, j)


def test_stream_one_character_at_a_time() -> None:
    assert stream(list(ANSWER), MAPPING) == restore(ANSWER, MAPPING)


def test_stream_holds_back_only_a_possible_placeholder_prefix() -> None:
    r = StreamRestorer(MAPPING)
    assert r.feed("price [4") == "price [4"  # "[4" cannot start a placeholder
    assert r.feed(" ok [EMA") == " ok "
    assert r.pending == "[EMA"
    assert r.feed("IL_1") == ""
    assert r.feed("] done") == "ann@example.com done"
    assert r.flush() == ""


def test_stream_without_mapping_passes_through() -> None:
    r = StreamRestorer({})
    assert r.feed("[EMAIL_1") == "[EMAIL_1"
    assert r.flush() == ""


@pytest.mark.parametrize("text", [TEXT, "", "no pii", "[EMAIL_1] literal and x@y.io"])
def test_redact_then_stream_restore_round_trip(text: str) -> None:
    redacted, mapping = redact(text, SCANNER.scan(text))
    for size in (1, 2, 3, 7, 64):
        chunks = [redacted[i : i + size] for i in range(0, len(redacted), size)]
        assert stream(chunks, mapping) == text
