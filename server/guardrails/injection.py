"""Prompt-injection heuristics: weighted rules over a normalised text and its hidden views.

    result = InjectionDetector().check(text)   # InjectionResult(score, rules, flagged)
    value, rules = score(text)                  # the default detector

Each rule is a regex with a weight in (0, 1). The score combines the rules that matched as
independent evidence, `1 - prod(1 - weight)`, so one strong rule or a few weak ones cross
the threshold (default 0.5). The text is first normalised (NFKC, lower case, look-alike
Cyrillic/Greek letters folded, invisible characters removed); rules also run over hidden
views: letters spaced out ("i g n o r e"), leetspeak, text smuggled in Unicode tag
characters, and base64/hex/rot13 payloads (only the lines concerned). A rule that only
a hidden view reveals also adds `obfuscated`.

Talking *about* injection is not injection. When the text discusses it ("prompt
injection", "injection attack", "red team", "security training", "what does ... mean",
"examples of", "phrases like", "detect", "defend", "classify"), a match inside quotes
counts at 0.2 of its weight and an unquoted one at 0.6; a quoted match in any other text
counts at 0.8 (an attack pasted inside a document to summarise is still an attack). Such
words only discount matches; they never add score.

Speed: one regex pass finds every rule's lead words and each pattern is tried only where
one starts (see injection_rules.py); quoting and discussion are examined only once some
rule has matched, so benign text costs little.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Iterable, Iterator

import msgspec

from server.guardrails.base import words_pattern
from server.guardrails.injection_rules import RULES, Rule

DEFAULT_THRESHOLD = 0.5
_OBFUSCATED_WEIGHT = 0.5
_TAGS_WEIGHT = 0.8
_SPELLED_WEIGHT = 0.6
_ZERO_WIDTH_WEIGHT = 0.35
_BIDI_WEIGHT = 0.3
_QUOTED_META = 0.2  # a quoted match in a text that discusses injection
_QUOTED = 0.8  # a quoted match otherwise (an attack pasted in a document is still an attack)
_META = 0.6  # an unquoted match in a text that discusses injection

_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad\u2061\u2062\u2063\u2064"
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_TAG_CHARS = re.compile("[\U000e0000-\U000e007f]+")
_ZW_IN_WORD = re.compile("[A-Za-z][\u200b\u200c\u200d\u2060\u00ad]+(?=[A-Za-z])")
# One table for everything folded after NFKC + lower(): invisibles and tag characters
# dropped, Cyrillic/Greek look-alikes to Latin, typographic quotes to ASCII.
_FOLD = {
    **dict.fromkeys(map(ord, _INVISIBLE)),
    **dict.fromkeys(range(0xE0000, 0xE0080)),
    **str.maketrans("асеһіјкорѕхуԁɡοαεικνρτυχ", "acehijkopsxydgoaeikvptux"),
    **str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u00ab": '"', "\u00bb": '"'}),
}
_FOLDABLE = re.compile("[" + "".join(re.escape(chr(c)) for c in _FOLD if c < 0xE0000) + "\U000e0000-\U000e007f]")
_BLANKS = re.compile(r"[ \t\u00a0]{2,}|[\t\u00a0]")
_LEET = str.maketrans("013457$|", "oieastsi")
_LEET_HIT = re.compile(r"[013457](?=[a-z])(?<=[a-z].)")  # a leet digit between two letters
_SPACED_HIT = re.compile(r"[ .\-_*+][a-z][ .\-_*+][a-z][ .\-_*+][a-z](?![a-z])")
_SPACED_WORD = re.compile(r"(?<![a-z])(?:[a-z][ .\-_*+]){2,}[a-z](?![a-z])")
_SPACED_SEP = re.compile(r"[ .\-_*+]")
_SQUASHED_KEYWORDS = re.compile(
    r"(?:ignore|disregard|forget|bypass)\w{0,40}(?:instructions?|prompts?|rules)|systemprompt|doanythingnow|"
    r"developermode|jailbreak|(?:reveal|print|show)\w{0,12}prompt"
)
_QUOTED_SPAN = re.compile(r"\"[^\"\n]{1,400}\"|(?<![a-z0-9])'[^'\n]{1,400}'(?![a-z])|`[^`\n]{1,400}`")
_META_CONTEXT = re.compile(
    r"prompt[\s-]injections?|injection\s+attacks?|jailbreak\s+(?:prompt|attack|attempt|technique|dataset|classif)|"
    r"red[\s-]team|security\s+(?:review|training|awareness|course|test)|awareness\s+(?:course|training)|"
    r"\bexamples?\s+of\b|\bphrases?\s+like\b|\bwhat\s+does\b.{0,80}\bmean\b|\bmeaning\s+of\b|\bdefend|"
    r"\bdetect|\bclassif"
)
_DECODE_HINTS = ("decod", "base64", "b64", "hex", "encod", "rot13", "rot-13", "cipher", "decrypt")
_B64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){12,}(?![0-9A-Fa-f])")
_MAX_BLOBS = 16


class InjectionResult(msgspec.Struct, frozen=True):
    score: float
    rules: tuple[str, ...]  # matched rule names, strongest first
    flagged: bool  # score >= the detector's threshold


class InjectionDetector:
    """Scores texts for prompt injection. `rules` replaces the default rule set and
    `extra_rules` adds site rules to it. `fast=False` scans every pattern over the whole
    text instead of only at its lead words (a reference for tests; same scores, slower)."""

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        rules: Iterable[Rule] | None = None,
        extra_rules: Iterable[Rule] = (),
        fast: bool = True,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("injection threshold must be in (0, 1]")
        self.threshold = threshold
        self._rules = (*(RULES if rules is None else rules), *extra_rules)
        self._by_lead: dict[str, list[tuple[int, re.Pattern[str]]]] = {}
        self._scan: list[tuple[int, re.Pattern[str], tuple[str, ...]]] = []
        for i, rule in enumerate(self._rules):
            if not 0.0 < rule.weight < 1.0:
                raise ValueError(f"injection rule {rule.name!r}: weight must be in (0, 1)")
            for pattern in rule.patterns:
                flags = re.MULTILINE if "^" in pattern.regex else 0
                if pattern.leads and fast:
                    regex = re.compile(pattern.regex, flags)
                    for lead in pattern.leads.split():
                        self._by_lead.setdefault(lead, []).append((i, regex))
                elif pattern.leads:
                    self._scan.append((i, re.compile(rf"(?<!\w)(?:{pattern.regex})", flags), ()))
                else:
                    self._scan.append((i, re.compile(pattern.regex, flags), rule.anchors if fast else ()))
        leads = words_pattern(self._by_lead) if self._by_lead else "(?!)"
        # every word start where a lead word begins (a lookahead, so a pass finds them all)
        self._trigger = re.compile(rf"(?<!\w)(?=({leads})(?!\w))")

    def check(self, text: str) -> InjectionResult:
        value, rules = self.score(text)
        return InjectionResult(value, tuple(rules), value >= self.threshold)

    def score(self, text: str) -> tuple[float, list[str]]:
        """(score in [0, 1], matched rule names strongest first)."""
        plain = _normalise(text)
        weights = self._plain_weights(plain)
        views, spelled = _hidden_views(text, plain)
        hidden = spelled
        if spelled:
            weights["spelled_out"] = _SPELLED_WEIGHT
        for view in views:
            for i, _ in self._matches(view):
                name = self._rules[i].name
                if name not in weights:  # only what the plain text did not already show
                    weights[name] = self._rules[i].weight
                    hidden = True
        if hidden:
            weights["obfuscated"] = _OBFUSCATED_WEIGHT
        if not text.isascii():
            if _TAG_CHARS.search(text):
                weights["unicode_tags"] = _TAGS_WEIGHT
            if len(_ZW_IN_WORD.findall(text)) >= 2:
                weights["zero_width"] = _ZERO_WIDTH_WEIGHT
            if _BIDI.search(text):
                weights["bidi_control"] = _BIDI_WEIGHT
        remaining = 1.0
        for w in weights.values():
            remaining *= 1.0 - w
        return round(1.0 - remaining, 4), sorted(weights, key=lambda n: (-weights[n], n))

    def _matches(self, text: str) -> Iterator[tuple[int, re.Match[str]]]:
        """(rule index, match) for every pattern match: lead patterns tried where a lead
        word starts, the others scanned when one of their anchors occurs."""
        for t in self._trigger.finditer(text):
            for i, regex in self._by_lead[t.group(1)]:
                m = regex.match(text, t.start())
                if m is not None:
                    yield i, m
        for i, regex, anchors in self._scan:
            if not anchors or any(a in text for a in anchors):
                yield from ((i, m) for m in regex.finditer(text))

    def _plain_weights(self, plain: str) -> dict[str, float]:
        weights: dict[str, float] = {}
        quoted: list[tuple[int, int]] = []
        meta = None
        for i, m in self._matches(plain):
            if meta is None:  # looked at only once some rule has matched
                quoted = [q.span() for q in _QUOTED_SPAN.finditer(plain)]
                meta = _META_CONTEXT.search(plain) is not None
            inside = any(s <= m.start() and m.end() <= e for s, e in quoted)
            factor = (_QUOTED_META if meta else _QUOTED) if inside else (_META if meta else 1.0)
            rule = self._rules[i]
            weights[rule.name] = max(weights.get(rule.name, 0.0), rule.weight * factor)
        return weights


def _normalise(text: str) -> str:
    """NFKC, lower case, look-alike letters folded, invisibles dropped, blanks collapsed."""
    if text.isascii():
        text = text.lower()
    else:
        text = unicodedata.normalize("NFKC", text).lower()
        if _FOLDABLE.search(text):
            text = text.translate(_FOLD)
    return _BLANKS.sub(" ", text) if ("  " in text or "\t" in text or "\u00a0" in text) else text


def _hidden_views(original: str, plain: str) -> tuple[list[str], bool]:
    """Texts that a model would read but the plain view hides (only the lines concerned),
    and whether letters spelled out one by one hide an injection keyword."""
    views: list[str] = []
    spelled = False
    if not original.isascii():
        for tags in _TAG_CHARS.findall(original):
            views.append(_normalise("".join(chr(ord(c) - 0xE0000) for c in tags if 0xE0020 <= ord(c) <= 0xE007E)))
    if _SPACED_HIT.search(plain):
        lines = [line for line in original.splitlines() if _SPACED_HIT.search(line.lower())]
        view, spelled = _despaced("\n".join(lines))
        views.append(view)
    if len(_LEET_HIT.findall(plain)) >= 3:
        views.append("\n".join(line.translate(_LEET) for line in plain.splitlines() if _LEET_HIT.search(line)))
    if any(hint in plain for hint in _DECODE_HINTS):
        views.extend(_normalise(blob) for blob in _decoded_blobs(original))
        if "rot13" in plain or "rot-13" in plain:
            views.append(_normalise(codecs.decode(original, "rot13")))
    return views, spelled


def _despaced(original: str) -> tuple[str, bool]:
    """"i g n o r e  a l l" -> "ignore all" (two or more spaces still separate words), and
    whether a spelled-out run hides a keyword even without word gaps ("ignoreallprevious...")."""
    lowered = original.lower() if original.isascii() else _normalise(original.replace("  ", "\n"))
    chunks = re.split(r"\s{2,}|\n", lowered)
    squashed: list[str] = []

    def squash(m: re.Match[str]) -> str:
        word = _SPACED_SEP.sub("", m.group())
        squashed.append(word)
        return word

    view = " ".join(_SPACED_WORD.sub(squash, chunk) for chunk in chunks)
    return view, any(_SQUASHED_KEYWORDS.search(word) for word in squashed)


def _decoded_blobs(text: str) -> list[str]:
    out: list[str] = []
    for m in _B64.finditer(text):
        raw = m.group()
        try:
            out.append(_printable(base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)))
        except (binascii.Error, ValueError):
            pass
        if len(out) >= _MAX_BLOBS:
            break
    for m in _HEX.finditer(text):
        try:
            out.append(_printable(bytes.fromhex(re.sub(r"[ :]", "", m.group()))))
        except ValueError:
            pass
    return [b for b in out if b]


def _printable(raw: bytes) -> str:
    """The decoded text if it reads as text (mostly printable, some spaces), else ''."""
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    printable = sum(1 for c in s if c.isprintable() or c in "\n\t")
    if len(s) < 8 or printable < 0.9 * len(s) or " " not in s:
        return ""
    return s


DEFAULT_DETECTOR = InjectionDetector()


def score(text: str) -> tuple[float, list[str]]:
    """(score in [0, 1], matched rule names, strongest first) by the default rules."""
    return DEFAULT_DETECTOR.score(text)
