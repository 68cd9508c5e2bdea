"""The semantic cache verifier's vocabulary: word lists, the light stemmer, synonym and
antonym indexes, number words and the patterns that normalise a text (server/cache/verify.py
applies them). Pure data and one function; nothing here compares two texts.
"""

from __future__ import annotations

import re


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
ALIAS_RE = re.compile(r"(?<![\w-])(?:" + "|".join(f"({p})" for p, _ in _ALIASES) + r")(?![\w-])", re.IGNORECASE)
ALIAS_TO = [r for _, r in _ALIASES]
CASE_ALIAS_RE = re.compile(r"\b(?:US|UK)\b")

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
NUMBER_WORDS = dict(zip(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion first second third fourth fifth sixth seventh eighth ninth "
    "tenth eleventh twelfth single dozen half".split(),
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 30 40 50 60 70 80 90 100 1000 1000000 "
    "1000000000 1 2 3 4 5 6 7 8 9 10 11 12 1 12 0.5".split(),
))
TENS = frozenset("twenty thirty forty fifty sixty seventy eighty ninety".split())
UNITS = frozenset("one two three four five six seven eight nine".split())
ROMAN = {"II": "2", "III": "3", "IV": "4", "VI": "6", "VII": "7", "VIII": "8", "IX": "9", "XI": "11", "XII": "12"}
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


# ---- the stemmer and the indexes built with it --------------------------------------------

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
CONTRACTION_RE = re.compile(r"\bwon't\b|\bcan't\b|\bcannot\b|\bshan't\b|n't\b|'m\b|'re\b|'ve\b|'ll\b|'d\b|'s\b"
                            r"|(?<=s)'(?=\s|$)", re.IGNORECASE)
CONTRACTION_TO = {"won't": "will not", "can't": "can not", "cannot": "can not", "shan't": "shall not",
                  "n't": " not", "'m": " am", "'re": " are", "'ve": " have", "'ll": " will", "'d": " would"}
WORD = re.compile(r"[^\W\d_]+|\d+(?:\.\d+)*")  # letters of any script, or a number
ABBREVIATIONS = _words("dr mr mrs ms st prof vs etc")
