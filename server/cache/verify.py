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


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ---- word lists ------------------------------------------------------------------------

STOPWORDS = _words("""
    a an the and or but if then so of at by for with about as into onto upon than too very i me my mine myself we us
    our ours you your yours he him his she her it its they them their this that these those is am are was were be
    been being do does did doing have has had having will would shall should can could may might must what which who
    whom whose when where why how there here some any each every all both either other another such own same just
    also only still even again ever yet already now please in on to from up down out off over under before after
    more most less least not no never without nor neither none non via per vs versus much many
    """)
# Words whose presence or absence does not change what is asked.
NEUTRAL = _words("""
    thanks thank hi hello hey help know tell explain want like wonder question possible possibly way ok okay exactly
    actually really quick step process procedure instruction guide method option able allowed permitted happen
    consequence thing something anything someone anybody anyone somebody need needed required require necessary go
    going use using used get getting got do make sure happens best good ideal trick supposed
    """)
# What a question asks about: one that asks the cost, how long or how often is another question.
FOCUS = _words("cost price fee charge expensive cheap duration often frequent frequency deadline")
NEGATIONS = _words("not no never without none nobody nothing nowhere neither nor non")
NEGATING_PREFIXES = ("un", "dis", "non", "de", "in", "im", "il", "ir")

# Whole phrases folded to one token before anything else (case-insensitive, word-bounded).
_ALIASES = (
    (r"two[- ]factor(?: authentication)?|2fa|mfa|multi[- ]factor(?: authentication)?|2-step verification", "twofactor"),
    (r"wi[- ]?fi", "wifi"), (r"e-mail", "email"), (r"covid(?:-?19)?|coronavirus", "covid"),
    (r"x-ray", "xray"), (r"united states(?: of america)?|u\.s\.a?\.?|usa", "usa"),
    (r"united kingdom|great britain|britain", "uk"), (r"golang", "go"), (r"node\.?js", "node"),
    (r"virtual ?env(?:ironment)?|virtualenv", "venv"), (r"time off|annual leave|days? off|pto", "vacation"),
    (r"money back|pay back|paid back", "refund"), (r"pay off|paid off", "repay"),
    (r"take out|took out|taken out", "withdraw"), (r"pick(?:s|ed)? up|pickup", "collect"), (r"how old", "age"),
    (r"sign(?:ed|ing)? up|enrol+(?:ed|ing)?", "register"), (r"set(?:ting)? up|setup", "setup"),
    (r"log(?:ged|ging)? ?in|sign(?:ed|ing)? ?in", "login"), (r"log(?:ged|ging)? ?(?:out|off)|sign(?:ed|ing)? ?out", "logout"),
    (r"(?:turn|switch|power)(?:ed|ing|s)? on", "enable"), (r"(?:turn|switch|power)(?:ed|ing|s)? off|shut(?:ting)? down", "disable"),
    (r"in place of|instead of", "instead"), (r"carry(?:ing)? over|carried over|roll(?:ed)? over", "carryover"),
    (r"find out|look up", "find"), (r"same-day|same day", "today"), (r"payday", "pay day"),
    (r"work(?:ing)? from home|wfh|remote(?:ly)? work(?:ing)?|work(?:ing)? remotely", "remotework"),
    (r"how long|how much time|how many (?:minutes|hours|days|weeks|months|years)|length(?: of time)?", "duration"),
    (r"renam(?:e|es|ed|ing)", "change name"), (r"reschedul(?:e|es|ed|ing)", "change date"),
    (r"(?:city|town) cent(?:er|re)|downtown", "downtown"), (r"wait(?:ing)? time", "wait duration"),
    (r"check-in", "check in"), (r"check-out", "check out"), (r"out of stock|sold out", "out stock"),
)
_ALIAS_RE = re.compile(r"(?<![\w-])(?:" + "|".join(f"({p})" for p, _ in _ALIASES) + r")(?![\w-])", re.IGNORECASE)
_ALIAS_TO = [r for _, r in _ALIASES]
_CASE_ALIAS_RE = re.compile(r"\b(?:US|UK)\b")

