"""The answer cache through the request path: exact and semantic hits, scopes, policies."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.store import db as store_db
from tests.conftest import make_key
from tests.integration.test_proxy import events, ledger_rows


@pytest.fixture
def config_cache() -> bool:
    return True


@pytest.fixture
def config_extra() -> str:
    return """
[models.nocache]
route = ["fake:ok"]
cache = false
"""


def ask(question: str, model: str = "ok", **extra) -> dict:
    return {"model": model, "messages": [{"role": "system", "content": "You are the help desk."},
                                         {"role": "user", "content": question}], **extra}


async def settle_writes(client) -> None:
    await asyncio.sleep(0.3)  # cache writes happen on the cache's thread


async def test_exact_hit_costs_nothing_and_is_recorded(client, fake, settings):
    first = await client.post("/v1/chat/completions", json=ask("How do I reset my password?"))
    assert first.headers["x-gate-cache"] == "MISS"
    await settle_writes(client)
    second = await client.post("/v1/chat/completions", json=ask("How do I reset my password?"))
    assert second.headers["x-gate-cache"] == "HIT"
    assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
    assert len([r for r in fake.requests if r.path.endswith("/chat/completions")]) == 1
    rows = await ledger_rows(client, settings, 2)
    assert [(r.cache, r.cost, r.provider) for r in rows] == [("MISS", rows[0].cost, "fake"), ("HIT", 0.0, None)]
    assert rows[0].cost > 0


async def test_semantic_hit_for_a_paraphrase_not_for_a_look_alike(client, fake):
    await client.post("/v1/chat/completions", json=ask("How do I reset my password?"))
    await settle_writes(client)
    para = await client.post("/v1/chat/completions", json=ask("I forgot my password, how can I reset it?"))
    assert para.headers["x-gate-cache"] == "SEMANTIC_HIT"
    assert 0.7 < float(para.headers["x-gate-cache-similarity"]) < 1.0
    other = await client.post("/v1/chat/completions", json=ask("How do I delete my account?"))
    assert other.headers["x-gate-cache"] == "MISS"


async def test_streams_hit_and_replay(client):
    await client.post("/v1/chat/completions", json=ask("What are the opening hours?", stream=True))
    await settle_writes(client)
    r = await client.post("/v1/chat/completions",
                          json=ask("What are the opening hours?", stream=True,
                                   stream_options={"include_usage": True}))
    assert r.headers["x-gate-cache"] == "HIT"
    data = events(r.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello from the fake upstream."
    assert chunks[-1]["usage"]["completion_tokens"] == 6
    plain = await client.post("/v1/chat/completions", json=ask("What are the opening hours?"))
    assert plain.headers["x-gate-cache"] == "HIT"  # a streamed answer serves a JSON request too
    assert plain.json()["choices"][0]["message"]["content"] == text


async def test_scopes_keep_tenants_apart(client, settings):
    await client.post("/v1/chat/completions", json=ask("How do I reset my password?"))
    await settle_writes(client)
    other = make_key(settings.database.path, "tenant-b")
    r = await client.post("/v1/chat/completions", json=ask("How do I reset my password?"),
                          headers={"Authorization": f"Bearer {other}"})
    assert r.headers["x-gate-cache"] == "MISS"


async def test_a_different_system_prompt_or_parameters_never_share(client):
    await client.post("/v1/chat/completions", json=ask("How do I reset my password?"))
    await settle_writes(client)
    body = ask("How do I reset my password?")
    body["messages"][0]["content"] = "You are a pirate."
    assert (await client.post("/v1/chat/completions", json=body)).headers["x-gate-cache"] == "MISS"
    tuned = await client.post("/v1/chat/completions", json=ask("How do I reset my password?", max_tokens=5))
    assert tuned.headers["x-gate-cache"] == "MISS"


@pytest.mark.parametrize("extra,headers,status", [
    ({"temperature": 1.2}, {}, "BYPASS"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, {}, "BYPASS"),
    ({"user": "alice"}, {}, "BYPASS"),
    ({}, {"Cache-Control": "no-store"}, "BYPASS"),
    ({}, {"Cache-Control": "no-cache"}, "MISS"),
])
async def test_policies(client, extra, headers, status):
    await client.post("/v1/chat/completions", json=ask("Where is the office?"))
    await settle_writes(client)
    r = await client.post("/v1/chat/completions", json=ask("Where is the office?", **extra), headers=headers)
    assert r.status_code == 200 and r.headers["x-gate-cache"] == status


async def test_no_store_is_not_kept_and_no_cache_refreshes(client, fake):
    await client.post("/v1/chat/completions", json=ask("Printer on floor 3?"), headers={"Cache-Control": "no-store"})
    await settle_writes(client)
    assert (await client.post("/v1/chat/completions", json=ask("Printer on floor 3?"))).headers["x-gate-cache"] == "MISS"


async def test_a_model_can_opt_out(client):
    await client.post("/v1/chat/completions", json=ask("Hi", model="nocache"))
    await settle_writes(client)
    r = await client.post("/v1/chat/completions", json=ask("Hi", model="nocache"))
    assert r.headers["x-gate-cache"] == "BYPASS"


async def test_hits_cost_no_budget(client, settings):
    key = make_key(settings.database.path, "thrifty", budget_tokens=230)  # holds 138 + 84, real 13
    headers = {"Authorization": f"Bearer {key}"}
    body = ask("VPN setup?", max_tokens=5)
    first = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert first.status_code == 200, first.text
    await settle_writes(client)
    for _ in range(5):  # the budget would refuse these, were they not hits
        r = await client.post("/v1/chat/completions", json=body, headers=headers)
        assert r.status_code == 200 and r.headers["x-gate-cache"] == "HIT"


async def test_hits_count_against_the_request_rate(client, settings):
    key = make_key(settings.database.path, "rated", rpm=2)
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.post("/v1/chat/completions", json=ask("x"), headers=headers)).status_code == 200
    await settle_writes(client)
    assert (await client.post("/v1/chat/completions", json=ask("x"), headers=headers)).headers["x-gate-cache"] == "HIT"
    assert (await client.post("/v1/chat/completions", json=ask("x"), headers=headers)).status_code == 429


def tokens_counted(settings, key_name: str) -> int:
    """The tokens a key's rate windows hold (every minute of them)."""
    conn = store_db.connect(settings.database.path)
    try:
        ((total,),) = conn.execute(
            "SELECT coalesce(sum(w.tokens), 0) FROM rate_windows w JOIN keys k ON k.id = w.key_id "
            "WHERE k.name = ?", (key_name,)).fetchall()
        return total
    finally:
        conn.close()


