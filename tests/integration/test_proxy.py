"""The app in process against a fake upstream on loopback: the request path end to end."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.store import db as store_db
from server.store import ledger as ledger_store
from tests.conftest import make_key

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def events(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


async def ledger_rows(client, settings, n: int, timeout: float = 5.0) -> list:
    """The ledger is written in batches: poll until n rows are there."""
    conn = store_db.connect(settings.database.path)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = ledger_store.fetch_rows(conn, limit=1000)
            if len(rows) >= n or asyncio.get_running_loop().time() > deadline:
                return list(reversed(rows))
            await asyncio.sleep(0.02)
    finally:
        conn.close()


async def test_chat_passes_body_through_and_rewrites_only_the_model(client, fake):
    body = {"model": "echo", **CHAT, "temperature": 0.2, "x_vendor": {"a": [1, 2]}}
    r = await client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    sent = fake.requests[-1].body
    assert sent["model"] == "echo"
    assert sent["x_vendor"] == {"a": [1, 2]} and sent["temperature"] == 0.2
    assert "stream_options" not in sent
    reply = r.json()
    assert reply["upstream_extra"] == {"kept": True}  # unknown fields come back too
    assert r.headers["x-gate-provider"] == "fake"
    assert r.headers["x-gate-request-id"].startswith("req_")


async def test_upstream_gets_no_gateway_key(client, fake):
    await client.post("/v1/chat/completions", json={"model": "ok", **CHAT})
    headers = {k.lower(): v for k, v in fake.requests[-1].headers.items()}
    assert "authorization" not in headers  # the fake provider has no api_key configured


async def test_stream_relays_chunks_and_hides_the_usage_chunk_it_asked_for(client, fake):
    r = await client.post("/v1/chat/completions", json={"model": "ok", "stream": True, **CHAT})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert fake.requests[-1].body["stream_options"] == {"include_usage": True}
    data = events(r.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all("usage" not in c for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello from the fake upstream."


async def test_stream_keeps_usage_when_the_client_asks(client, fake):
    body = {"model": "ok", "stream": True, "stream_options": {"include_usage": True}, **CHAT}
    r = await client.post("/v1/chat/completions", json=body)
    chunks = [json.loads(d) for d in events(r.text)[:-1]]
    assert chunks[-1]["usage"]["completion_tokens"] == 6
    assert chunks[-1]["choices"] == []


async def test_cut_stream_ends_with_an_error_event_and_no_done(client, settings):
    r = await client.post("/v1/chat/completions", json={"model": "cut", "stream": True, **CHAT})
    data = events(r.text)
    assert "[DONE]" not in data
    last = json.loads(data[-1])
    assert last["error"]["code"] == "upstream_unavailable"
    rows = await ledger_rows(client, settings, 1)
    assert rows[-1].status == 502 and rows[-1].output_tokens > 0  # partial usage is kept


async def test_ledger_row_per_request_with_cost(client, settings):
    await client.post("/v1/chat/completions", json={"model": "ok", **CHAT})
    await client.post("/v1/chat/completions", json={"model": "fail500", **CHAT})
    await client.post("/v1/chat/completions", json={"model": "nope", **CHAT})
    rows = await ledger_rows(client, settings, 3)
    assert [r.status for r in rows] == [200, 500, 404]
    ok = rows[0]
    assert (ok.input_tokens, ok.output_tokens) == (7, 6)
    assert ok.cost == pytest.approx((7 * 1.0 + 6 * 2.0) / 1e6)
    assert ok.provider == "fake" and ok.upstream_model == "ok" and ok.alias == "ok"
    assert not ok.usage_estimated
    assert rows[2].alias == "nope" and rows[2].provider is None


async def test_missing_usage_is_counted_locally_and_marked(client, settings):
    await client.post("/v1/chat/completions", json={"model": "nousage", "stream": True, **CHAT})
    await client.post("/v1/chat/completions", json={"model": "nousage", **CHAT})
    rows = await ledger_rows(client, settings, 2)
    for row in rows:
        assert row.usage_estimated
        assert row.output_tokens == (len("Hello from the fake upstream.") + 3) // 4
        assert row.input_tokens > 0


async def test_failover_to_next_target(client, settings):
    r = await client.post("/v1/chat/completions", json={"model": "failover", **CHAT})
    assert r.status_code == 200
    # A refused connection moves on at once; a 500 is retried once (routing.retries = 1).
    assert r.headers["x-gate-attempts"] == "4"
    assert r.headers["x-gate-fallback"] == "true"
    rows = await ledger_rows(client, settings, 1)
    assert rows[-1].attempts == "down:x=502,fake:fail500=500,fake:fail500=500,fake:ok=ok"


async def test_client_errors_are_not_retried_and_keep_their_status(client, fake):
    r = await client.post("/v1/chat/completions", json={"model": "nofailover", **CHAT})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "temperature" and "bad temperature" in err["message"]
    assert len(fake.requests) == 1


@pytest.mark.parametrize("alias,status,code", [
    ("fail500", 500, None), ("busy429", 429, None), ("reset", 502, "upstream_unavailable"),
    ("malformed", 502, "upstream_bad_response"), ("alldown", 502, "upstream_unavailable"),
])
async def test_upstream_failures_become_openai_errors(client, alias, status, code):
    r = await client.post("/v1/chat/completions", json={"model": alias, **CHAT})
    assert r.status_code == status
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    if code:
        assert err["code"] == code
    assert r.headers["x-gate-request-id"]
    if alias == "busy429":
        assert r.headers["retry-after"] == "1"


async def test_completions_and_embeddings(client, fake):
    r = await client.post("/v1/completions", json={"model": "ok", "prompt": "Say hi"})
    assert r.status_code == 200 and r.json()["choices"][0]["text"]
    r = await client.post("/v1/embeddings", json={"model": "ok", "input": ["a b", "c"]})
    assert r.status_code == 200
    assert [d["index"] for d in r.json()["data"]] == [0, 1]
    assert fake.requests[-1].path == "/v1/embeddings"


async def test_models_lists_what_the_key_may_use(client, settings):
    r = await client.get("/v1/models")
    ids = {m["id"] for m in r.json()["data"]}
    assert ids == set(settings.models)
    limited = make_key(settings.database.path, "limited", models=["ok"])
    r = await client.get("/v1/models", headers={"Authorization": f"Bearer {limited}"})
    assert [m["id"] for m in r.json()["data"]] == ["ok"]
    r = await client.get("/v1/models/echo", headers={"Authorization": f"Bearer {limited}"})
    assert r.status_code == 404
    r = await client.post("/v1/chat/completions", json={"model": "echo", **CHAT},
                          headers={"Authorization": f"Bearer {limited}"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"


async def test_a_wrong_method_or_path_gets_the_openai_envelope(client):
    """GET on a POST endpoint is a 405 naming the method to use, not an unknown path."""
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings/"):
        r = await client.get(path)
        assert r.status_code == 405, (path, r.text)
        assert r.headers["allow"] == "POST"
        assert r.json() == {"error": {"message": f"Method GET is not allowed on {path}; use POST.",
                                      "type": "invalid_request_error", "param": None,
                                      "code": "method_not_allowed"}}
    r = await client.post("/v1/models", json={})  # a GET endpoint served by Litestar
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert r.json()["error"]["message"] == "Method POST is not allowed on /v1/models"
    r = await client.get("/v1/nowhere")
    assert r.status_code == 404
    assert r.json()["error"] == {"message": "Unknown path GET /v1/nowhere", "type": "invalid_request_error",
                                 "param": None, "code": "not_found"}


async def test_health(client):
    assert (await client.get("/health/live")).status_code == 200
    r = await client.get("/health/ready")
    assert r.status_code == 200 and r.json()["checks"]["database"] == "ok"