# Synonym groups: two words match when their stems share a group.
_SYNONYMS = """
    change update modify edit alter amend reset replace switch | get obtain receive acquire collect
    increase raise boost grow | decrease reduce lower cut | bring take carry | travel visit trip journey
    need require necessary mandatory compulsory | buy purchase | cancel annul revoke | delete remove erase
    add include insert | start begin commence launch | stop end finish quit exit terminate kill halt
    big large huge | small little tiny | fast quick rapid speed | cost price fee charge | pay payment
    money cash fund | salary wage payroll pay | job work employment career
    company business firm employer organisation organization | problem issue trouble conflict
    broken damaged faulty defective | wrong incorrect | fix repair solve resolve
    help support assist assistance service | contact reach | talk speak discuss chat
    ask request enquire inquire apply prompt | book reserve schedule
    appointment booking reservation visit consultation | doctor gp physician | medicine medication drug pill tablet
    vaccine vaccination shot jab immunization immunisation | test exam examination | medical health
    clinic practice surgery | luggage baggage suitcase bag | plane flight fly airplane aircraft
    hotel accommodation | car vehicle | rent hire rental lease | ticket fine penalty
    appeal contest dispute challenge | transaction charge payment | transfer send wire | freeze block lock suspend
    repay refund reimburse | return | exchange swap trade | item product article | often frequent frequency
    extra additional | world earth globe | document paper paperwork | abroad international overseas foreign
    log history | keep withhold | work company | package parcel shipment order
    ship deliver shipping delivery dispatch | discount promo coupon voucher | stock available availability
    customer client | vacation holiday leave | sick ill illness unwell | quit resign | father dad | mother mom mum
    child kid | husband spouse partner | wife spouse partner | boss manager supervisor | employee staff worker
    pension retirement | register join subscribe setup | annual yearly year | month monthly | day daily
    week weekly | entitle right eligible entitlement | computer pc laptop notebook | computer pc desktop
    software program app application | install setup | enable activate setup | disable deactivate
    slow sluggish laggy | screen display monitor | wifi wireless | internet online web | email mail
    login signin logon | combine merge join concatenate | dict dictionary | int integer | str string
    repo repository | dir directory folder | func function | var variable | db database | doc document documentation
    info information details data | undo revert rollback | last latest recent | current today now present
    center centre middle | tall height high | far distance | author write writer | population people inhabitant
    country nation | city town | substitute replacement alternative instead | fridge refrigerator
    make create build prepare cook | done cooked ready | keep store | reheat warm heat | renew extend repeat refill
    lawyer attorney solicitor | deadline due | file submit lodge | miss skip | duty service
    permit permission licence license | marry married marriage wedding | see view check look find show display
    near nearby close | choose select pick | allow permit let | error fault bug
    """
_ANTONYMS = """
    open:close open:shut enable:disable on:off in:out install:uninstall add:remove add:delete increase:decrease
    increase:reduce increase:lower increase:cut raise:lower raise:cut up:down more:less most:least maximum:minimum
    max:min high:low tall:short long:short large:small big:small big:little early:late before:after first:last
    start:stop start:end begin:end start:finish connect:disconnect lock:unlock block:unblock include:exclude
    import:export upload:download push:pull buy:sell buyer:seller send:receive deposit:withdraw lend:borrow win:lose
    accept:reject accept:decline approve:reject allow:deny allow:forbid hire:fire arrive:depart arrival:departure
    enter:exit login:logout subscribe:unsubscribe upgrade:downgrade ascend:descend ascending:descending asc:desc
    boil:freeze hot:cold heat:cool warm:cool freeze:thaw freeze:defrost thick:thin thicken:thin wet:dry
    marry:divorce married:divorced husband:wife male:female man:woman father:mother dad:mom paternity:maternity
    employer:employee landlord:tenant debit:credit income:expense profit:loss public:private incoming:outgoing
    internal:external domestic:international north:south east:west above:below over:under inside:outside new:old
    latest:oldest next:previous pass:fail success:failure book:cancel show:hide visible:hidden expand:collapse
    plus:minus positive:negative rise:fall gain:lose stage:unstage encrypt:decrypt
    """
