"""Checksums and number plans behind the PII detectors: Luhn, card IINs, IBAN mod-97.

Pure functions over digit/alphanumeric strings that have already been stripped of
separators. Nothing here touches a regex; the detectors in `pii.py` find candidates and
ask these functions whether a candidate is real.
"""

from __future__ import annotations

# brand -> (IIN ranges as (low, high) over a prefix of len(str(low)) digits, allowed lengths)
CARD_BRANDS: tuple[tuple[str, tuple[tuple[int, int], ...], frozenset[int]], ...] = (
    ("amex", ((34, 34), (37, 37)), frozenset({15})),
    ("visa", ((4, 4),), frozenset({13, 16, 19})),
    ("mastercard", ((51, 55), (2221, 2720)), frozenset({16})),
    ("discover", ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), frozenset(range(16, 20))),
    ("jcb", ((3528, 3589),), frozenset(range(16, 20))),
    ("diners", ((300, 305), (36, 36), (38, 39)), frozenset(range(14, 20))),
    ("mir", ((2200, 2204),), frozenset(range(16, 20))),
    ("unionpay", ((62, 62), (81, 81)), frozenset(range(16, 20))),
    (
        "maestro",
        ((5018, 5018), (5020, 5020), (5038, 5038), (5893, 5893), (6304, 6304), (6759, 6759), (6761, 6763)),
        frozenset(range(13, 20)),
    ),
)

# ISO 13616 registry (SWIFT IBAN registry): country -> total IBAN length.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of ASCII digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The brand whose IIN range and length fit `digits`, or None."""
    n = len(digits)
    for brand, ranges, lengths in CARD_BRANDS:
        if n not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return brand
    return None


def valid_card(digits: str) -> str | None:
    """The brand of a real-looking card number (IIN, length and Luhn all fit), or None."""
    if not 13 <= len(digits) <= 19 or not digits.isascii() or not digits.isdigit():
        return None
    brand = card_brand(digits)
    if brand is None or not luhn_ok(digits):
        return None
    return brand


def iban_mod97(iban: str) -> int:
    """ISO 7064 MOD 97-10 over an IBAN (country, check digits, BBAN; no spaces)."""
    rearranged = iban[4:] + iban[:4]
    remainder = 0
    for ch in rearranged:
        value = ord(ch) - 48 if ch <= "9" else ord(ch) - 55  # '0'..'9' -> 0..9, 'A'.. -> 10..
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder


def valid_iban(iban: str) -> bool:
    """Uppercase, separator-free `iban`: known country, its length, and mod 97 == 1."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isascii() or not iban.isalnum():
        return False
    if not iban[2:4].isdigit() or not iban[4:].isalnum():
        return False
    return iban_mod97(iban) == 1


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits that make `country + ?? + bban` a valid IBAN (for tests/corpora)."""
    return f"{98 - iban_mod97(country + '00' + bban):02d}"


def valid_ssn(area: str, group: str, serial: str) -> bool:
    """US SSN ranges the SSA never issues: area 000, 666, 900-999; group 00; serial 0000."""
    return area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000"
