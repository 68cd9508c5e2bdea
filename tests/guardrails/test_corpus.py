"""The labelled corpora: well-formed, big enough, and the detectors reach the bar on them."""

from __future__ import annotations

from collections import Counter

import pytest

from server.guardrails import BUILTIN_KINDS, DEFAULT_THRESHOLD
from cli.tools.eval_guardrails import DATA_DIR, InjectionLine, PiiLine, evaluate_injection, evaluate_pii, load_jsonl

PII = load_jsonl(DATA_DIR / "pii_corpus.jsonl", PiiLine)
INJECTION = load_jsonl(DATA_DIR / "injection_corpus.jsonl", InjectionLine)


def test_pii_corpus_shape() -> None:
    counts = Counter((line.group, line.label) for line in PII)
    for kind in BUILTIN_KINDS:
        assert counts[kind, "positive"] >= 40, kind
        assert counts[kind, "negative"] >= 40, kind
    for line in PII:
        assert all(span.text in line.text for span in line.spans), line
        assert all(span.kind in BUILTIN_KINDS for span in line.spans), line
        if line.label == "positive":
            assert any(span.kind == line.group for span in line.spans), line
        else:
            assert not any(span.kind == line.group for span in line.spans), line
            assert line.note, line


def test_injection_corpus_shape() -> None:
    counts = Counter(line.label for line in INJECTION)
    assert set(counts) == {"attack", "benign"}
    assert counts["attack"] >= 60 and counts["benign"] >= 60


SCORES, ERRORS = evaluate_pii(PII)


@pytest.mark.parametrize("kind", BUILTIN_KINDS)
def test_pii_detector_reaches_the_bar(kind: str) -> None:
    score = SCORES[kind]
    detail = [e for e in ERRORS if e.split()[1] == kind]
    assert score.recall >= 0.95, detail
    assert score.precision >= 0.95, detail


def test_injection_detector_reaches_the_bar_at_the_default_threshold() -> None:
    [(_, score)], _ = evaluate_injection(INJECTION, [DEFAULT_THRESHOLD])
    assert score.recall >= 0.9 and score.precision >= 0.9, score
