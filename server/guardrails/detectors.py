"""The detectors and the `Scanner` that runs a chosen set of them over one text.

    scanner = Scanner({"email", "card"}, custom=[CustomPattern("employee_id", r"\\bE-\\d{6}\\b")])
    findings = scanner.scan(text)     # sorted by start, never overlapping

Built-in kinds: email, phone, card, iban, ssn, ip, secret (see pii.py, credentials.py).
Custom kinds come from `CustomPattern` (one regex) and `WordList` (literal words or
phrases, matched on word boundaries, compiled into one trie-shaped regex). All patterns
are compiled once, when the detector is built; a Scanner holds no per-request state, so
one instance serves every request.

When findings overlap, the longest wins; between equally long ones the more specific
kind (checksum- or prefix-validated ones first, phone numbers last) wins.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache
from collections.abc import Collection, Iterable, Sequence

from server.guardrails.base import (
    BUILTIN_KINDS,
    CARD,
    EMAIL,
    IBAN,
    IP,
    PHONE,
    SECRET,
    SSN,
    Detector,
    Finding,
    Words,
    check_kind_name,
)
from server.guardrails.credentials import SecretDetector
from server.guardrails.pii import (
    CardDetector,
    EmailDetector,
    IbanDetector,
    IpDetector,
    PhoneDetector,
    SsnDetector,
)

__all__ = [
    "BUILTIN_KINDS",
    "CardDetector",
    "CustomPattern",
    "Detector",
    "EmailDetector",
    "Finding",
    "IbanDetector",
    "IpDetector",
    "PhoneDetector",
    "Scanner",
    "SecretDetector",
    "SsnDetector",
    "WordList",
    "builtin_detector",
    "resolve_overlaps",
]

_BUILTIN: dict[str, type] = {
    EMAIL: EmailDetector,
    PHONE: PhoneDetector,
    CARD: CardDetector,
    IBAN: IbanDetector,
    SSN: SsnDetector,
    IP: IpDetector,
    SECRET: SecretDetector,
}
# Lower is more specific; used only to break ties between equally long overlapping findings.
_SPECIFICITY = {SECRET: 0, CARD: 0, IBAN: 0, SSN: 1, EMAIL: 1, IP: 1, PHONE: 3}
_CUSTOM_SPECIFICITY = 2


def builtin_detector(kind: str) -> Detector:
    try:
        return _BUILTIN[kind]()
    except KeyError:
        raise ValueError(f"unknown guardrail kind {kind!r}; expected one of {', '.join(BUILTIN_KINDS)}") from None


class CustomPattern:
    """A site-defined kind found by one regex (whole match = the finding)."""

    def __init__(self, name: str, regex: str, case_insensitive: bool = False) -> None:
        self.kind = check_kind_name(name)
        try:
            self._rx = re.compile(regex, re.IGNORECASE if case_insensitive else 0)
        except re.error as e:
            raise ValueError(f"guardrail pattern {name!r}: invalid regex: {e}") from None
        if self._rx.fullmatch("") is not None:
            raise ValueError(f"guardrail pattern {name!r}: the regex matches the empty string")

    def detect(self, text: str) -> list[Finding]:
        return [
            Finding(self.kind, m.start(), m.end(), m.group()) for m in self._rx.finditer(text) if m.end() > m.start()
        ]


class WordList:
    """A site-defined kind found by a list of words or phrases (code names, client names).

    Words match whole (not inside a longer word); spaces in a phrase match any whitespace.
    """

    def __init__(self, name: str, words: Iterable[str], case_insensitive: bool = True) -> None:
        self.kind = check_kind_name(name)
        words = [w for w in words if w.strip()]
        if not words:
            raise ValueError(f"guardrail word list {name!r} is empty")
        self._words = Words(words, flags=re.IGNORECASE if case_insensitive else 0)

    def detect(self, text: str) -> list[Finding]:
        return [Finding(self.kind, m.start(), m.end(), m.group()) for m in self._words.finditer(text)]


class Scanner:
    """Runs the chosen built-in detectors (all of them when `kinds` is None) plus the custom
    ones, and returns non-overlapping findings sorted by position."""

    def __init__(self, kinds: Collection[str] | None = None, custom: Sequence[CustomPattern | WordList] = ()) -> None:
        chosen = BUILTIN_KINDS if kinds is None else tuple(k for k in BUILTIN_KINDS if k in kinds)
        unknown = set(kinds or ()) - set(BUILTIN_KINDS)
        if unknown:
            expected = ", ".join(BUILTIN_KINDS)
            raise ValueError(f"unknown guardrail kind(s) {sorted(unknown)}; expected some of {expected}")
        names = [c.kind for c in custom]
        clash = (set(names) & set(BUILTIN_KINDS)) | {n for n in names if names.count(n) > 1}
        if clash:
            raise ValueError(f"custom guardrail name(s) {sorted(clash)} clash with another kind")
        self.detectors: tuple[Detector, ...] = tuple(builtin_detector(k) for k in chosen) + tuple(custom)
        self.kinds: frozenset[str] = frozenset(d.kind for d in self.detectors)

    def scan(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        for detector in self.detectors:
            found.extend(detector.detect(text))
        return resolve_overlaps(found)


@lru_cache(maxsize=1)
def builtin_scanner() -> Scanner:
    """Every built-in detector, compiled once and shared (a Scanner keeps no state between
    scans): the cache's screen without guardrails, trace redaction, the upstream-error
    scrubber and the output guard all use this one."""
    return Scanner(set(BUILTIN_KINDS))


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep the longest (then most specific, then earliest) of any overlapping findings.

    Findings are first split into clusters that overlap among themselves (one sweep by
    start); a choice in one cluster never touches another, so the ranking runs per cluster
    and a text with a million findings costs O(n log n), not O(n^2)."""
    by_start = sorted(findings, key=lambda f: (f.start, f.end))
    kept: list[Finding] = []
    cluster: list[Finding] = []
    reach = -1
    for f in by_start:
        if cluster and f.start >= reach:
            kept.extend(_resolve_cluster(cluster))
            cluster = []
        cluster.append(f)
        reach = max(reach, f.end) if len(cluster) > 1 else f.end
    if cluster:
        kept.extend(_resolve_cluster(cluster))
    return kept


def _resolve_cluster(findings: list[Finding]) -> list[Finding]:
    if len(findings) == 1:
        return findings
    ranked = sorted(
        findings,
        key=lambda f: (f.start - f.end, _SPECIFICITY.get(f.kind, _CUSTOM_SPECIFICITY), f.start),
    )
    starts: list[int] = []
    kept: list[Finding] = []
    for f in ranked:
        i = bisect_right(starts, f.start)
        if i and kept[i - 1].end > f.start:
            continue
        if i < len(kept) and kept[i].start < f.end:
            continue
        starts.insert(i, f.start)
        kept.insert(i, f)
    return kept
