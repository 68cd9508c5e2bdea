"""Detectors for personal data: email, phone, payment card, IBAN, US SSN, IP address.

Each detector finds candidates with one precompiled regex and then validates them in
Python (checksums, number plans, context), because a regex alone cannot tell a card from
a 16-digit order number. Decisions (see tests/data/guardrails/README.md):

- email: needs a dotted domain whose last label is a two-letter country code or a known
  generic/internal TLD, so `user@localhost`, `icon@2x.png`, `a@b.shape` are not emails;
  `git@host:path` (an SSH remote) and URL userinfo (`scheme://user@host`) are not either.
- phone: international (`+CC ...`, `00CC ...`), NANP (`(415) 555-0132`, `415-555-0132`)
  or national trunk-prefix (`020 7946 0958`, `030/1234567`) numbers. Without `+` a
  separator is required, dates/decimals/versions are rejected, and a number right after
  an order/invoice/ticket/... label is taken as that id, not a phone.
- card: Luhn, and a real brand's IIN range and length; one kind of separator; trailing
  groups that would break the number are dropped; a number labelled as another id
  (IMEI, EAN, order, tracking, ...) is that id.
- iban: known country and its length, mod 97; printed compact or in groups of four.
- ssn: AAA-GG-SSSS outside the never-issued ranges; AAA GG SSSS only near "SSN".
- ip: IPv4 octets 0-255 without leading zeros, IPv6 by `ipaddress`; an IPv4 right after
  a version/section label (`version 1.2.3.4`) is not an address.
"""

from __future__ import annotations

import ipaddress
import math
import re
from bisect import bisect_right

from server.guardrails.base import CARD, EMAIL, IBAN, IP, PHONE, SSN, Finding
from server.guardrails.checksums import IBAN_LENGTHS, valid_card, valid_iban, valid_ssn

def _inside(spans: list[tuple[int, int]], pos: int) -> bool:
    """Whether `pos` falls in one of `spans` (sorted by start, not overlapping): a binary
    search, so that many findings against many spans stay O(n log n), not O(n^2)."""
    i = bisect_right(spans, (pos, math.inf)) - 1
    return i >= 0 and spans[i][0] <= pos < spans[i][1]


# ---------------------------------------------------------------- email

_GENERIC_TLDS = frozenset("""
    com org net edu gov mil int info biz name pro mobi aero coop museum jobs travel tel asia
    cat post app dev cloud tech online site store shop xyz club top email company solutions
    digital agency media news blog page systems network group global world today life live
    services consulting health bank law academy care center legal finance capital studio
    design social space website expert tools support team works zone one inc llc ltd gmbh
    science energy eco africa berlin london paris nyc tokyo wien swiss amsterdam
    local internal corp lan home intranet private example test invalid
""".split())
_EMAIL = re.compile(
    r"(?<![\w.%+\-@/])"
    r"([A-Za-z0-9_](?:[A-Za-z0-9._%+'\-]{0,62}[A-Za-z0-9_%+\-])?)"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))"
    r"(?![\w\-@]|\.[A-Za-z0-9])"
)
_URL_USERINFO = re.compile(r"://[^\s/@]*$")
_SSH_REMOTE = re.compile(r":[\w~.\-]*/")


class EmailDetector:
    kind = EMAIL

    def detect(self, text: str) -> list[Finding]:
        if "@" not in text:
            return []
        out = []
        for m in _EMAIL.finditer(text):
            tld = m.group(3).lower()
            if len(tld) > 2 and tld not in _GENERIC_TLDS:
                continue
            if ".." in m.group(1):
                continue
            start, end = m.span()
            if _URL_USERINFO.search(text, max(0, start - 64), start) or _SSH_REMOTE.match(text, end):
                continue
            out.append(Finding(EMAIL, start, end, m.group()))
        return out


# ---------------------------------------------------------------- phone

