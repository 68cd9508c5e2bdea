"""Hostile input through the app in process (real SQLite file, fake upstream on 127.0.0.1):
every refusal is a 4xx in the OpenAI error envelope, never a 500."""

from __future__ import annotations

import pytest

from server.pipeline.authenticate import bearer

ADMIN = {"Authorization": "Bearer test-admin-token"}
CHAT = b'{"model":"ok","messages":[{"role":"user","content":"hi"}]'


@pytest.fixture
def config_cache() -> str:
    # The exact cache decodes every field of the body (the 1e400 and 5,000-digit 500s).
    return "semantic = false"


def assert_error(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


# -- Authorization: Bearer parses one way -----------------------------------------------

@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc-123", "abc-123"),
    ("bearer abc-123", "abc-123"),          # the scheme is case-insensitive (RFC 7235)
    ("BEARER abc-123", "abc-123"),
    ("Bearer  abc-123", None),              # two spaces
    ("Bearer abc-123 ", None),              # trailing whitespace
    (" Bearer abc-123", None),
    ("Bearer\tabc-123", None),
    ("Bearer abc 123", None),
    ("Bearer ", None),
    ("Bearer", None),
    ("Bearerabc-123", None),
    ("Basic abc-123", None),
    ("Bearer abc\x00123", None),
    ("Bearer abc\u00ff123", None),
    ("Bearer abc-123\n", None),
])
def test_bearer_header_parses_one_way(header, token):
    assert bearer(header) == token


@pytest.mark.parametrize("form", ["Bearer  {}", "Bearer {} ", " Bearer {}", "Bearer\t{}"])
async def test_a_loosely_written_bearer_header_is_refused_everywhere(client, form):
    key = client.headers["Authorization"].removeprefix("Bearer ")
    auth = {"Authorization": form.format(key)}
    body = CHAT + b"}"
    assert_error(await client.post("/v1/chat/completions", content=body, headers=auth), 401)
    assert_error(await client.get("/v1/models", headers=auth), 401)
    assert_error(await client.get("/admin/keys", headers={"Authorization": form.format("test-admin-token")}),
                 401, "invalid_admin_token")
    ok = await client.post("/v1/chat/completions", content=body, headers={"Authorization": f"bearer {key}"})
    assert ok.status_code == 200, ok.text


# -- JSON depth and numbers ------------------------------------------------------------------

def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("extra", [
    b',"metadata":' + nested(10_000),          # msgspec: RecursionError
    b',"x":' + nested(65),
    b',"x":' + b'{"a":[' * 33 + b"]}" * 33,    # 66 levels, objects and arrays
    b',"x":1e400',                              # the cache policy's decode of every field
    b',"x":-1E+400',
    b',"x":1' + b"0" * 5000,                    # beyond Python's int-from-string limit
    b',"x":9223372036854775808',                # beyond int64
    b',"seed":1' + b"0" * 30,
    b',"x":-9223372036854775809',
    b',"x":1.5e301',                            # an exponent above 300
    b',"x":0.' + b"0" * 400 + b"1",             # a run of more than 300 digits
    b',"messages_extra":[{"content":[{"type":"text","text":"hi","n":1e999}]}]',
], ids=["deep10000", "deep65", "deep66-objects", "1e400", "-1e400", "5000-digits", "int64+1", "seed1e30",
        "int64-1", "1.5e301", "400-digit-run", "nested-1e999"])
async def test_hostile_json_is_a_400(client, extra):
    r = await client.post("/v1/chat/completions", content=CHAT + extra + b"}")
    assert_error(r, 400)


@pytest.mark.parametrize("extra", [
    b',"x":' + nested(62),                    # 64 levels with the body and the x array
    b',"x":-9223372036854775808,"y":9223372036854775807,"z":1.5e300,"w":1e-400,"v":12345678901234567890.5',
    b',"x":"1e400 and 99999999999999999999999 and ' + b"[" * 100 + b'"',   # text, not numbers
    b',"x\\\"[[[":"\\\"' + b"[" * 100 + b'"',                       # escaped quotes in a key and a value
    b',"x":1.00000000000000000000000001',
])
async def test_json_within_the_limits_passes(client, fake, extra):
    r = await client.post("/v1/chat/completions", content=CHAT + extra + b"}")
    assert r.status_code == 200, r.text


# -- admin query values and bodies -----------------------------------------------------------

HOSTILE_NUMBERS = ["inf", "nan", "1e400", "-inf", "abc", "1_0", "0x10", " 5", ""]


@pytest.mark.parametrize("path", ["/admin/requests?limit=", "/admin/traces?limit=", "/admin/events?limit=",
                                  "/admin/cache/entries?limit=", "/admin/stats?window="])
@pytest.mark.parametrize("value", [*HOSTILE_NUMBERS, "99999999999999999999999", "2.5"])
async def test_admin_counts_must_be_whole_numbers_in_range(client, path, value):
    assert_error(await client.get(path + value, headers=ADMIN), 400)


@pytest.mark.parametrize("path", ["/admin/traces?after=", "/admin/spend?since="])
@pytest.mark.parametrize("value", HOSTILE_NUMBERS)
async def test_admin_times_must_be_finite_numbers(client, path, value):
    assert_error(await client.get(path + value, headers=ADMIN), 400)
    assert (await client.get(path + "1700000000.5", headers=ADMIN)).status_code == 200


@pytest.mark.parametrize("path", ["/admin/requests?limit=", "/admin/traces?limit=", "/admin/events?limit=",
                                  "/admin/cache/entries?limit="])
async def test_admin_limits_out_of_range_are_refused_and_in_range_served(client, path):
    assert_error(await client.get(path + "0", headers=ADMIN), 400)
    assert_error(await client.get(path + "1001", headers=ADMIN), 400)
    r = await client.get(path + "1000", headers=ADMIN)
    assert r.status_code == 200 and isinstance(r.json(), list), r.text


BIG = 10**20


@pytest.mark.parametrize(("path", "body"), [
    ("/admin/keys", {"name": "k1", "rpm": BIG}),
    ("/admin/keys", {"name": "k2", "tpm": BIG}),
    ("/admin/keys", {"name": "k3", "budget_tokens": BIG}),
    ("/admin/keys", {"name": "k4", "budget_usd": 1e300}),
    ("/admin/keys", {"name": "k5", "expires_at": 1e300}),
    ("/admin/keys", {"name": "k6", "rpm": 0}),
    ("/admin/teams", {"name": "t1", "budget_tokens": BIG}),
    ("/admin/budgets", {"scope": "key", "owner": "app", "tokens": BIG}),
    ("/admin/budgets", {"scope": "key", "owner": "app", "usd": 1e300}),
    ("/admin/keys/app/limits", {"rpm": BIG}),
    ("/admin/keys/app/limits", {"tpm": BIG}),
])
async def test_admin_creates_with_numbers_out_of_range_are_400(client, path, body):
    assert_error(await client.post(path, json=body, headers=ADMIN), 400)


async def test_admin_body_nested_too_deep_is_400(client):
    body = b'{"name":"k","models":' + nested(10_000) + b"}"
    assert_error(await client.post("/admin/keys", content=body, headers=ADMIN), 400)
