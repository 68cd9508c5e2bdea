"""How an upstream's error answer becomes a gateway error (server/providers/openai_compat.py)."""

from __future__ import annotations

import json

import pytest

from server.core.errors import UpstreamError, UpstreamUnavailable
from server.providers.openai_compat import upstream_error
from server.providers.scrub import REDACTED, Scrubber

KEY = "sk-Ab3dEf9hIjKlMnOpQrStUv12Wx"
SCRUBBER = Scrubber([KEY])


def error_body(**fields) -> bytes:
    return json.dumps({"error": {"message": "m", **fields}}).encode()


def test_every_field_the_upstream_sets_is_scrubbed():
    body = error_body(message=f"bad key {KEY}", type=f"t {KEY}", param=f"p {KEY}", code=f"c {KEY}")
    error = upstream_error("gpu", 400, body, {}, SCRUBBER)
    assert isinstance(error, UpstreamError) and error.status == 400
    assert error.message == f"upstream 'gpu' returned 400: bad key {REDACTED}"
    assert (error.type, error.param, error.code) == (f"t {REDACTED}", f"p {REDACTED}", f"c {REDACTED}")
    text = upstream_error("gpu", 500, f"<html>{KEY}</html>".encode(), {}, SCRUBBER).message
    assert KEY not in text and REDACTED in text


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_credential_keeps_nothing_of_the_answer(status):
    error = upstream_error("gpu", status, error_body(message="you sent Bearer whatever"), {}, SCRUBBER)
    assert isinstance(error, UpstreamUnavailable) and error.status == 502
    assert error.code == "upstream_auth_failed" and "whatever" not in error.message
    assert error.message.startswith(f"upstream 'gpu' refused the gateway's credentials (HTTP {status})")


@pytest.mark.parametrize("value, kept", [
    ("1", True), ("0.5", True), ("Wed, 21 Oct 2026 07:28:00 GMT", True),
    (f"Bearer {KEY}", False), ("1; " + "x" * 100, False),
])
def test_retry_after_is_passed_on_only_when_it_is_a_number_or_a_date(value, kept):
    error = upstream_error("gpu", 429, error_body(), {"Retry-After": value}, SCRUBBER)
    assert error.headers.get("Retry-After") == (value if kept else None)


def test_a_long_message_is_cut_before_it_is_scrubbed():
    error = upstream_error("gpu", 400, error_body(message="x" * 100_000 + KEY), {}, SCRUBBER)
    assert len(error.message) < 2100 and KEY not in error.message
