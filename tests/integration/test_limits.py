"""Budgets and rate limits through the request path, in process, on a real SQLite file."""

from __future__ import annotations

import asyncio
import json

import pytest
import re

from server.admin import operations as admin_ops
from server.core.settings import parse_settings
from server.store import budgets as budget_store
from server.store import db as store_db
from tests.conftest import make_key
from tests.integration.test_proxy import events, ledger_rows

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
WORST_HI = 2 + 4 + 16 + 64  # CHAT's prompt at most: "hi", "user", the message, the template


def held(max_tokens: int) -> int:
    """What a budgeted request holds for its output: 4 bytes a token, and a chunk's lookahead."""
    return 4 * max_tokens + 64


@pytest.fixture
def config_extra(fake) -> str:
    return '[models.endless]\nroute = ["fake:endless"]\n'


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def spent(settings) -> list:
    conn = store_db.connect(settings.database.path)
    try:
        return budget_store.status(conn)
    finally:
        conn.close()


async def test_a_token_budget_stops_exactly_and_settles_to_real_usage(client, settings):
    key = make_key(settings.database.path, "budgeted", budget_tokens=400, period="daily")
    used, statuses = 0, []
    for _ in range(40):
        r = await client.post("/v1/chat/completions", json={"model": "ok", "max_tokens": 10, **CHAT},
                              headers=auth(key))
        statuses.append(r.status_code)
        if r.status_code != 200:
            break
        used += r.json()["usage"]["total_tokens"]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200}
    err = r.json()["error"]
    assert err["type"] == "insufficient_quota" and err["code"] == "budget_exceeded"
    assert "budgeted" in err["message"] and "resets" in err["message"]
    (status,) = spent(settings)
    assert status.spent_tokens == used <= 400
    assert status.reserved_tokens == 0  # nothing held once every request settled
    # What one more request holds no longer fits: its prompt's bound (2 + 4 bytes, 16 for the
    # message, 64 for the template) and its output's hold.
    assert used + WORST_HI + held(10) > 400


def suggested_max_tokens(message: str) -> int:
    found = re.search(r"set max_tokens <= (\d+)\.", message)
    assert found, message
    return int(found.group(1))


async def test_a_worst_case_over_the_whole_token_budget_says_so_and_no_wait_helps(client, settings):
    key = make_key(settings.database.path, "small", budget_tokens=200, period="monthly")
    # No max_tokens: the prompt's bound (86) and the hold for the default of 50 never fit 200.
    r = await client.post("/v1/chat/completions", json={"model": "ok", **CHAT}, headers=auth(key))
    assert r.status_code == 400 and "retry-after" not in r.headers
    err = r.json()["error"]
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", "request_exceeds_budget",
                                                         "max_tokens")
    assert "exceeds the whole limit of 200 tokens" in err["message"] and "key 'small'" in err["message"]
    assert "waiting will not help" in err["message"]
    room = suggested_max_tokens(err["message"])
    over = await client.post("/v1/chat/completions", json={"model": "ok", "max_tokens": room + 1, **CHAT},
                             headers=auth(key))
    assert over.status_code == 400 and over.json()["error"]["code"] == "request_exceeds_budget"
    fits = await client.post("/v1/chat/completions", json={"model": "ok", "max_tokens": room, **CHAT},
                             headers=auth(key))
    assert fits.status_code == 200  # the advice is exact
    (status,) = spent(settings)
    assert status.reserved_tokens == 0 and status.spent_tokens == fits.json()["usage"]["total_tokens"]


async def test_a_worst_case_over_the_whole_usd_budget_names_the_max_tokens_that_fit(client, settings):
    # $1 / $2 per million tokens in / out: the hold for 50 default output tokens alone costs
    # $0.0005; the advice (10) holds 86 + 4 * 10 + 64 tokens, room for the fake's 30 bytes.
    key = make_key(settings.database.path, "cents", budget_usd=0.0003, period="daily")
    r = await client.post("/v1/chat/completions", json={"model": "ok", **CHAT}, headers=auth(key))
    assert r.status_code == 400 and "retry-after" not in r.headers
    err = r.json()["error"]
    assert err["code"] == "request_exceeds_budget" and "$0.0003" in err["message"]
    room = suggested_max_tokens(err["message"])
    fits = await client.post("/v1/chat/completions", json={"model": "ok", "max_tokens": room, **CHAT},
                             headers=auth(key))
    assert fits.status_code == 200


async def test_a_refusal_that_fits_later_keeps_retry_after(client, settings):
    key = make_key(settings.database.path, "later", budget_tokens=300, period="monthly")
    body = {"model": "ok", "max_tokens": 20, **CHAT}  # holds 86 + 144 of 300, 13 tokens used each
    for _ in range(20):
        r = await client.post("/v1/chat/completions", json=body, headers=auth(key))
        if r.status_code != 200:
            break
    assert r.status_code == 429
    err = r.json()["error"]
    assert (err["type"], err["code"]) == ("insufficient_quota", "budget_exceeded")
    assert int(r.headers["retry-after"]) > 1  # the time until the period resets
    assert "resets" in err["message"]


