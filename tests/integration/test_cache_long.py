"""A question longer than [cache] semantic_max_tokens skips the semantic cache, not the exact one."""

from __future__ import annotations

import pytest

from server.store import db as store_db
from tests.integration.test_cache import ask, settle_writes
from tests.integration.test_telemetry import wait_trace

LONG = ("My laptop shows a blue screen every morning right after I log in, and then it restarts "
        "twice before the desktop finally appears; how do I fix it?")
LONG_PARAPHRASE = LONG.replace("how do I fix it?", "how can I fix this?")


@pytest.fixture
def config_cache() -> str:
    return "semantic_max_tokens = 16"


async def test_long_questions_use_only_the_exact_cache(client, settings):
    first = await client.post("/v1/chat/completions", json=ask(LONG))
    assert first.headers["x-gate-cache"] == "MISS"
    await settle_writes(client)
    again = await client.post("/v1/chat/completions", json=ask(LONG))
    assert again.headers["x-gate-cache"] == "HIT"
    para = await client.post("/v1/chat/completions", json=ask(LONG_PARAPHRASE))
    assert para.headers["x-gate-cache"] == "MISS"  # a semantic hit under the default limit (below)
    root = (await wait_trace(client, para.headers["x-gate-request-id"]))["spans"][0]["attributes"]
    assert root["gate.cache"] == "MISS"
    assert root["gate.cache.note"] == "semantic lookup skipped: question over 16 tokens"
    await settle_writes(client)
    conn = store_db.connect(settings.database.path, migrate=False)
    try:  # both answers kept for exact repeats, neither embedded
        assert conn.execute("SELECT count(*), count(embedding) FROM cache_entries").fetchone() == (2, 0)
    finally:
        conn.close()
    short = await client.post("/v1/chat/completions", json=ask("How do I reset my password?"))
    await settle_writes(client)
    para_short = await client.post("/v1/chat/completions", json=ask("I forgot my password, how can I reset it?"))
    assert (short.headers["x-gate-cache"], para_short.headers["x-gate-cache"]) == ("MISS", "SEMANTIC_HIT")
    root = (await wait_trace(client, short.headers["x-gate-request-id"]))["spans"][0]["attributes"]
    assert root["gate.cache"] == "MISS" and "gate.cache.note" not in root  # it was looked up


async def test_a_bypass_says_why_on_the_trace(client):
    hot = await client.post("/v1/chat/completions", json=ask("How do I reset my password?", temperature=1.5))
    assert hot.headers["x-gate-cache"] == "BYPASS"
    root = (await wait_trace(client, hot.headers["x-gate-request-id"]))["spans"][0]["attributes"]
    assert root["gate.cache"] == "BYPASS" and "temperature" in root["gate.cache.note"]


@pytest.mark.parametrize("config_cache", ["semantic_max_tokens = 64"])  # the default
async def test_under_the_default_limit_the_same_pair_is_a_semantic_hit(client):
    await client.post("/v1/chat/completions", json=ask(LONG))
    await settle_writes(client)
    para = await client.post("/v1/chat/completions", json=ask(LONG_PARAPHRASE))
    assert para.headers["x-gate-cache"] == "SEMANTIC_HIT"
