"""What every detector returns and promises: `Finding`, the `Detector` protocol, kind names.

A finding's `start`/`end` are `str` indices into the scanned text (`text[start:end] ==
finding.text`). `kind` is the family (`email`, `card`, ... or a custom name) and is what
placeholders are made from; `detail` says more where it helps an operator (card brand,
secret type, ipv4/ipv6) and never changes matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