_SP = r"[ \u00a0]"
_SEP = r"[ \u00a0.\-/]"
_PHONE = re.compile(
    rf"(?<![\w+@/.\-#])(?:"
    # international: +CC or 00CC, then groups split by one separator or an (area) group
    rf"(?P<intl>(?:\(\+[1-9]\d{{0,2}}\)|\+[1-9]\d{{0,13}}|00[1-9]\d{{0,13}})"
    rf"(?:(?:{_SP}?\(\d{{1,5}}\){_SP}?|{_SEP})\d{{1,12}})*)"
    # NANP: optional 1, (NXX) or NXX, NXX, XXXX
    rf"|(?P<nanp>(?:1[ .\-])?(?:\({_SP}?[2-9]\d\d{_SP}?\){_SP}?|[2-9]\d\d[ \u00a0.\-])[2-9]\d\d[ \u00a0.\-]\d{{4}})"
    # national with a trunk prefix 0: (0AA) or 0AA, then 1-4 groups
    rf"|(?P<trunk>\(0\d{{1,4}}\){_SP}?\d{{2,8}}(?:{_SEP}\d{{2,8}}){{0,3}}|0\d{{1,4}}(?:{_SEP}\d{{2,8}}){{1,4}})"
    rf")(?!\w|[.\-/]\d)"
)
# a number continues a longer run of groups ("2024 0315 1430 2200", "DE89 3704 0044 ...")
_CONTINUES = re.compile(r"[A-Za-z0-9]*\d[A-Za-z0-9]*[ \u00a0.\-/]$")
_FOLLOWED = re.compile(r"[ \u00a0.\-/]?\d")
# IBAN-shaped text (valid or not): digits inside are never phone numbers
_IBAN_SHAPE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?(?![A-Za-z0-9])")
_GROUPS = re.compile(r"\((\d+)\)|(\d+)")
_ID_LABEL = re.compile(
    r"(?:\b(?:(?:order|invoice|ticket|case|ref|reference|tracking|transaction|txn|serial|sku|"
    r"po|confirmation|booking|isbn|batch|lot|claim|shipment|parcel|receipt|build|job|id)"
    r"(?:\s*(?:id|no|nr|number|num|code|#))?"
    r"|(?:account|acct|customer|member|policy|patient|part|item|request|req|run|inv)"
    r"\s*(?:id|no|nr|number|num|code|#))\.?\s*(?:is|was|:|#|=)?\s*|#\s*)$",
    re.IGNORECASE,
)
_SSN_SHAPE = re.compile(r"^\d{3}([\- ])\d{2}\1\d{4}$")  # an SSN or an invalid one: never a phone
_DATE_HEAD = re.compile(r"^\(?\d{1,2}([./\-])\d{1,2}\1(?:19|20)\d\d(?!\d)")


# Every character of a phone number is in this class, so the phone regex only needs to run
# inside such runs (found fast: the pattern starts with a character class).
_PHONE_WINDOW = re.compile(r"[(+\d][\d ()+.\-/\u00a0]{7,}")


