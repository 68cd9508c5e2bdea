"""The semantic cache's second stage: may a cached answer serve a new question?

A cosine threshold alone cannot tell "How do I open a savings account?" from "How do I close
a savings account?" (STACK.md: precision never above ~0.75). `verify(query, cached)` runs on
a candidate above the threshold and rejects look-alikes with rules on normalised words (case,
contractions, aliases, a light stemmer, number words), no model. A candidate is rejected if:

- number:       their numbers differ (digits, number words, ordinals, "World War II");
- negation:     one is negated (not, no, never, without, non-, n't) and the other is not;
- antonym:      a word of one faces its antonym in the other (open/close, add/remove,
                before/after, in/out, un-/dis-/de- prefixes: install/uninstall);
- direction:    a place or unit is "from" in one and "to" in the other (Paris to Rome);
- focus:        one asks the cost, how long or how often and the other does not;
- entity:       after matching words by stem, synonym and one-letter typo, a name
                (capitalised mid-sentence, an acronym) is left in one text only, unless it
                just extends a name both share ("Microsoft Teams" vs "Teams");
- substitution: a few content words (MAX_SUBSTITUTION in all) are left over on both sides,
                "sick days" vs "vacation days"; larger rewordings are left to the cosine.

Each rule is measured by `scripts/eval-cache` (which drops one rule at a time) on
tests/data/cache_pairs.jsonl. Deterministic pure Python, ~0.1-0.2 ms per pair.
"""

from __future__ import annotations

import re
import unicodedata
from collections import namedtuple
from dataclasses import dataclass

from server.cache.verify_words import (
    ABBREVIATIONS,
    ALIAS_RE,
    ALIAS_TO,
    ANTONYMS,
    CASE_ALIAS_RE,
    CONTRACTION_RE,
    CONTRACTION_TO,
    FOCUS_STEMS,
    NEGATING_PREFIXES,
    NEGATIONS,
    NEUTRAL,
    NEUTRAL_STEMS,
    NUMBER_WORDS,
    ROMAN,
    STOPWORDS,
    STOP_STEMS,
    SYNONYMS,
    TENS,
    UNITS,
    WORD,
    stem,
)

