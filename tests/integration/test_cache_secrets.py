"""The cache never keeps an answer that holds one of the gateway's own upstream credentials.

Found by the red team: an upstream that puts the Authorization header it got into its answer
(a debugging echo server, a compromised proxy) had that answer, the provider's API key in
it, written in clear to `cache_entries` and served by /admin/cache/entries: the cache's
screen knows credential formats (sk-..., AKIA..., JWTs), not the site's own secrets, which
need not look like any format. The screen now also looks for every configured secret.
(The answer itself still reaches the client as the upstream sent it: scrubbing successful
answers, streams included, is not done.)
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from aiohttp import web

from tests.fake_upstream import FakeUpstream

KEY = "Zq7" + secrets.token_hex(16)  # no known credential format: only the configuration knows it
ADMIN = {"Authorization": "Bearer test-admin-token"}
CHAT = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}


class Telling(FakeUpstream):
    """`tell`: a normal answer that says which Authorization header it got."""

    async def _failure(self, request: web.Request, model: str | None):
        if model == "tell":
            self.counts["tell"] = self.counts.get("tell", 0) + 1
            said = f"Paris. (You sent {request.headers.get('Authorization', '')}.)"
            return web.json_response({
                "id": "t", "object": "chat.completion", "model": "tell",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": said}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}})
        return await super()._failure(request, model)


@pytest.fixture
def fake():
    upstream = Telling().start_in_thread()
    yield upstream
    upstream.stop_thread()


@pytest.fixture
def config_cache() -> bool:
    return True


@pytest.fixture
def config_extra(fake, monkeypatch) -> str:
    monkeypatch.setenv("TELLING_KEY", KEY)
    return f"""
[providers.keyed]
kind = "openai"
url = "{fake.url}"
api_key = "env:TELLING_KEY"

[models.tell]
route = ["keyed:tell"]
[models.plain]
route = ["fake:ok"]
"""


async def plain_hit(client) -> None:
    """Poll until the plain answer is served from the cache: the cache's writer, which keeps
    entries in order on its own thread, has then passed every answer sent before it."""
    for _ in range(100):
        r = await client.post("/v1/chat/completions", json={"model": "plain", **CHAT})
        if r.headers["x-gate-cache"] == "HIT":
            return
        await asyncio.sleep(0.05)
    pytest.fail("the plain answer was never served from the cache")


async def test_an_answer_holding_a_configured_secret_is_not_kept(client, settings, fake):
    first = await client.post("/v1/chat/completions", json={"model": "tell", **CHAT})
    assert first.status_code == 200 and first.headers["x-gate-cache"] == "MISS"
    assert KEY in first.text  # what the upstream said reaches the client (see the module's docstring)
    await plain_hit(client)
    second = await client.post("/v1/chat/completions", json={"model": "tell", **CHAT})
    assert second.status_code == 200 and second.headers["x-gate-cache"] == "MISS"
    assert fake.counts["tell"] == 2  # both went upstream: nothing was kept
    entries = await client.get("/admin/cache/entries", headers=ADMIN)
    assert entries.status_code == 200 and KEY not in entries.text
    db = Path(settings.database.path)
    for f in (db, db.with_name(db.name + "-wal")):
        if f.exists():
            assert KEY.encode() not in f.read_bytes(), f.name


async def test_an_answer_without_one_is_still_kept(client):
    assert (await client.post("/v1/chat/completions", json={"model": "plain", **CHAT})).headers["x-gate-cache"] == "MISS"
    await plain_hit(client)