class PhoneDetector:
    kind = PHONE

    def detect(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        ibans: list[tuple[int, int]] | None = None
        for window in _PHONE_WINDOW.finditer(text):
            for m in _PHONE.finditer(text, window.start(), window.end() + 1):
                span = self._span(text, m)
                if span is None:
                    continue
                if ibans is None:
                    ibans = [i.span() for i in _IBAN_SHAPE.finditer(text)]
                if _inside(ibans, span[0]):
                    continue  # digits inside an IBAN-shaped string
                out.append(Finding(PHONE, span[0], span[1], text[span[0] : span[1]]))
        return out

    @classmethod
    def _span(cls, text: str, m: re.Match[str]) -> tuple[int, int] | None:
        start, end = m.span()
        kind = m.lastgroup
        if kind == "intl":
            intl_end = cls._intl_end(m.group(), start)
            if intl_end is None:
                return None
            end = intl_end
        elif kind == "trunk" and not cls._trunk_ok(m.group()):
            return None
        elif _FOLLOWED.match(text, end):
            return None  # more digit groups follow: a list or a longer number
        if m.group()[0] != "+" and m.group()[:2] != "(+":
            if _ID_LABEL.search(text, max(0, start - 40), start):
                return None  # "order 415-555-0132": that order's id
            if _CONTINUES.search(text, max(0, start - 24), start):
                return None
        return start, end

    @staticmethod
    def _intl_end(cand: str, start: int) -> int | None:
        """Where an international number really ends (extra trailing groups dropped), or None."""
        plus = "+" in cand[:2]
        groups = [(g.start(), g.end(), len(g.group(1) or g.group(2)), g.group(1) == "0")
                  for g in _GROUPS.finditer(cand)]
        if not plus:
            first_s, first_e, first_n, _ = groups[0]
            groups[0] = (first_s, first_e, first_n - 2, False)  # "00" is not part of the number
        nanp = cand.lstrip("(+0")[:1] == "1"
        limit = 11 if nanp else 15
        total = sum(n for _, _, n, trunk in groups if not trunk)
        while total > limit and len(groups) > 1:
            total -= groups.pop()[2]
        if nanp and total != 11 or not 8 <= total <= 15:
            return None
        body = cand[: groups[-1][1]]
        if len(groups) == 1 and (not plus or total < 10):
            return None  # "+12345678" or "004930123456": a plain number
        seps = set(re.sub(r"[\d()+]", "", body))
        if seps == {"."} and body.count(".") == 1:
            return None  # "+33.4484367": a signed decimal
        return start + len(body)

    @staticmethod
    def _trunk_ok(cand: str) -> bool:
        digits = sum(ch.isdigit() for ch in cand)
        if not 9 <= digits <= 12 or cand.lstrip("(").startswith("00"):
            return False
        if _DATE_HEAD.match(cand) or _SSN_SHAPE.match(cand):
            return False
        seps = set(re.sub(r"[\d()]", "", cand))
        return not ("." in seps and len(seps) > 1)


# ---------------------------------------------------------------- payment card

# A number labelled as another kind of id is that id, even if it passes Luhn (IMEI, EAN, ...).
_CARD_ID_LABEL = re.compile(
    r"\b(?:imei|ean|gtin|upc|isbn|order|invoice|tracking|shipment|parcel|serial|sku|reference|ref|transaction|"
    r"txn|ticket|case|account|acct|iccid|meid)(?:\s*(?:id|no|nr|number|num|code|#))?\.?\s*[:#=]?\s*$",
    re.IGNORECASE,
)
# Patterns start with the character class and check the character before it with a
# lookbehind placed after it ("\d(?<![\w.]\d)"): the regex engine can then skip ahead to
# candidate characters instead of trying a leading lookbehind at every position (2-3x).
_CARD = re.compile(r"\d(?<![\w\-.]\d)(?:[ \-]?\d){12,22}(?![\w\-]|[.,]\d)")
_CARD_GROUP = re.compile(r"\d+")


class CardDetector:
    kind = CARD

    def detect(self, text: str) -> list[Finding]:
        out = []
        for m in _CARD.finditer(text):
            found = self._card_in(m.group())
            if found is not None and _CARD_ID_LABEL.search(text, max(0, m.start() - 40), m.start()) is None:
                length, brand = found
                out.append(Finding(CARD, m.start(), m.start() + length, m.group()[:length], brand))
        return out

    @staticmethod
    def _card_in(cand: str) -> tuple[int, str] | None:
        """(length of the card at the head of `cand`, brand), trying whole separator groups:
        `4111 1111 1111 1111 12` is a card followed by something else."""
        seps = set(cand) - set("0123456789")
        if not seps:
            brand = valid_card(cand)
            return (len(cand), brand) if brand else None
        if len(seps) > 1:
            return None
        groups = list(_CARD_GROUP.finditer(cand))
        if any(len(g.group()) < 3 for g in groups[:-1]) or len(groups[0].group()) < 4:
            return None
        for n in range(len(groups), 0, -1):
            end = groups[n - 1].end()
            digits = "".join(g.group() for g in groups[:n])
            if len(digits) < 13:
                break
            brand = valid_card(digits)
            if brand:
                return end, brand
        return None


# ---------------------------------------------------------------- IBAN

# the two check digits, right after a two-letter country code that starts a word
_IBAN_HEAD = re.compile(r"\d(?<=(?<![\w\-])[A-Za-z]{2}\d)\d(?=[ \u00a0]?[A-Za-z0-9])")
_IBAN_CHAR = re.compile(r"[ \u00a0]?([A-Za-z0-9])")


class IbanDetector:
    kind = IBAN

    def detect(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        pos = 0
        while (m := _IBAN_HEAD.search(text, pos)) is not None:
            pos, start = m.end(), m.start() - 2
            country = text[start : m.start()].upper()
            want = IBAN_LENGTHS.get(country)
            if want is None:
                continue
            # exactly the country's length in characters, allowing one space between them
            end, chars, need = m.end(), [country, m.group()], want - 4
            while need and (c := _IBAN_CHAR.match(text, end)) is not None:
                chars.append(c.group(1).upper())
                end, need = c.end(), need - 1
            if need or (end < len(text) and (text[end].isalnum() or text[end] == "-")):
                continue
            found = text[start:end]
            if " " in found or "\u00a0" in found:
                groups = found.replace("\u00a0", " ").split(" ")
                if any(len(g) != 4 for g in groups[:-1]) or _FOLLOWED.match(text, end):
                    continue  # printed IBANs are grouped by four and end where the digits end
            if valid_iban("".join(chars)):
                out.append(Finding(IBAN, start, end, found, country))
                pos = end
        return out


# ---------------------------------------------------------------- US SSN

_SSN = re.compile(r"(\d(?<![\w\-.]\d)\d\d)([\- ])(\d{2})\2(\d{4})(?![\w\-]|[.,]\d)")


class SsnDetector:
    kind = SSN

    def detect(self, text: str) -> list[Finding]:
        out = []
        for m in _SSN.finditer(text):
            if m.group(2) == " " and not _SSN_CONTEXT.search(text, max(0, m.start() - 40), m.start()):
                continue  # "123 45 6789" only where it is called an SSN
            if valid_ssn(m.group(1), m.group(3), m.group(4)):
                out.append(Finding(SSN, m.start(), m.end(), m.group()))
        return out


_SSN_CONTEXT = re.compile(r"\b(?:ssn|social\s+security|ss#|ss\s+no)\b", re.IGNORECASE)

# ---------------------------------------------------------------- IP address

_IPV4 = re.compile(r"(\d(?<![\w.\-]\d)\d{0,2})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?!\w|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)"
)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_VERSION_LABEL = re.compile(
    r"(?:\b(?:versions?|ver|v|release|rel|build|firmware|fw|patch|rev|revision|section|sect|"
    r"chapter|clause|paragraph|para|article|item|step|rule|oid)\.?\s*[:=]?\s*|==|[<>~^]=?|§\s*)$",
    re.IGNORECASE,
)


class IpDetector:
    kind = IP

    def detect(self, text: str) -> list[Finding]:
        out = self._ipv6(text) if "::" in text or text.count(":") >= 7 else []
        v6 = [(f.start, f.end) for f in out]
        if "." in text:
            for m in _IPV4.finditer(text):
                if any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in m.groups()):
                    continue
                if _VERSION_LABEL.search(text, max(0, m.start() - 24), m.start()):
                    continue
                if _inside(v6, m.start()):
                    continue  # the tail of an IPv4-mapped IPv6 address
                out.append(Finding(IP, m.start(), m.end(), m.group(), "ipv4"))
        return out

    @staticmethod
    def _ipv6(text: str) -> list[Finding]:
        """IPv6 candidates, looked for only around colons (rare in prose, unlike hex letters)."""
        out: list[Finding] = []
        colon = text.find(":")
        while colon != -1:
            start = colon
            while start > 0 and colon - start < 4 and text[start - 1] in _HEX_DIGITS:
                start -= 1
            m = _IPV6.match(text, start)
            colon = text.find(":", colon + 1)
            if m is None:
                continue
            while colon != -1 and colon < m.end():
                colon = text.find(":", colon + 1)
            cand = m.group()
            if cand.count(":") < 2 or not any(c not in ":0" for c in cand):
                continue  # "::", "0::0"
            if "::" not in cand and all(len(g) <= 2 for g in cand.split(":")):
                continue  # "7f:45:4c:46:02:01:01:00": a byte dump, not an address
            try:
                ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            out.append(Finding(IP, m.start(), m.end(), cand, "ipv6"))
        return out