async def test_hits_leave_the_token_rate_alone(client, settings):
    """A hit generates no tokens: it neither counts any against the key's tokens per minute
    nor gives back what other requests counted."""
    key = make_key(settings.database.path, "tokened", tpm=10_000)
    headers = {"Authorization": f"Bearer {key}"}
    body = ask("Where is the printer?", max_tokens=20)
    first = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert first.status_code == 200 and first.headers["x-gate-cache"] == "MISS"
    used = tokens_counted(settings, "tokened")
    assert used == first.json()["usage"]["total_tokens"] > 0  # settled to the real use
    await settle_writes(client)
    for _ in range(2):
        hit = await client.post("/v1/chat/completions", json=body, headers=headers)
        assert hit.status_code == 200 and hit.headers["x-gate-cache"] == "HIT"
    assert tokens_counted(settings, "tokened") == used


async def test_ttl_and_clear(client, settings):
    await client.post("/v1/chat/completions", json=ask("Short lived?"), headers={"x-gate-cache-ttl": "1"})
    await settle_writes(client)
    assert (await client.post("/v1/chat/completions", json=ask("Short lived?"))).headers["x-gate-cache"] == "HIT"
    await asyncio.sleep(1.1)
    assert (await client.post("/v1/chat/completions", json=ask("Short lived?"))).headers["x-gate-cache"] == "MISS"
    await settle_writes(client)
    admin = {"Authorization": "Bearer test-admin-token"}
    stats = (await client.get("/admin/cache", headers=admin)).json()
    assert stats["entries"] >= 1 and stats["ledger_hits"] == 1
    assert (await client.post("/admin/cache/clear", headers=admin)).json()["removed"] >= 1
    conn = store_db.connect(settings.database.path)
    assert conn.execute("SELECT count(*) FROM cache_entries").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM cache_bits").fetchone()[0] == 0
    conn.close()
