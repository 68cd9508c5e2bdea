"""What every detector returns and promises: `Finding`, the `Detector` protocol, kind names.

A finding's `start`/`end` are `str` indices into the scanned text (`text[start:end] ==
finding.text`). `kind` is the family (`email`, `card`, ... or a custom name) and is what
placeholders are made from; `detail` says more where it helps an operator (card brand,
secret type, ipv4/ipv6) and never changes matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Protocol

import msgspec

EMAIL = "email"
PHONE = "phone"
CARD = "card"
IBAN = "iban"
SSN = "ssn"
IP = "ip"
SECRET = "secret"
BUILTIN_KINDS: tuple[str, ...] = (EMAIL, PHONE, CARD, IBAN, SSN, IP, SECRET)

# Texts up to this many characters are checked inline on the event loop (a few ms at worst);
# longer ones go to the helper process (server.guardrails.offload), or are not screened.
INLINE_CHARS = 16_384

KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class Finding(msgspec.Struct, frozen=True):
    kind: str
    start: int
    end: int
    text: str
    detail: str = ""


class Detector(Protocol):
    kind: str

    def detect(self, text: str) -> list[Finding]: ...


def check_kind_name(name: str) -> str:
    if not KIND_NAME.match(name):
        raise ValueError(f"guardrail kind {name!r}: expected lowercase letters, digits and _ (max 32)")
    return name


class Words:
    """Whole-word search for many literal words or phrases (one trie-shaped regex).

    The left word boundary is checked in Python rather than with a leading lookbehind:
    a pattern that starts with the trie lets the regex engine skip to possible first
    letters, which is about three times faster on ordinary text.
    """

    def __init__(self, words: Iterable[str], suffix: str = "", flags: int = 0) -> None:
        self._rx = re.compile(words_pattern(words) + suffix + r"(?!\w)", flags)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        pos = 0
        while (m := self._rx.search(text, pos)) is not None:
            start = m.start()
            if start and (text[start - 1].isalnum() or text[start - 1] == "_"):
                pos = start + 1  # inside a word: look again from the next character
                continue
            yield m
            pos = max(m.end(), start + 1)

    def search(self, text: str) -> bool:
        return next(self.finditer(text), None) is not None


def words_pattern(words: Iterable[str]) -> str:
    """One regex alternation for many literal words, built as a trie so that matching cost
    does not grow with the number of words (plain `a|b|c|...` tries each in turn).
    Whitespace inside a phrase matches any run of whitespace."""
    trie: dict[str, dict] = {}
    for word in words:
        word = " ".join(word.split())
        if not word:
            continue
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    if not trie:
        return "(?!)"
    return _trie_regex(trie)


def _trie_regex(node: dict[str, dict]) -> str:
    ends = "" in node
    branches = [(_atom(ch) + _trie_regex(child)) for ch, child in sorted(node.items()) if ch != ""]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends:
        return "(?:" + body + ")?"
    return body


def _atom(ch: str) -> str:
    return r"\s+" if ch == " " else re.escape(ch)
