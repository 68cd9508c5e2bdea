"""Topic allow/deny lists: which topics a text touches, by keywords or regexes.

    policy = TopicPolicy(
        allow={"it_support": ["printer", "vpn", "password reset", "re:\\bticket\\s*#?\\d+"]},
        deny={"weapons": ["firearm", "explosive", "re:\\bhow\\s+to\\s+build\\s+a\\s+bomb\\b"]},
    )
    result = policy.check(text)   # TopicResult(denied=("weapons",), allowed=(), allowed_ok=False)
    result.blocked                # a deny topic matched, or an allow list exists and none matched

A term is a keyword or phrase, matched whole-word and case-insensitively (spaces match
any whitespace, and a trailing "s"/"es" is accepted so "firearm" finds "firearms"), or,
when it starts with "re:", a regular expression (case-insensitive; use (?-i:...) for a
case-sensitive part). Keywords of one topic are compiled into a single trie-shaped regex,
so long lists stay cheap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec

from server.guardrails.base import Words

REGEX_PREFIX = "re:"


class TopicResult(msgspec.Struct, frozen=True):
    denied: tuple[str, ...]
    allowed: tuple[str, ...]
    allowed_ok: bool  # True when there is no allow list or an allowed topic matched

    @property
    def blocked(self) -> bool:
        return bool(self.denied) or not self.allowed_ok


class TopicPolicy:
    def __init__(
        self,
        allow: Mapping[str, Sequence[str]] | None = None,
        deny: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._allow = None if allow is None else _compile_topics(allow, "allow")
        self._deny = _compile_topics(deny or {}, "deny")

    def check(self, text: str) -> TopicResult:
        lowered = text.lower()
        denied = tuple(t.name for t in self._deny if t.matches(text, lowered))
        if self._allow is None:
            return TopicResult(denied, (), True)
        allowed = tuple(t.name for t in self._allow if t.matches(text, lowered))
        return TopicResult(denied, allowed, bool(allowed))

    def denied(self, text: str) -> tuple[str, ...]:
        lowered = text.lower()
        return tuple(t.name for t in self._deny if t.matches(text, lowered))

    def allowed(self, text: str) -> bool:
        """True when no allow list is set or at least one allowed topic matches."""
        if self._allow is None:
            return True
        lowered = text.lower()
        return any(t.matches(text, lowered) for t in self._allow)


@dataclass(frozen=True, slots=True)
class _Topic:
    name: str
    words: Words | None  # keywords, lower case, run over the lower-cased text
    regex: re.Pattern[str] | None  # "re:" terms, case-insensitive, run over the text itself

    def matches(self, text: str, lowered: str) -> bool:
        # Keywords are matched in lower case without IGNORECASE, which is several times
        # slower in Python's regex engine.
        return bool(
            (self.words is not None and self.words.search(lowered))
            or (self.regex is not None and self.regex.search(text))
        )


def _compile_topics(topics: Mapping[str, Sequence[str]], which: str) -> list[_Topic]:
    compiled = []
    for name, terms in topics.items():
        if isinstance(terms, str):
            raise ValueError(f"{which} topic {name!r}: expected a list of terms, not one string")
        words = [t.lower() for t in terms if not t.startswith(REGEX_PREFIX) and t.strip()]
        regexes = [t[len(REGEX_PREFIX) :] for t in terms if t.startswith(REGEX_PREFIX)]
        for rx in regexes:
            try:
                re.compile(rx)
            except re.error as e:
                raise ValueError(f"{which} topic {name!r}: invalid regex {rx!r}: {e}") from None
        if not words and not regexes:
            raise ValueError(f"{which} topic {name!r} has no terms")
        compiled.append(
            _Topic(
                name,
                Words(words, suffix=r"(?:e?s)?") if words else None,
                re.compile("|".join(f"(?:{rx})" for rx in regexes), re.IGNORECASE) if regexes else None,
            )
        )
    return compiled
