"""Each built-in detector on its own: what it finds (exact span text) and what it must not."""

from __future__ import annotations

import pytest

from server.guardrails.detectors import builtin_detector


def found(kind: str, text: str) -> list[str]:
    findings = builtin_detector(kind).detect(text)
    for f in findings:
        assert text[f.start : f.end] == f.text and f.kind == kind
    return [f.text for f in findings]


POSITIVE = [
    ("email", "write to maria.gonzalez@acme-corp.com today", "maria.gonzalez@acme-corp.com"),
    ("email", "JOHN.DOE@EXAMPLE.COM.", "JOHN.DOE@EXAMPLE.COM"),
    ("email", "o'connor: sarah.o'connor@example.ie", "sarah.o'connor@example.ie"),
    ("email", "<a href=\"mailto:a.b+tag@sub.example.co.uk\">", "a.b+tag@sub.example.co.uk"),
    ("email", "internal: svc@build.corp.internal", "svc@build.corp.internal"),
    ("phone", "Call +44 20 7946 0958 now", "+44 20 7946 0958"),
    ("phone", "US office +1 (415) 555-0132.", "+1 (415) 555-0132"),
    ("phone", "unter 0049 30 1234567.", "0049 30 1234567"),
    ("phone", "desk (212) 555-0187.", "(212) 555-0187"),
    ("phone", "UK 020 7946 0958", "020 7946 0958"),
    ("phone", "Tel. 030/1234567", "030/1234567"),
    ("phone", "FR 01 23 45 67 89", "01 23 45 67 89"),
    ("phone", "FR 06.12.34.56.78", "06.12.34.56.78"),
    ("phone", "+44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
    ("phone", "(+44) 161 496 0000", "(+44) 161 496 0000"),
    ("phone", "text +447700900456", "+447700900456"),
    ("phone", "call 1-800-555-0199", "1-800-555-0199"),
    ("phone", "+1 212 555 0100 ext. 23", "+1 212 555 0100"),
    ("card", "Visa 4111 1111 1111 1111, exp 12/27", "4111 1111 1111 1111"),
    ("card", "MC 5555-5555-5555-4444", "5555-5555-5555-4444"),
    ("card", "Amex 3782 822463 10005", "3782 822463 10005"),
    ("card", "pan=378282246310005&x", "378282246310005"),
    ("card", "card 4111 1111 1111 1111 12/25", "4111 1111 1111 1111"),
    ("iban", "IBAN DE89 3704 0044 0532 0130 00.", "DE89 3704 0044 0532 0130 00"),
    ("iban", "to GB82WEST12345698765432 please", "GB82WEST12345698765432"),
    ("iban", "iban: fr14 2004 1010 0505 0001 3m02 606", "fr14 2004 1010 0505 0001 3m02 606"),
    ("ssn", "SSN 123-45-6789", "123-45-6789"),
    ("ssn", "ssn 123 45 6789", "123 45 6789"),
    ("ip", "from 185.220.101.4 port 22", "185.220.101.4"),
    ("ip", "upstream 10.0.0.1:8080", "10.0.0.1"),
    ("ip", "net 10.20.0.0/16", "10.20.0.0"),
    ("ip", "host [2001:db8::1]:443", "2001:db8::1"),
    ("ip", "bind ::1.", "::1"),
    ("ip", "mapped ::ffff:192.0.2.128 ok", "::ffff:192.0.2.128"),
]


@pytest.mark.parametrize("kind, text, expected", POSITIVE)
def test_finds(kind: str, text: str, expected: str) -> None:
    assert found(kind, text) == [expected]


NEGATIVE = [
    ("email", "ssh deploy@localhost"),
    ("email", "logo@2x.png"),
    ("email", "git@github.com:acme/gate.git"),
    ("email", "lodash@4.17.21"),
    ("email", "postgres://app@db.example.com:5432/x"),
    ("email", "y = X@W.transpose()"),
    ("email", "@maria.gonzalez on Slack"),
    ("email", "bad..dots@example.com"),
    ("phone", "on 2024-03-15 at 14:30"),
    ("phone", "dated 05.04.2023 14:30"),
    ("phone", "Order 415-555-0132 shipped"),
    ("phone", "Ticket #555-867-5309"),
    ("phone", "wallet 12345678901"),
    ("phone", "plain 004930123456"),
    ("phone", "ISBN 978-3-16-148410-0"),
    ("phone", "at +48.8584, 2.2945"),
    ("phone", "numbers 04 11 23 35 42 49"),
    ("phone", "SSN-shaped 012-34-5678"),
    ("phone", "DE89 3704 0044 0532 0130 00"),
    ("phone", "Windows 10.0.19045.3693"),
    ("card", "4111 1111 1111 1112"),
    ("card", "IMEI 356938035643809"),
    ("card", "run 41111111111111111111"),
    ("card", "amount 4111111111111111.50"),
    ("card", "masked 4111 **** **** 1111"),
    ("card", "mixed 4111-1111 1111-1111"),
    ("iban", "DE88 3704 0044 0532 0130 00"),
    ("iban", "DE89 3704 0044 0532 0130"),
    ("iban", "BE68 5390 0754 7034 12"),
    ("iban", "GB82WEST is a fixture name"),
    ("iban", "DE89370400440532013000X"),
    ("ssn", "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000"),
    ("ssn", "room 123 45 6789"),
    ("ssn", "part 123-45-67890"),
    ("ssn", "mixed 123-45 6789"),
    ("ip", "version 1.2.3.4"),
    ("ip", "v1.2.3.4"),
    ("ip", "256.10.10.10"),
    ("ip", "OID 1.3.6.1.2.1"),
    ("ip", "01.02.03.04"),
    ("ip", "at 12:30:45"),
    ("ip", "std::vector"),
    ("ip", "MAC 00:1a:2b:3c:4d:5e"),
    ("ip", "dump 7f:45:4c:46:02:01:01:00"),
    ("ip", "separator ::"),
    ("ip", "section 4.2.1.3"),
]


@pytest.mark.parametrize("kind, text", NEGATIVE)
def test_ignores(kind: str, text: str) -> None:
    assert found(kind, text) == []


def test_phone_trailing_groups_are_dropped_to_the_e164_limit() -> None:
    assert found("phone", "call +1 415 555 0132 2 times") == ["+1 415 555 0132"]


def test_card_reports_brand() -> None:
    [f] = builtin_detector("card").detect("pay 6011 1111 1111 1117")
    assert f.detail == "discover"


def test_iban_reports_country_and_checks_every_char() -> None:
    [f] = builtin_detector("iban").detect("NL91ABNA0417164300")
    assert f.detail == "NL"
    assert found("iban", "NL91ABNA0417164301") == []


def test_ipv4_octets_are_validated_one_by_one() -> None:
    assert found("ip", "255.255.255.255") == ["255.255.255.255"]
    for bad in ("255.255.255.256", "300.1.1.1", "1.300.1.1", "1.1.300.1"):
        assert found("ip", bad) == [], bad
