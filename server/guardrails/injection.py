"""Prompt-injection heuristics: weighted rules over a normalised text and its hidden views.

    result = InjectionDetector().check(text)   # InjectionResult(score, rules, flagged)
    value, rules = score(text)                  # the default detector

Each rule is a regex with a weight in (0, 1). The score combines the rules that matched as
independent evidence, `1 - prod(1 - weight)`, so one strong rule or a few weak ones cross
the threshold (default 0.5). The text is first normalised (NFKC, lower case, look-alike
Cyrillic/Greek letters folded, invisible characters removed); rules also run over hidden
views: letters spaced out ("i g n o r e"), leetspeak, text smuggled in Unicode tag
characters, and base64/hex/rot13 payloads. A rule found only in a hidden view also counts
as `obfuscated`.

Talking *about* injection is not injection: a match inside quotes counts at a fifth of
its weight when the text discusses injection (a question, "prompt injection", "what does
... mean"), at 0.6 otherwise; an unquoted match in such a discussion counts at 0.6.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Iterable

import msgspec

DEFAULT_THRESHOLD = 0.5

_CMD = r"(?:ignore|disregard|forget|override|overwrite|bypass|skip|abandon|discard|neglect|drop)"
_MODS = (r"(?:all|any|every|each|the|your|these|those|of|previous|previously|prior|above|preceding|earlier|"
         r"former|original|initial|old|existing|current|given|system|developer|safety|foregoing|"
         r"aforementioned|other|default|standard)")
_RULES: tuple[tuple[str, float, str], ...] = (
    ("ignore_instructions", 0.75,
     rf"\b{_CMD}\s+(?:{_MODS}\s+){{0,5}}(?:instructions?|prompts?|rules|directives?|guidelines|guardrails|"
     rf"constraints|restrictions|programming|commands|context|policies|training)\b"),
    ("ignore_above", 0.6,
     rf"\b{_CMD}\s+(?:(?:all|everything|anything)\s+)?(?:(?:of\s+)?(?:the\s+|what\s+is\s+)?(?:above|before)|"
     rf"everything\s+(?:above|before|else|prior)|(?:what|everything|anything)\s+(?:you\s+(?:were|have\s+been)\s+"
     rf"(?:told|given|instructed)|(?:was\s+)?(?:said|written)\s+(?:above|before)))\b"),
    ("system_override", 0.8,
     rf"\b(?:{_CMD}|replace|delete|reset|change)\s+(?:(?:the|your|any|all|this)\s+)*(?:system|developer|hidden|"
     rf"initial|original|pre-?)\s*(?:prompt|message|instructions?|rules|settings)\b"),
    ("new_instructions", 0.35,
     r"\b(?:your\s+(?:new|real|actual|true)\s+(?:instructions|task|role|rules|directive|purpose|goal)s?\s+(?:is|are|:)"
     r"|new\s+(?:system\s+)?(?:instructions|prompt|rules|directives?)\s*:|from\s+now\s+on,?\s+you\s+"
     r"(?:are|will|must|shall|should|have\s+to)\s+(?:not\s+|no\s+longer\s+|only\s+)?(?:ignore|obey|answer\s+"
     r"(?:every|all|any)|respond\s+without|act\s+as|be\s+(?:an?\s+)?(?:unrestricted|unfiltered|evil)|follow\s+my))"),
    ("do_anything_now", 0.8,
     r"\bdo\s+anything\s+now\b|\bdan\s+(?:mode|prompt|jailbreak)\b|\b(?:you\s+are|you're|act\s+as|become|called)\s+(?:now\s+)?dan\b"),
    ("developer_mode", 0.6,
     r"\b(?:developer|debug|god|sudo|admin|jailbreak|jailbroken|unrestricted|unfiltered|evil|opposite|dan)\s+mode\s+"
     r"(?:is\s+)?(?:now\s+)?(?:enabled|activated|engaged|on)\b|\b(?:you\s+are|you're|act|respond|answer)\s+(?:now\s+)?"
     r"(?:as\s+|in\s+)(?:an?\s+)?(?:\w+\s+)?(?:with\s+)?(?:developer|god|sudo|jailbreak|jailbroken|unrestricted|dan)\s+mode"
     r"|\b(?:enable|activate|enter|switch\s+to)\s+(?:god|sudo|jailbreak|jailbroken|unrestricted|dan|evil)\s+mode\b"),
    ("unrestricted_persona", 0.55,
     r"\b(?:you\s+are\s+(?:now\s+)?|you're\s+(?:now\s+)?|pretend\s+(?:that\s+)?(?:you\s+are|you're|to\s+be)\s+|act\s+(?:as|like)\s+|"
     r"imagine\s+you\s+are\s+|roleplay\s+as\s+|role-play\s+as\s+|become\s+)(?:an?\s+)?(?:\w+\s+){0,2}?"
     r"(?:unrestricted|unfiltered|uncensored|jailbroken|amoral|immoral|unethical|evil|rogue|lawless|unbound)\b"
     r"|\byou\s+are\s+no\s+longer\s+(?:an?\s+)?(?:ai\s+|language\s+model|assistant|chatgpt|bound|restricted|limited|"
     r"required\s+to|subject\s+to)"),
    ("no_restrictions", 0.45,
     r"\b(?:without|with\s+no|free\s+(?:from|of)|not\s+bound\s+by|unbound\s+by|ignoring|ignores|bypassing|no\s+longer\s+"
     r"(?:have|has|follow))\s+(?:any\s+)?(?:of\s+)?(?:(?:your|the|its|their|openai'?s?|ethical|moral|safety|content|"
     r"usual)\s+)*(?:restrictions|filters|filtering|limitations|censorship|guidelines|guardrails|content\s+polic(?:y|ies)"
     r"|ethics|morals|moral\s+compass|safety\s+(?:rules|measures))\b"),
    ("reveal_prompt", 0.65,
     r"\b(?:reveal|print|show|display|output|repeat|recite|dump|leak|expose|disclose|tell\s+me|give\s+me|write\s+out|"
     r"spell\s+out|paste|share|provide|list|return|echo|translate|summari[sz]e|what\s+(?:is|are|was|were))\s+(?:me\s+)?"
     r"(?:all\s+)?(?:of\s+)?your\s+(?:\w+\s+){0,3}?(?:(?:system|initial|hidden|original|secret|internal|developer)\s+"
     r"(?:prompt|instructions|message|rules|guidelines)|prompt|instructions|guidelines|rules\s+(?:verbatim|word)|"
     r"configuration|pre-?prompt)\b"),
    ("repeat_above", 0.55,
     r"\b(?:repeat|print|output|copy|recite|echo|write)\s+(?:(?:back|out|all|everything|the\s+text|the\s+words|the\s+"
     r"(?:text|words|content|message)s?)\s+)*(?:above|before\s+this|that\s+came\s+before|from\s+the\s+(?:beginning|start))"
     r"|\b(?:verbatim|word\s+for\s+word)\b.{0,60}\b(?:system\s+prompt|initial\s+instructions|everything\s+above|"
     r"instructions\s+above)|\bstarting\s+with\s+['\"]?you\s+are\b"),
    ("fake_role_tag", 0.75,
     r"<\|(?:im_start|im_end|system|assistant|user|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\|>"
     r"|\[/?inst\]|<</?sys>>|<\s*/?\s*(?:system|sys|system_prompt|instructions)\s*>"),
    ("fake_role_header", 0.4,
     r"^[ \t]*(?:#{1,6}[ \t]*|\[|\*\*)?(?:system|assistant|developer|instruction|admin)(?:[ \t]+(?:message|prompt|"
     r"instructions?|override|note|update))?[ \t]*(?:\*\*)?[ \t]*[:\]]"),
    ("end_of_prompt", 0.5,
     r"\bend\s+of\s+(?:the\s+)?(?:system\s+)?(?:prompt|instructions|context|user\s+input)\b|\b(?:begin|start)\s+(?:of\s+)?"
     r"(?:the\s+)?(?:new|real|actual|updated)\s+(?:instructions|prompt)\b|\b(?:the\s+)?(?:real|actual|true|hidden)\s+"
     r"instructions\s+(?:are|follow|begin)\b"),
    ("priority_claim", 0.4,
     r"\b(?:takes?|has|have)\s+(?:the\s+)?(?:highest\s+)?(?:priority|precedence)\s+over\s+(?:all|any|your|the|previous|"
     r"other)|\boverrides?\s+(?:all|any)\s+(?:previous|prior|other)|\b(?:message|instructions?|note|update)\s+from\s+"
     r"(?:the\s+)?(?:openai|anthropic|your\s+(?:developers?|creators?)|the\s+developers?|system\s+administrator)"
     r"|\bi\s+am\s+(?:your|the)\s+(?:developer|creator|programmer|system\s+administrator|admin|owner)\b"),
    ("never_refuse", 0.45,
     r"\b(?:never|cannot|can't|must\s+not|mustn't|not\s+allowed\s+to|will\s+not|won't|do\s+not|don't)\s+(?:ever\s+)?"
     r"(?:refuse|decline|reject)\b|\b(?:answer|respond\s+to)\s+(?:every|any|all)\s+(?:question|request|prompt)s?\s+"
     r"(?:without|regardless|no\s+matter)"),
    ("safety_bypass", 0.6,
     r"\b(?:bypass|disable|turn\s+off|deactivate|remove|circumvent|evade|get\s+around|switch\s+off|ignore|drop)\s+"
     r"(?:all\s+|any\s+|of\s+)*your\s+(?:\w+\s+)?(?:filters?|guardrails|safeguards|restrictions|protections|polic(?:y|ies)"
     r"|guidelines|censorship|moderation|safety|alignment|ethics|training)\b"),
    ("grandma_exploit", 0.45,
     r"\b(?:late|deceased|dead)\s+grand(?:ma|mother|pa|father|mom)\b.{0,120}\b(?:used\s+to|would)\s+(?:tell|read|recite|"
     r"give|say|sing)"),
    ("exfiltration", 0.55,
     r"\b(?:send|post|upload|exfiltrate|forward|transmit|leak|append)\s+(?:\w+\s+){0,4}?(?:conversation|chat\s+history|"
     r"previous\s+messages|system\s+prompt|api\s+keys?|passwords?|credentials|secrets|user\s+data|tokens?)\b.{0,60}"
     r"(?:https?://|\bto\s+(?:this|the\s+following|my)\s+(?:url|server|endpoint|webhook|address|email))"
     r"|!\[[^\]\n]{0,80}\]\(https?://[^)\s]{0,200}[?&][\w-]+=(?:\{|\[|%7b|<|\$)"),
    ("encoded_payload", 0.5,
     r"\b(?:decode|decoded|base64|b64|hex|rot13|decrypt|deobfuscate|reverse)\b.{0,100}\b(?:follow|execute|run|obey|"
     r"perform|carry\s+out|act\s+on|comply|do\s+what|instructions)\b"),
)
_OBFUSCATED_WEIGHT = 0.5
_TAGS_WEIGHT = 0.8
_ZERO_WIDTH_WEIGHT = 0.35
_BIDI_WEIGHT = 0.3
_QUOTED_META = 0.2
_QUOTED = 0.6
_META = 0.6

_INVISIBLE = dict.fromkeys([0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x180E, 0x00AD, 0x2061, 0x2062, 0x2063, 0x2064])
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_TAG_CHARS = re.compile("[\U000e0000-\U000e007f]+")
_ZW_IN_WORD = re.compile("[A-Za-z][\u200b\u200c\u200d\u2060\u00ad]+(?=[A-Za-z])")
_CONFUSABLE = str.maketrans("асеһіјкорѕхуԁɡοαεικνρτυχ", "acehijkopsxydgoaeikvptux")
_LEET = str.maketrans("013457@$!|", "oieastasii")
_LEET_HINT = re.compile(r"[a-z][0134578@$!|][a-z]")
_SPACED = re.compile(r"(?<![a-z])(?:[a-z][ .\-_*+]){3,}[a-z](?![a-z])")
_SPACED_WORD = re.compile(r"(?<![a-z])(?:[a-z][ .\-_*+]){2,}[a-z](?![a-z])")
_SPACED_SEP = re.compile(r"[ .\-_*+]")
_SQUASHED_KEYWORDS = re.compile(
    r"(?:ignore|disregard|forget|bypass)\w{0,40}(?:instructions?|prompts?|rules)|systemprompt|doanythingnow|"
    r"developermode|jailbreak|(?:reveal|print|show)\w{0,12}prompt"
)
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u00ab": '"', "\u00bb": '"'})
_QUOTED_SPAN = re.compile(r"\"[^\"\n]{1,400}\"|(?<![a-z0-9])'[^'\n]{1,400}'(?![a-z])|`[^`\n]{1,400}`")
_META_CONTEXT = re.compile(
    r"\bprompt[\s-]injections?\b|\bjailbreak(?:s|ing)?\s+(?:attacks?|attempts?|prompts?|techniques?)\b|\binjection\s+"
    r"attacks?\b|\bwhat\s+(?:does|do|is|are)\b|\bmeaning\s+of\b|\bexplain\b|\bexamples?\s+of\b|\bhow\s+(?:do|can|should|"
    r"would)\s+(?:i|we|you)\s+(?:detect|prevent|defend|block|stop|mitigate|handle|protect|recogni[sz]e|test)|\bclassif"
    r"|\bred[\s-]team|\bsecurity\s+(?:training|awareness|test|review)|\bguardrails?\b|\bsuch\s+as\b|\bphrases?\s+like\b"
)
_B64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){12,}(?![0-9A-Fa-f])")
_ROT13_HINT = re.compile(r"rot-?13", re.IGNORECASE)
_MAX_BLOBS = 16


class InjectionResult(msgspec.Struct, frozen=True):
    score: float
    rules: tuple[str, ...]
    flagged: bool


class InjectionDetector:
    """Scores a text; `rules` replaces the default rule set, `extra_rules` adds to it
    (each a (name, weight, regex) over lower-cased text)."""

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        rules: Iterable[tuple[str, float, str]] | None = None,
        extra_rules: Iterable[tuple[str, float, str]] = (),
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("injection threshold must be in (0, 1]")
        self.threshold = threshold
        self._rules: list[tuple[str, float, re.Pattern[str]]] = []
        for name, weight, rx in [*(_RULES if rules is None else rules), *extra_rules]:
            if not 0.0 < weight < 1.0:
                raise ValueError(f"injection rule {name!r}: weight must be in (0, 1)")
            self._rules.append((name, weight, re.compile(rx, re.MULTILINE | re.IGNORECASE)))

    def check(self, text: str) -> InjectionResult:
        value, rules = self.score(text)
        return InjectionResult(value, tuple(rules), value >= self.threshold)

    def score(self, text: str) -> tuple[float, list[str]]:
        weights: dict[str, float] = {}
        plain = _normalise(text)
        quoted = [m.span() for m in _QUOTED_SPAN.finditer(plain)] if any(q in plain for q in "\"'`") else []
        meta = _META_CONTEXT.search(plain) is not None
        for name, weight, rx in self._rules:
            for m in rx.finditer(plain):
                inside = any(s <= m.start() and m.end() <= e for s, e in quoted)
                factor = (_QUOTED_META if meta else _QUOTED) if inside else (_META if meta else 1.0)
                weights[name] = max(weights.get(name, 0.0), weight * factor)
                if factor == 1.0:
                    break
        hidden = False
        for view in _hidden_views(text, plain):
            for name, weight, rx in self._rules:
                if weights.get(name, 0.0) < weight and rx.search(view):
                    weights[name] = weight
                    hidden = True
        if hidden:
            weights["obfuscated"] = _OBFUSCATED_WEIGHT
        if _TAG_CHARS.search(text):
            weights["unicode_tags"] = _TAGS_WEIGHT
        if len(_ZW_IN_WORD.findall(text)) >= 2:
            weights["zero_width"] = _ZERO_WIDTH_WEIGHT
        if _BIDI.search(text):
            weights["bidi_control"] = _BIDI_WEIGHT
        remaining = 1.0
        for w in weights.values():
            remaining *= 1.0 - w
        return round(1.0 - remaining, 4), sorted(weights, key=lambda n: -weights[n])


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    text = _TAG_CHARS.sub("", text).lower().translate(_CONFUSABLE).translate(_QUOTES)
    return re.sub(r"[ \t\u00a0]+", " ", text)


def _hidden_views(original: str, plain: str) -> list[str]:
    """Texts that a model would read but the plain view hides."""
    views: list[str] = []
    for tags in _TAG_CHARS.findall(original):
        views.append(_normalise("".join(chr(ord(c) - 0xE0000) for c in tags if 0xE0020 <= ord(c) <= 0xE007E)))
    if _SPACED.search(plain):
        views.append(_despaced(original))
    if _LEET_HINT.search(plain):
        leet = plain.translate(_LEET)
        if leet != plain:
            views.append(leet)
    for blob in _decoded_blobs(original):
        views.append(_normalise(blob))
    if _ROT13_HINT.search(original):
        views.append(_normalise(codecs.decode(original, "rot13")))
    return views


def _despaced(original: str) -> str:
    """"i g n o r e  a l l" -> "ignore all": two or more spaces still separate words."""
    lowered = unicodedata.normalize("NFKC", original).translate(_INVISIBLE).lower().translate(_CONFUSABLE)
    chunks = re.split(r"\s{2,}|\n", lowered)
    squashed: list[str] = []

    def squash(m: re.Match[str]) -> str:
        word = _SPACED_SEP.sub("", m.group())
        squashed.append(word)
        return word

    view = " ".join(_SPACED_WORD.sub(squash, chunk) for chunk in chunks)
    if any(_SQUASHED_KEYWORDS.search(word) for word in squashed):
        view += "\n ignore previous instructions"  # a spelled-out keyword with no word gaps
    return view


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
