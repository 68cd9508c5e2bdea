"""Replace findings with placeholders before a request leaves, and put them back after.

    text, mapping = redact(text, scanner.scan(text))       # "[EMAIL_1] wrote to [EMAIL_2]"
    answer = restore(model_answer, mapping)                  # the originals again

Placeholders are `[KIND_N]`: KIND is the finding's kind in upper case, N counts per kind
from 1 in order of first appearance. The same (kind, value) always gets the same
placeholder within one `Redactor`, so a request with several messages should use one
`Redactor` for all of them. A placeholder that already occurs literally in the text being
redacted is skipped, so restoring can never turn the user's own text into something else.

`restore` replaces every placeholder of the mapping wherever it appears (any number of
times, in any letter case, or not at all) and leaves unknown ones alone. `StreamRestorer`
does the same over a stream of deltas, holding back only a tail that could still become a
placeholder of the mapping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from server.guardrails.base import Finding

PLACEHOLDER = re.compile(r"\[[A-Za-z][A-Za-z0-9_]*_\d+\]")


def placeholder_label(kind: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", kind.upper()).strip("_") or "REDACTED"


class Redactor:
    """Redaction state for one request: placeholders are stable across all its texts."""

    def __init__(self) -> None:
        self.mapping: dict[str, str] = {}  # placeholder -> original text
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}

    def redact(self, text: str, findings: Iterable[Finding]) -> str:
        """`text` with each finding replaced; overlapping findings after the first are ignored."""
        parts: list[str] = []
        pos = 0
        lowered = text.lower() if "[" in text else ""
        for f in sorted(findings, key=lambda f: (f.start, -f.end)):
            if f.start < pos or f.end <= f.start:
                continue
            parts.append(text[pos : f.start])
            parts.append(self.placeholder(f.kind, text[f.start : f.end], lowered))
            pos = f.end
        if not parts:
            return text
        parts.append(text[pos:])
        return "".join(parts)

    def placeholder(self, kind: str, value: str, lowered_context: str = "") -> str:
        """The placeholder for (kind, value), made on first use; never one that occurs in
        `lowered_context` (the lower-cased text being redacted)."""
        key = (kind, value)
        existing = self._by_value.get(key)
        if existing is not None:
            return existing
        label = placeholder_label(kind)
        n = self._counts.get(label, 0)
        while True:
            n += 1
            candidate = f"[{label}_{n}]"
            if candidate not in self.mapping and candidate.lower() not in lowered_context:
                break
        self._counts[label] = n
        self._by_value[key] = candidate
        self.mapping[candidate] = value
        return candidate


def redact(text: str, findings: Iterable[Finding]) -> tuple[str, dict[str, str]]:
    """One text, one fresh mapping: (redacted text, {placeholder: original})."""
    redactor = Redactor()
    return redactor.redact(text, findings), redactor.mapping


def restore(text: str, mapping: Mapping[str, str]) -> str:
    """Put the originals back wherever the model repeated a placeholder (the mapping's keys
    are placeholders as `Redactor` makes them, in upper case)."""
    if not mapping or "[" not in text:
        return text

    def back(m: re.Match[str]) -> str:
        found = m.group()
        original = mapping.get(found)
        if original is None:
            original = mapping.get(found.upper(), found)
        return original

    return PLACEHOLDER.sub(back, text)


class StreamRestorer:
    """`restore` over a stream: `feed(delta)` returns what can be sent now, `flush()` the rest.

    Only a tail that is a proper prefix of one of the mapping's placeholders is held back,
    so at most len(longest placeholder) - 1 characters wait, and only while they might
    still complete a placeholder.
    """

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self._mapping = {k.upper(): v for k, v in mapping.items()}
        self._prefixes = {p[:i] for p in self._mapping for i in range(1, len(p))}
        self._hold = max((len(p) for p in self._mapping), default=1) - 1
        self._buf = ""

    def feed(self, delta: str) -> str:
        if not self._mapping:
            return delta
        buf = self._buf + delta
        cut = self._held_from(buf)
        self._buf = buf[cut:]
        return restore(buf[:cut], self._mapping)

    def flush(self) -> str:
        rest, self._buf = self._buf, ""
        return restore(rest, self._mapping)

    @property
    def pending(self) -> str:
        return self._buf

    def _held_from(self, buf: str) -> int:
        i = buf.find("[", max(0, len(buf) - self._hold))
        while i != -1:
            if buf[i:].upper() in self._prefixes:
                return i
            i = buf.find("[", i + 1)
        return len(buf)
