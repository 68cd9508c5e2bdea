"""The scrubber that cleans upstream error text of credentials (server/providers/scrub.py)."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from server.providers.scrub import REDACTED, Scrubber
from server.core.settings import parse_settings

KEY = "sk-Ab3dEf9hIjKlMnOpQrStUv12Wx"
HEADER = "x+Y/z=9Qw e!rT7yU%4"  # characters that URL-encoding and base64 change
SCRUBBER = Scrubber([KEY, HEADER])


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("echo", [
    f"Incorrect API key provided: Bearer {KEY}.",
    f"Incorrect API key provided: {KEY[:3]}****{KEY[-4:]}.",   # OpenAI's masked form
    f"Incorrect API key provided: {KEY[:8]}**********",
    f"key {KEY[:12]}... rejected",
    f"key ...{KEY[-10:]} rejected",
    f"header api-key: {HEADER}",
    f"url ?api-key={quote(HEADER, safe='')}&x=1",
    f"url ?api-key={quote(HEADER, safe='').lower()}&x=1",
    f"form api-key={quote_plus(HEADER)}",
    f"got Basic {b64('user:' + KEY)}",
    f"got {b64('Bearer ' + KEY)} and {base64.urlsafe_b64encode(HEADER.encode()).decode()}",
    f"got {b64('a' + HEADER)} / {b64('ab' + HEADER)}",
    f"hex {KEY.encode().hex()}",
    json.dumps({"authorization": f"Bearer {KEY}", "api-key": HEADER}),
])
def test_configured_secrets_are_gone_in_every_form(echo):
    clean = SCRUBBER.scrub(echo)
    assert REDACTED in clean
    for fragment in (KEY[:8], KEY[3:11], KEY[-4:], KEY[-8:], HEADER[:6], HEADER[-6:],
                     quote(HEADER, safe="")[:10], b64(KEY)[4:14]):
        assert fragment not in clean, (fragment, clean)


@pytest.mark.parametrize("echo", [
    "token ghp_Z7q2Lm9Xc4Vb8Nk1Jh6Gf3Ds5Aa0Pp2Ww9Ee",          # a GitHub token nobody configured
    "key AKIAZ7Q2LM9XC4VB8NK1 was denied",                       # an AWS access key id
    "Authorization: Bearer a8Fk29dLq0ZpX7",                      # any bearer token with digits
    "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
])
def test_anything_that_looks_like_a_credential_goes_too(echo):
    clean = Scrubber().scrub(echo)
    assert REDACTED in clean
    secret = echo.split()[-1] if "AKIA" not in echo else "AKIAZ7Q2LM9XC4VB8NK1"
    assert secret not in clean


@pytest.mark.parametrize("text", [
    "The model `gpt-4o` does not exist or you do not have access to it.",
    "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
    "Rate limit reached for requests. Bearer token auth is required.",
    "",
])
def test_ordinary_error_text_is_left_alone(text):
    assert SCRUBBER.scrub(text) == text


def test_adjacent_pieces_become_one_placeholder():
    assert SCRUBBER.scrub(f"sent {HEADER} and {KEY}.") == f"sent {REDACTED} and {REDACTED}."


def test_error_events_are_scrubbed_inside_their_strings_and_stay_json():
    event = json.dumps({"error": {"message": f"bad key {KEY}",
                                  "details": [HEADER], "code": 401}}).encode()
    out = json.loads(SCRUBBER.scrub_event(event))
    assert out == {"error": {"message": f"bad key {REDACTED}", "details": [REDACTED], "code": 401}}
    # Escaped characters are decoded before the search: \u0073 is "s".
    escaped = b'{"error": {"message": "\\u0073k-Ab3dEf9hIjKlMnOpQrStUv12Wx"}}'
    assert KEY[1:] not in SCRUBBER.scrub_event(escaped).decode()
    huge = json.dumps({"error": {"message": "x" * 20000}}).encode()
    assert b"too large to be checked" in SCRUBBER.scrub_event(huge)


@pytest.mark.parametrize("data", [
    json.dumps({"choices": [{"delta": {"content": 'the "error" key ' + "y" * 20000}}]}).encode(),
    b'{"error": not json',
])
def test_other_events_pass_unchanged(data):
    assert SCRUBBER.scrub_event(data) is data


def test_the_repr_shows_no_secret():
    assert KEY not in repr(SCRUBBER) and KEY[:8] not in repr(SCRUBBER)


def test_from_settings_takes_every_provider_key_and_header_and_the_admin_token(monkeypatch):
    monkeypatch.setenv("SCRUB_KEY", KEY)
    monkeypatch.setenv("SCRUB_HEADER", HEADER)
    monkeypatch.setenv("SCRUB_ADMIN", "admin-Tok3n-Zq81")
    settings = parse_settings("""
[admin]
token = "env:SCRUB_ADMIN"
[providers.a]
kind = "openai"
url = "http://127.0.0.1:9/v1"
api_key = "env:SCRUB_KEY"
[providers.b]
kind = "openai"
url = "http://127.0.0.1:9/v1"
headers = { "api-key" = "env:SCRUB_HEADER" }
[providers.c]
kind = "openai"
url = "http://127.0.0.1:9/v1"
api_key = "env:SCRUB_UNSET_VARIABLE"
""")
    scrubber = Scrubber.from_settings(settings)  # an unresolvable reference is skipped
    clean = scrubber.scrub(f"{KEY} {HEADER} admin-Tok3n-Zq81")
    assert clean == f"{REDACTED} {REDACTED} {REDACTED}"
