"""Checksums and number plans: Luhn, card brands by IIN and length, IBAN mod 97, SSN ranges."""

from __future__ import annotations

import pytest

from server.guardrails.checksums import (
    IBAN_LENGTHS,
    card_brand,
    iban_check_digits,
    iban_mod97,
    luhn_ok,
    valid_card,
    valid_iban,
    valid_ssn,
)


@pytest.mark.parametrize(
    "number, ok",
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("79927398713", True),  # the textbook Luhn example
        ("79927398710", False),
        ("0", True),
        ("18", True),
        ("81", False),
    ],
)
def test_luhn(number: str, ok: bool) -> None:
    assert luhn_ok(number) is ok


@pytest.mark.parametrize(
    "number, brand",
    [
        ("4111111111111111", "visa"),
        ("4222222222222", "visa"),  # 13 digits
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),  # 2-series
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3530111333300000", "jcb"),
        ("30569309025904", "diners"),
        ("6200000000000005", "unionpay"),
    ],
)
def test_known_test_cards(number: str, brand: str) -> None:
    assert valid_card(number) == brand


@pytest.mark.parametrize(
    "number, why",
    [
        ("4111111111111112", "Luhn"),
        ("378282246310005" + "0", "Amex is 15 digits"),
        ("1234567812345670", "no brand starts with 1"),
        ("356938035643809", "IMEI: Luhn-valid, 15 digits, no 15-digit brand at 35"),
        ("411111111111", "too short"),
        ("41111111111111111111", "too long"),
        ("4111 1111 1111 1111", "separators are stripped by the detector, not here"),
    ],
)
def test_invalid_cards(number: str, why: str) -> None:
    assert valid_card(number) is None, why


def test_brand_needs_length_and_range() -> None:
    assert card_brand("2220" + "0" * 12) is None  # just below the Mastercard 2-series
    assert card_brand("2721" + "0" * 12) is None  # just above it
    assert card_brand("2720" + "0" * 12) == "mastercard"


@pytest.mark.parametrize(
    "iban",
    ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "NO9386011117947",
     "MT84MALT011000012345MTLCAST001S", "LC55HEMM000100010012001200023015"],
)
def test_registry_ibans_are_valid(iban: str) -> None:
    assert valid_iban(iban)


@pytest.mark.parametrize(
    "iban, why",
    [
        ("DE88370400440532013000", "check digits"),
        ("DE8937040044053201300", "too short for DE"),
        ("DE893704004405320130000", "too long for DE"),
        ("XX89370400440532013000", "unknown country"),
        ("DE89 3704 0044 0532 0130 00", "spaces are stripped by the detector"),
        ("de89370400440532013000", "lower case is upper-cased by the detector"),
        ("DEAB370400440532013000", "check digits must be digits"),
    ],
)
def test_invalid_ibans(iban: str, why: str) -> None:
    assert not valid_iban(iban), why


def test_check_digits_make_valid_ibans_for_every_country() -> None:
    for country, length in IBAN_LENGTHS.items():
        bban = ("1234567890" * 4)[: length - 4]
        iban = country + iban_check_digits(country, bban) + bban
        assert valid_iban(iban), iban
        assert iban_mod97(iban) == 1


@pytest.mark.parametrize(
    "ssn, ok",
    [
        ("123-45-6789", True),
        ("001-01-0001", True),
        ("899-99-9999", True),
        ("000-12-3456", False),
        ("666-12-3456", False),
        ("900-12-3456", False),
        ("999-99-9999", False),
        ("123-00-4567", False),
        ("123-45-0000", False),
    ],
)
def test_ssn_ranges(ssn: str, ok: bool) -> None:
    assert valid_ssn(*ssn.split("-")) is ok
