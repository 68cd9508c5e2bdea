"""Budgets against hostile request shapes and upstreams, in process, on a real SQLite file,
with the fake upstream as a real HTTP server (see its maxbill, endless and liar)."""

from __future__ import annotations

import json

import pytest

from server.store import budgets as budget_store
from server.store import db as store_db
from tests.conftest import make_key
from tests.integration.test_proxy import events, ledger_rows

# A dear provider: $100 per million tokens in and out, so a few hundred tokens are cents.
DEAR = """
[providers.dear]
kind = "openai"
url = "{url}"
price_in = 100.0
price_out = 100.0

[models.maxbill]
route = ["dear:maxbill"]
[models.endless]
route = ["dear:endless"]
[models.liar]
route = ["dear:liar"]
"""
PRICE = 100 / 1_000_000
HI = [{"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {
    "name": f"tool_{i}", "description": "Looks a thing up in the company's records, carefully.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                   "required": ["query"]}}} for i in range(20)]


@pytest.fixture
def config_extra(fake) -> str:
    return DEAR.format(url=fake.url)


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def books(settings) -> budget_store.BudgetStatus:
    conn = store_db.connect(settings.database.path)
    try:
        (status,) = budget_store.status(conn)
        return status
    finally:
        conn.close()


async def spend_until_refused(client, key: str, body: dict, path: str = "/v1/chat/completions",
                              most: int = 60) -> list[int]:
    statuses = []
    for _ in range(most):
        r = await client.post(path, json=body, headers=auth(key))
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "budget_exceeded"
            break
        assert r.status_code == 200, r.text
    return statuses


@pytest.mark.parametrize("usd,path,body", [
    (5.0, "/v1/chat/completions", {"model": "maxbill", "max_tokens": 5, "messages": HI, "tools": TOOLS,
                                   "tool_choice": "auto"}),
    (2.0, "/v1/completions", {"model": "maxbill", "max_tokens": 5, "prompt": ["hi", list(range(3000))]}),
    (0.2, "/v1/completions", {"model": "maxbill", "max_tokens": 5, "prompt": ["a", "b", "c"], "best_of": 3}),
    (0.2, "/v1/chat/completions", {"model": "maxbill", "max_completion_tokens": 4, "max_tokens": 9, "n": 3,
                                   "messages": HI, "stream": True, "stream_options": {"include_usage": True}}),
], ids=["tools", "token-ids", "best-of-batch", "n-both-limits-stream"])
async def test_what_an_upstream_may_bill_is_held_and_settled_to_the_cent(client, settings, fake, usd, path, body):
    """The fake bills the most it may; the key never spends more than its budget, and spends
    exactly what the upstream billed."""
    key = make_key(settings.database.path, "shapes", budget_usd=usd)
    statuses = await spend_until_refused(client, key, body, path)
    assert statuses[-1] == 429 and statuses.count(200) >= 1
    status = books(settings)
    billed = sum(u["total_tokens"] for u in fake.billed) * PRICE
    rows = await ledger_rows(client, settings, len(statuses))
    ledger = sum(r.cost for r in rows if r.alias == "maxbill")
    assert status.spent_usd <= usd and status.reserved_usd == 0
    assert status.spent_usd == pytest.approx(billed, abs=1e-9) == pytest.approx(ledger, abs=1e-9)


@pytest.mark.parametrize("stream", [True, False])
async def test_an_upstream_ignoring_max_tokens_is_cut_before_the_budget(client, settings, fake, stream):
    key = make_key(settings.database.path, "ignored", budget_usd=0.05)
    # It holds 86 + 4 * 80 + 64 tokens ($0.047) of its $0.05: room for 30 more, not for 1,280.
    body = {"model": "endless", "max_tokens": 80, "messages": HI, "stream": stream}
    r = await client.post("/v1/chat/completions", json=body, headers=auth(key))
    if stream:  # the client got what the budget could hold, then the error event
        data = events(r.text)
        assert "[DONE]" not in data and json.loads(data[-1])["error"]["code"] == "budget_exceeded"
        got = sum(len(json.loads(d)["choices"][0]["delta"].get("content") or "") for d in data[:-1])
    else:
        assert r.status_code == 429 and r.json()["error"]["code"] == "budget_exceeded"
        got = 0
    status = books(settings)
    (row,) = [r for r in await ledger_rows(client, settings, 1) if r.alias == "endless"]
    assert row.status == 429
    # No more text came back than the budget's room could pay for, at a token a byte.
    assert (row.input_tokens + got) * PRICE <= 0.05 + 1e-12
    assert status.spent_usd <= 0.05 and status.reserved_usd == 0
    # The ledger keeps the bounds of what the upstream may have billed: within the budget too,
    # since the answer was cut while the hold still had room for a chunk.
    assert row.usage_estimated and row.cost <= 0.05


async def test_a_stream_refused_by_an_output_guardrail_is_still_charged_its_bill(client, settings, fake):
    """The answer is off its schema: the gateway ends the stream with an error, after the
    upstream finished it; the usage event that follows is still read and charged."""
    key = make_key(settings.database.path, "schema", budget_usd=1.0)
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    r = await client.post("/v1/chat/completions", headers=auth(key), json={
        "model": "maxbill", "max_tokens": 8, "messages": HI, "stream": True, "response_format": schema})
    assert json.loads(events(r.text)[-1])["error"]["code"] == "response_schema_mismatch"
    (row,) = await ledger_rows(client, settings, 1)
    (bill,) = fake.billed
    assert not row.usage_estimated and row.input_tokens + row.output_tokens == bill["total_tokens"]
    assert books(settings).spent_usd == pytest.approx(bill["total_tokens"] * PRICE, abs=1e-12)


async def test_an_answer_far_past_its_limit_is_the_upstreams_fault(client, settings, fake):
    key = make_key(settings.database.path, "roomy", budget_usd=1000.0)
    r = await client.post("/v1/chat/completions", headers=auth(key),
                          json={"model": "endless", "max_tokens": 10, "messages": HI, "stream": True})
    data = events(r.text)
    error = json.loads(data[-1])["error"]
    assert error["code"] == "upstream_bad_response" and "max_tokens" in error["message"]
    got = sum(len(json.loads(d)["choices"][0]["delta"].get("content") or "") for d in data[:-1])
    assert got <= 16 * 10  # cut at 16 bytes a token of its limit, though the budget had room
    assert books(settings).reserved_usd == 0


async def test_a_lying_usage_is_recorded_but_charges_only_what_was_held(client, settings, fake, caplog):
    key = make_key(settings.database.path, "lied-to", budget_usd=0.05)
    r = await client.post("/v1/chat/completions", headers=auth(key),
                          json={"model": "liar", "max_tokens": 10, "messages": HI})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 1_000_000
    (row,) = [r for r in await ledger_rows(client, settings, 1) if r.alias == "liar"]
    assert row.output_tokens == 1_000_000  # the ledger keeps the upstream's word
    status = books(settings)
    assert 0 < status.spent_usd <= 0.05 and status.reserved_usd == 0
    assert "more than the" in caplog.text


@pytest.mark.parametrize("field,value", [
    ("max_tokens", -1), ("max_tokens", 0), ("max_tokens", 1.5), ("max_tokens", "10"),
    ("max_tokens", 2**31), ("max_tokens", 10**30), ("max_completion_tokens", -5),
    ("n", 0), ("n", 129), ("n", -1), ("best_of", 21),
])
async def test_bad_limits_are_refused_in_openais_format(client, settings, field, value):
    key = make_key(settings.database.path, "limits", tpm=1000)
    r = await client.post("/v1/chat/completions", headers=auth(key),
                          json={"model": "ok", "messages": HI, field: value})
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    # (a number past the parser's own limit is refused before the field is read)
    assert error["param"] == field or (error["code"] == "json_limit" and value == 10**30)
    # Nothing was counted: the key's whole minute is still there.
    ok = await client.post("/v1/chat/completions", headers=auth(key),
                           json={"model": "ok", "messages": HI, "max_tokens": 5})
    assert ok.status_code == 200 and int(ok.headers["x-ratelimit-remaining-tokens"]) <= 1000


async def test_a_file_part_is_refused_for_a_budgeted_key_only(client, settings):
    key = make_key(settings.database.path, "filer", budget_usd=1.0)
    body = {"model": "echo", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "summarize"}, {"type": "file", "file": {"file_id": "file-abc"}}]}]}
    r = await client.post("/v1/chat/completions", json=body, headers=auth(key))
    assert r.status_code == 400 and r.json()["error"]["code"] == "unbounded_content"
    assert r.json()["error"]["param"] == "messages[0].content[1]"
    assert (await client.post("/v1/chat/completions", json=body)).status_code == 200  # no budget


async def test_a_collected_json_answer_counts_its_text_once(client, settings, fake):
    # A budgeted JSON answer is fetched as a stream (collect) and assembled; with no usage
    # from the upstream its output is counted from its text, which must be there once, as
    # for the same answer to a key without a budget (it was counted twice: delta by delta,
    # then again from the assembled body).
    plain = make_key(settings.database.path, name="plain")
    budgeted = make_key(settings.database.path, name="budgeted", budget_tokens=100_000, period="daily")
    body = {"model": "nousage", "messages": HI, "max_tokens": 50}
    for key in (plain, budgeted):
        r = await client.post("/v1/chat/completions", json=body, headers=auth(key))
        assert r.status_code == 200, r.text
    rows = await ledger_rows(client, settings, 2)
    counted = {r.key_id: r.output_tokens for r in rows if r.alias == "nousage"}
    assert len(counted) == 2 and len(set(counted.values())) == 1, counted