# Leftover content words on both sides, at most this many in all, veto as a substitution.
MAX_SUBSTITUTION = 4
RULES = ("number", "negation", "antonym", "direction", "focus", "entity", "substitution")


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str  # "ok", or "<rule>: <detail>"

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the rules compare, computed once per text (a cache may keep one per entry)."""

    tokens: tuple[str, ...]  # every word's stem in order, stopwords included
    content: frozenset[str]  # stems that carry meaning: no stopwords, neutral or number words
    numbers: frozenset[str]
    negated: bool
    entities: frozenset[str]  # stems written as names (capitalised mid-sentence, acronyms)
    roles: tuple[tuple[str, str], ...]  # (stem, "from" | "to")


# ---- normalising ---------------------------------------------------------------------------

def analyse(text: str) -> Analysis:
    words = _words_of(_normalise(text))
    # In Title Case or ALL CAPS text, capitals say nothing about names.
    title_case = sum(w[:1].isupper() for w, start in words if not start) > max(2, len(words) // 2)
    shouting = all(w.isupper() for w, _ in words if not w[0].isdigit())
    tokens: list[str] = []
    numbers: set[str] = set()
    number_tokens: set[str] = set()
    entities: set[str] = set()
    for i, (word, sentence_start) in enumerate(words):
        lower = word.lower()
        if word in ROMAN or (word == "I" and i and words[i - 1][0][:1].isupper() and not words[i - 1][1]):
            value = ROMAN.get(word, "1")  # World War I, Henry VIII
        elif lower[0].isdigit():
            value = lower if "." in lower else (lower.lstrip("0") or "0")
        else:
            value = NUMBER_WORDS.get(lower)
        tokens.append(stem(lower) if value is None or lower in NUMBER_WORDS else value)
        if value is not None:
            numbers.add(value)
            number_tokens.add(tokens[-1])
        elif lower not in STOPWORDS and lower not in NEUTRAL and word != "I" and not shouting and (
            (len(word) >= 2 and word.isupper()) or (word[:1].isupper() and not sentence_start and not title_case)
        ):
            entities.add(tokens[-1])
    lowers = [w.lower() for w, _ in words]
    for a, b in zip(lowers, lowers[1:]):  # "twenty five" -> 25
        if a in TENS and b in UNITS:
            numbers -= {NUMBER_WORDS[a], NUMBER_WORDS[b]}
            numbers.add(str(int(NUMBER_WORDS[a]) + int(NUMBER_WORDS[b])))
    content = frozenset(t for t in tokens if t not in STOP_STEMS and t not in NEUTRAL_STEMS and t not in number_tokens)
    negated = any(w in NEGATIONS for w in lowers)
    return Analysis(tuple(tokens), content, frozenset(numbers), negated, frozenset(entities), _roles(tokens, content))


def _normalise(text: str) -> str:
    raw = unicodedata.normalize("NFKC", text).translate({0x2019: "'", 0x2018: "'", 0x60: "'"})
    raw = CASE_ALIAS_RE.sub(lambda m: "usa" if m.group() == "US" else "uk", raw)  # not "us"
    raw = CONTRACTION_RE.sub(lambda m: CONTRACTION_TO.get(m.group().lower(), ""), raw)
    raw = ALIAS_RE.sub(lambda m: ALIAS_TO[m.lastindex - 1], raw)
    raw = re.sub(r"(?<=\d),(?=\d{3}\b)", "", raw)  # 10,000 -> 10000
    return re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", raw)  # 3rd -> 3


def _words_of(raw: str) -> list[tuple[str, bool]]:
    """(word, whether it starts a sentence) for each word; "Dr. Smith" starts none."""
    words: list[tuple[str, bool]] = []
    end = 0
    for m in WORD.finditer(raw):
        gap = raw[end: m.start()].rstrip()
        after_abbreviation = bool(words) and words[-1][0].lower() in ABBREVIATIONS
        words.append((m.group(), not words or (gap[-1:] in (".", "?", "!", ":", ";") and not after_abbreviation)))
        end = m.end()
    return words


def _roles(tokens: list[str], content: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """Which end each place or unit is: "from Paris to Rome", "Celsius to Fahrenheit"."""
    roles = []
    for i, token in enumerate(tokens):
        if token in ("from", "to"):
            nxt = next((t for t in tokens[i + 1: i + 4] if t not in STOP_STEMS), None)
            if nxt is not None:
                roles.append((nxt, token))
            if token == "to" and i and tokens[i - 1] in content:
                roles.append((tokens[i - 1], "from"))
    return tuple(roles)


# ---- comparing -------------------------------------------------------------------------------

def verify(query: str, cached: str, rules: tuple[str, ...] = RULES) -> Verdict:
    """Whether `cached`'s answer may be served for `query`; run it only above the threshold."""
    return compare(analyse(query), analyse(cached), rules)


def compare(q: Analysis, c: Analysis, rules: tuple[str, ...] = RULES) -> Verdict:
    """`verify` on analysed texts (a cache may keep each entry's Analysis); `rules` picks the checks."""
    names = q.entities | c.entities
    only_q, only_c = _unmatched(q.content, c.content, names)
    left = _Leftovers(q, c, only_q, only_c, names)
    for rule in rules:
        reason = _CHECKS[rule](left)
        if reason:
            return Verdict(False, f"{rule}: {reason}")
    return Verdict(True, "ok")


# The two analyses, the content stems of each that nothing in the other accounts for, all names.
_Leftovers = namedtuple("_Leftovers", "q c only_q only_c names")


def _check_number(x: _Leftovers) -> str | None:
    q, c = x.q.numbers, x.c.numbers  # a lone "one"/"a single" is as good as "a"
    return f"{'/'.join(sorted(q)) or '-'} vs {'/'.join(sorted(c)) or '-'}" if (q ^ c) - {"1"} else None


def _check_negation(x: _Leftovers) -> str | None:
    return None if x.q.negated == x.c.negated else ("query" if x.q.negated else "cached") + " is negated"


def _check_antonym(x: _Leftovers) -> str | None:
    q_set, c_set = set(x.q.tokens), set(x.c.tokens)
    clash = _antonym(q_set - c_set, c_set - q_set)
    return f"{clash[0]}/{clash[1]}" if clash else None


