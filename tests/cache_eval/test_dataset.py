"""tests/data/cache_pairs.jsonl is what the evaluation needs: big, varied, balanced, clean."""

from __future__ import annotations

import json
import re
from collections import Counter

from cli.tools.eval_cache import DEFAULT_PAIRS, KINDS

HARD = ("entity", "number", "negation", "antonym", "topic")


def _rows() -> list[dict]:
    with open(DEFAULT_PAIRS, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def test_every_line_has_the_fields_and_types() -> None:
    for n, row in enumerate(_rows(), 1):
        assert set(row) == {"a", "b", "same", "domain", "kind"}, n
        assert isinstance(row["a"], str) and isinstance(row["b"], str) and row["a"].strip() and row["b"].strip(), n
        assert isinstance(row["same"], bool), n
        assert row["kind"] in KINDS, n
        assert row["same"] == (row["kind"] == "paraphrase"), f"line {n}: label and kind disagree"
        assert _norm(row["a"]) != _norm(row["b"]), n


def test_size_domains_and_balance() -> None:
    rows = _rows()
    assert len(rows) >= 360
    domains = Counter(r["domain"] for r in rows)
    assert len(domains) >= 8
    assert min(domains.values()) >= 30, domains
    same = sum(r["same"] for r in rows) / len(rows)
    assert 0.45 <= same <= 0.55, same
    for domain in domains:  # every domain has both paraphrases and look-alikes
        labels = {r["same"] for r in rows if r["domain"] == domain}
        assert labels == {True, False}, domain


def test_every_kind_is_present_and_negatives_are_mostly_hard() -> None:
    kinds = Counter(r["kind"] for r in _rows())
    assert set(kinds) == set(KINDS)
    for kind in HARD:
        assert kinds[kind] >= 20, (kind, kinds[kind])
    negatives = sum(kinds[k] for k in HARD) + kinds["unrelated"]
    assert sum(kinds[k] for k in HARD) >= 0.8 * negatives
    assert kinds["unrelated"] >= 20


def test_no_duplicate_pairs_in_either_order() -> None:
    seen: set[frozenset[str]] = set()
    for n, row in enumerate(_rows(), 1):
        key = frozenset((_norm(row["a"]), _norm(row["b"])))
        assert key not in seen, f"line {n} repeats a pair: {row['a']!r} / {row['b']!r}"
        seen.add(key)


def test_paraphrases_are_varied_not_templated() -> None:
    rows = [r for r in _rows() if r["same"]]
    # No single question is reused as the cached side of many paraphrases...
    assert max(Counter(_norm(r["a"]) for r in rows).values()) <= 3
    # ...and the set covers typos/lowercase, short forms and long rewordings.
    assert sum(r["b"] == r["b"].lower() for r in rows) >= 20
    lengths = [sorted((len(r["a"].split()), len(r["b"].split()))) for r in rows]
    assert sum(long >= 1.5 * short for short, long in lengths) >= 40