async def test_the_gateway_caps_output_for_budgeted_keys(client, settings, fake):
    key = make_key(settings.database.path, "capped", budget_usd=5.0)
    r = await client.post("/v1/chat/completions", json={"model": "echo", **CHAT}, headers=auth(key))
    assert r.status_code == 200
    assert fake.requests[-1].body["max_tokens"] == 50  # [budgets] default_max_tokens
    plain = await client.post("/v1/chat/completions", json={"model": "echo", **CHAT})
    assert plain.status_code == 200 and "max_tokens" not in fake.requests[-1].body


async def test_a_stream_is_cut_when_its_budget_cannot_hold_its_output(client, settings):
    # The fake ignores max_tokens (4) and streams 64 bytes a chunk. The request holds 86 +
    # 4 * 4 + 64 = 166 tokens; the budget has 6 more: the first chunk fits, a second would not.
    budget = WORST_HI + held(4) + 6
    key = make_key(settings.database.path, "streamer", budget_tokens=budget, period="daily")
    r = await client.post("/v1/chat/completions", headers=auth(key),
                          json={"model": "endless", "stream": True, "max_tokens": 4, **CHAT})
    data = events(r.text)
    assert "[DONE]" not in data
    assert json.loads(data[-1])["error"]["code"] == "budget_exceeded"
    texts = [json.loads(d)["choices"][0]["delta"].get("content") or "" for d in data[:-1]]
    assert "".join(texts) == "a" * 64  # cut before the second chunk, not after it
    (row,) = await ledger_rows(client, settings, 1)
    assert row.status == 429 and row.output_tokens == 64 and row.usage_estimated
    (status,) = spent(settings)
    assert status.spent_tokens == WORST_HI + 64 <= budget and status.reserved_tokens == 0


async def test_a_team_budget_is_shared_by_its_keys(client, settings):
    conn = store_db.connect(settings.database.path)
    admin_ops.create_team(conn, parse_settings(""), admin_ops.TeamSpec("ml", budget_tokens=190))
    conn.close()
    a = make_key(settings.database.path, "a", team="ml")
    b = make_key(settings.database.path, "b", team="ml")
    body = {"model": "ok", "max_tokens": 6, **CHAT}  # holds 86 + 88 = 174, real use 13
    assert (await client.post("/v1/chat/completions", json=body, headers=auth(a))).status_code == 200
    assert (await client.post("/v1/chat/completions", json=body, headers=auth(b))).status_code == 200
    third = await client.post("/v1/chat/completions", json=body, headers=auth(a))
    assert third.status_code == 429 and "team 'ml'" in third.json()["error"]["message"]
    await client.get("/admin/spend")  # unrelated admin call does not disturb anything
    rows = await ledger_rows(client, settings, 3)
    assert {r.team_id for r in rows} == {rows[0].team_id} and rows[0].team_id is not None


async def test_soft_alerts_are_recorded_and_posted(client, settings, fake):
    key = make_key(settings.database.path, "alerting")
    conn = store_db.connect(settings.database.path)
    admin_ops.set_budget(conn, parse_settings(""), admin_ops.BudgetSpec("key", "alerting", tokens=300,
                                                                        soft_pct=0.1))
    body = {"model": "ok", "max_tokens": 6, **CHAT}  # 13 tokens each: the third crosses 30
    for i in range(3):
        r = await client.post("/v1/chat/completions", json=body, headers=auth(key))
        assert r.status_code == 200
        assert [e.kind for e in budget_store.events(conn)] == ([] if i < 2 else ["budget_soft"])
    conn.close()
    for _ in range(100):
        if fake.hooks:
            break
        await asyncio.sleep(0.02)
    assert fake.hooks and fake.hooks[0]["events"][0]["kind"] == "budget_soft"
    assert fake.hooks[0]["events"][0]["owner"] == "alerting"


async def test_requests_per_minute_with_headers(client, settings):
    key = make_key(settings.database.path, "rpm", rpm=2)
    first = await client.post("/v1/chat/completions", json={"model": "ok", **CHAT}, headers=auth(key))
    second = await client.post("/v1/chat/completions", json={"model": "ok", **CHAT}, headers=auth(key))
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert second.headers["x-ratelimit-remaining-requests"] == "0"
    third = await client.post("/v1/chat/completions", json={"model": "ok", **CHAT}, headers=auth(key))
    assert third.status_code == 429
    err = third.json()["error"]
    assert err["code"] == "rate_limit_exceeded" and err["type"] == "requests"
    assert int(third.headers["retry-after"]) >= 1
    assert third.headers["x-ratelimit-remaining-requests"] == "0"
    other = await client.post("/v1/chat/completions", json={"model": "ok", **CHAT})
    assert other.status_code == 200  # another key is not affected


async def test_tokens_per_minute(client, settings):
    key = make_key(settings.database.path, "tpm", tpm=200)
    body = {"model": "ok", "max_tokens": 20, **CHAT}  # worst case 86 + 20 = 106, real use 13
    first = await client.post("/v1/chat/completions", json=body, headers=auth(key))
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-tokens"] == "200"
    # Settled to 13, so another worst case of 106 fits (13 + 106 <= 200).
    assert (await client.post("/v1/chat/completions", json=body, headers=auth(key))).status_code == 200
    too_big = await client.post("/v1/chat/completions", json={**body, "max_tokens": 500}, headers=auth(key))
    assert too_big.status_code == 429 and "lower max_tokens" in too_big.json()["error"]["message"]