def _check_direction(x: _Leftovers) -> str | None:
    c_roles = dict(x.c.roles)
    return next((f"{w} {r}/{c_roles[w]}" for w, r in dict(x.q.roles).items() if c_roles.get(w, r) != r), None)


def _check_focus(x: _Leftovers) -> str | None:
    focus = sorted((x.only_q | x.only_c) & FOCUS_STEMS)
    return focus[0] if focus else None


def _check_entity(x: _Leftovers) -> str | None:
    for side, own, other, other_side in ((x.only_q, x.q, x.c, x.only_c), (x.only_c, x.c, x.q, x.only_q)):
        for word in sorted(side & x.names):
            if other_side & x.names or not _extends_shared_name(word, own, other):
                return word
    return None


def _check_substitution(x: _Leftovers) -> str | None:
    # A name that only extends a shared one ("Microsoft" in "Microsoft Teams") is no change.
    only_q = {w for w in x.only_q if w not in x.names or not _extends_shared_name(w, x.q, x.c)}
    only_c = {w for w in x.only_c if w not in x.names or not _extends_shared_name(w, x.c, x.q)}
    if only_q and only_c and len(only_q) + len(only_c) <= MAX_SUBSTITUTION:
        return f"{'+'.join(sorted(only_q))}/{'+'.join(sorted(only_c))}"
    return None


_CHECKS = {rule: globals()[f"_check_{rule}"] for rule in RULES}


def _antonym(only_q: set[str], only_c: set[str]) -> tuple[str, str] | None:
    for word in sorted(only_q):
        for other in sorted(ANTONYMS.get(word, ())):
            if other in only_c:
                return word, other
        if word in STOP_STEMS:
            continue
        for other in sorted(only_c):  # install/uninstall, mute/unmute, connect/disconnect
            for plain, prefixed in ((word, other), (other, word)):
                if any(prefixed.startswith(p) and _root(prefixed[len(p):]) == _root(plain)
                       and len(_root(plain)) >= (3 if p == "un" else 4) for p in NEGATING_PREFIXES):
                    return word, other
    return None


def _root(stem_: str) -> str:
    return stem_.removesuffix("e")  # the stemmer drops a final "e" only from longer words


def equivalent(a: str, b: str, fuzzy: bool = True) -> bool:
    """Same meaning for the cache's purpose: a shared synonym group, a typo, a clipped form."""
    if a == b or SYNONYMS.get(a, frozenset()) & SYNONYMS.get(b, frozenset()):
        return True
    if not fuzzy or a[0] != b[0] or b in ANTONYMS.get(a, ()):
        return False
    short, long_ = sorted((a, b), key=len)
    if len(short) >= 5 and long_.startswith(short):
        return True  # physio / physiotherapy
    return len(short) >= 5 and _edit_distance_le1(a, b)


def _edit_distance_le1(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(diffs) <= 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                                   and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    short, long_ = sorted((a, b), key=len)
    i = next((k for k, (x, y) in enumerate(zip(short, long_)) if x != y), len(short))
    return short[i:] == long_[i + 1:]


def _unmatched(q: frozenset[str], c: frozenset[str], names: frozenset[str]) -> tuple[set[str], set[str]]:
    """Content stems of each side that nothing on the other side accounts for (names: no typos)."""
    same = lambda a, b: equivalent(a, b, fuzzy=a not in names and b not in names)  # noqa: E731
    only_q, only_c = set(q - c), set(c - q)
    for word in sorted(only_q):
        match = next((o for o in sorted(only_c) if same(word, o)), None)
        if match is not None:
            only_q.discard(word)
            only_c.discard(match)
    only_q = {w for w in only_q if not any(same(w, o) for o in c)}
    only_c = {w for w in only_c if not any(same(w, o) for o in q)}
    return only_q, only_c


def _extends_shared_name(word: str, own: Analysis, other: Analysis) -> bool:
    """"Microsoft" right next to "Teams", where the other text names Teams too."""
    shared, t = set(other.tokens) & own.entities, own.tokens
    return any(tok == word and shared & set(t[max(0, i - 1): i] + t[i + 1: i + 2]) for i, tok in enumerate(t))