_NUMBER_WORDS = dict(zip(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion first second third fourth fifth sixth seventh eighth ninth "
    "tenth eleventh twelfth single dozen half".split(),
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 30 40 50 60 70 80 90 100 1000 1000000 "
    "1000000000 1 2 3 4 5 6 7 8 9 10 11 12 1 12 0.5".split(),
))
_TENS = frozenset("twenty thirty forty fifty sixty seventy eighty ninety".split())
_UNITS = frozenset("one two three four five six seven eight nine".split())
_ROMAN = {"II": "2", "III": "3", "IV": "4", "VI": "6", "VII": "7", "VIII": "8", "IX": "9", "XI": "11", "XII": "12"}
_IRREGULAR = dict(pair.split(":") for pair in """
    sank:sink sunk:sink paid:pay got:get gotten:get went:go gone:go lost:lose forgot:forget forgotten:forget
    sent:send took:take taken:take made:make came:come children:child men:man women:woman bought:buy sold:sell
    left:leave better:good best:good worse:bad worst:bad ran:run wrote:write written:write gave:give given:give
    knew:know known:know said:say told:tell found:find kept:keep brought:bring thought:think won:win froze:freeze
    frozen:freeze broke:break broken:break chose:choose chosen:choose stole:steal stolen:steal drove:drive
    driven:drive ate:eat eaten:eat began:begin begun:begin spent:spend built:build meant:mean fell:fall grew:grow
    rose:rise people:person knives:knife lives:life wives:wife leaves:leave using:use used:use uses:use
    earliest:early latest:late did:do done:done does:do has:have had:have was:be were:be is:be am:be are:be been:be
    being:be
    """.split())
# Superlatives are stripped only for these adjectives ("Everest" must stay a name).
for _adj in "large big small long short high low tall fast slow cheap old new close near hot cold deep wide great".split():
    _IRREGULAR[_adj + ("st" if _adj.endswith("e") else "est")] = _adj
    if _adj in ("big", "hot"):
        _IRREGULAR[_adj + _adj[-1] + "est"] = _adj


# ---- normalising ---------------------------------------------------------------------------

def stem(word: str) -> str:
    """A light suffix stripper (plurals, -ing, -ed, -er, -ly): one stem for a word's forms."""
    word = _IRREGULAR.get(word, word)
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith(("ier", "iest")) and len(word) > 5:
        word = word[: -3 if word.endswith("ier") else -4] + "y"
    for _ in range(2):  # requesting -> request -> request; interested -> interest
        for suffix, min_base in (("ing", 3), ("ed", 3), ("er", 3), ("ly", 4)):
            if word.endswith(suffix) and len(word) - len(suffix) >= min_base:
                base = word[: -len(suffix)]
                if len(base) >= 3 and base[-1] == base[-2] and base[-1] not in "sz" and base[:-1] not in STOPWORDS:
                    base = base[:-1]  # stopping -> stop, but butter -> butt (not "but")
                elif len(base) == 3 and _cvc(base):
                    base += "e"
                word = base
                break
    if word.endswith("ll") and len(word) > 4:
        word = word[:-1]  # install / installed -> instal, travel / travelling -> travel
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    if word.endswith("y") and len(word) > 3:
        word = word[:-1] + "i"  # easy / easily / easiest -> easi
    return word


def _cvc(s: str) -> bool:  # consonant-vowel-consonant: "mak(ing)" -> "make"
    return s[-1] not in "aeiouwxy" and s[-2] in "aeiou" and s[-3] not in "aeiou"


def _stems(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in text.split())


STOP_STEMS = _stems(" ".join(STOPWORDS)) | STOPWORDS
NEUTRAL_STEMS = _stems(" ".join(NEUTRAL)) | NEUTRAL
FOCUS_STEMS = _stems(" ".join(FOCUS))


def _index(pairs: list[tuple[str, object]]) -> dict[str, frozenset]:
    index: dict[str, set] = {}
    for word, value in pairs:
        index.setdefault(stem(word), set()).add(value)
    return {k: frozenset(v) for k, v in index.items()}


# stem -> ids of its synonym groups; stem -> stems of its antonyms
SYNONYMS = _index([(w, gid) for gid, group in enumerate(re.split(r"[|\n]", _SYNONYMS)) for w in group.split()])
ANTONYMS = _index([(a, stem(b)) for pair in _ANTONYMS.split() for a, b in (pair.split(":"), pair.split(":")[::-1])])
_CONTRACTION_RE = re.compile(r"\bwon't\b|\bcan't\b|\bcannot\b|\bshan't\b|n't\b|'m\b|'re\b|'ve\b|'ll\b|'d\b|'s\b"
                             r"|(?<=s)'(?=\s|$)", re.IGNORECASE)
_CONTRACTION_TO = {"won't": "will not", "can't": "can not", "cannot": "can not", "shan't": "shall not",
                   "n't": " not", "'m": " am", "'re": " are", "'ve": " have", "'ll": " will", "'d": " would"}
_WORD = re.compile(r"[^\W\d_]+|\d+(?:\.\d+)*")  # letters of any script, or a number
_ABBREVIATIONS = _words("dr mr mrs ms st prof vs etc")


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
        if word in _ROMAN or (word == "I" and i and words[i - 1][0][:1].isupper() and not words[i - 1][1]):
            value = _ROMAN.get(word, "1")  # World War I, Henry VIII
        elif lower[0].isdigit():
            value = lower if "." in lower else (lower.lstrip("0") or "0")
        else:
            value = _NUMBER_WORDS.get(lower)
        tokens.append(stem(lower) if value is None or lower in _NUMBER_WORDS else value)
        if value is not None:
            numbers.add(value)
            number_tokens.add(tokens[-1])
        elif lower not in STOPWORDS and lower not in NEUTRAL and word != "I" and not shouting and (
            (len(word) >= 2 and word.isupper()) or (word[:1].isupper() and not sentence_start and not title_case)
        ):
            entities.add(tokens[-1])
    lowers = [w.lower() for w, _ in words]
    for a, b in zip(lowers, lowers[1:]):  # "twenty five" -> 25
        if a in _TENS and b in _UNITS:
            numbers -= {_NUMBER_WORDS[a], _NUMBER_WORDS[b]}
            numbers.add(str(int(_NUMBER_WORDS[a]) + int(_NUMBER_WORDS[b])))
    content = frozenset(t for t in tokens if t not in STOP_STEMS and t not in NEUTRAL_STEMS and t not in number_tokens)
    negated = any(w in NEGATIONS for w in lowers)
    return Analysis(tuple(tokens), content, frozenset(numbers), negated, frozenset(entities), _roles(tokens, content))


def _normalise(text: str) -> str:
    raw = unicodedata.normalize("NFKC", text).translate({0x2019: "'", 0x2018: "'", 0x60: "'"})
    raw = _CASE_ALIAS_RE.sub(lambda m: "usa" if m.group() == "US" else "uk", raw)  # not "us"
    raw = _CONTRACTION_RE.sub(lambda m: _CONTRACTION_TO.get(m.group().lower(), ""), raw)
    raw = _ALIAS_RE.sub(lambda m: _ALIAS_TO[m.lastindex - 1], raw)
    raw = re.sub(r"(?<=\d),(?=\d{3}\b)", "", raw)  # 10,000 -> 10000
    return re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", raw)  # 3rd -> 3


def _words_of(raw: str) -> list[tuple[str, bool]]:
    """(word, whether it starts a sentence) for each word; "Dr. Smith" starts none."""
    words: list[tuple[str, bool]] = []
    end = 0
    for m in _WORD.finditer(raw):
        gap = raw[end: m.start()].rstrip()
        after_abbreviation = bool(words) and words[-1][0].lower() in _ABBREVIATIONS
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
