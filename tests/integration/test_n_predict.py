"""llama.cpp server's own output limit, `n_predict`, counts like `max_tokens`.

Found by the red team: llama.cpp's server reads `n_predict` before `max_tokens` (its OpenAI
endpoint takes `n_predict` when both are set, and -1 means "until the context is full"),
and the gateway passed the field through unread. `{"max_tokens": 5, "n_predict": -1}` was
held and settled as a 5-token answer while the upstream generated (and, on a token budget,
spent) as much as it liked. Now `n_predict` is validated as an output limit (a negative or
zero one is a 400) and the worst case takes the largest of the limits an upstream may honour.
"""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from tests.conftest import make_key
from tests.fake_upstream import FakeUpstream

HI = [{"role": "user", "content": "hi"}]


class LlamaServer(FakeUpstream):
    """`llama`: answers as llama.cpp's server does: `n_predict` wins over `max_tokens`, and a
    negative one generates until its context (2,048 tokens here) is full."""

    async def _failure(self, request: web.Request, model: str | None):
        if model != "llama":
            return await super()._failure(request, model)
        body = await request.json()
        self.counts["llama"] = self.counts.get("llama", 0) + 1
        limit = body.get("n_predict", body.get("max_tokens", 16))
        tokens = 2048 if not isinstance(limit, int) or limit < 0 else min(limit, 2048)  # its context
        self.billed.append({"completion_tokens": tokens})
        usage = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}
        if body.get("stream"):  # the gateway streams budgeted requests upstream to cap them
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for i in range(tokens + 1):
                delta, finish = ({"content": " a"}, None) if i < tokens else ({}, "length")
                await resp.write(b"data: " + json.dumps({"id": "l", "model": "llama", "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish}]}).encode() + b"\n\n")
            await resp.write(b"data: " + json.dumps({"id": "l", "choices": [], "usage": usage}).encode()
                             + b"\n\ndata: [DONE]\n\n")
            return resp
        return web.json_response({
            "id": "l", "object": "chat.completion", "model": "llama",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": " a" * tokens},
                         "finish_reason": "length"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}})


@pytest.fixture
def fake():
    upstream = LlamaServer().start_in_thread()
    yield upstream
    upstream.stop_thread()


@pytest.fixture
def config_extra(fake) -> str:
    return '\n[models.llama]\nroute = ["fake:llama"]\n'


@pytest.mark.parametrize("value", [-1, 0, -100, 2**31, 1.5, "5"])
async def test_an_absurd_n_predict_is_refused_before_the_upstream(client, fake, value):
    r = await client.post("/v1/chat/completions", json={"model": "llama", "messages": HI, "max_tokens": 5,
                                                       "n_predict": value})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "n_predict"
    assert fake.counts.get("llama", 0) == 0


async def test_n_predict_counts_in_the_worst_case_of_a_budgeted_key(client, settings, fake):
    key = make_key(settings.database.path, "tight", budget_tokens=1000)
    headers = {"Authorization": f"Bearer {key}"}
    r = await client.post("/v1/chat/completions", headers=headers,
                          json={"model": "llama", "messages": HI, "max_tokens": 5, "n_predict": 3000})
    assert r.status_code == 400 and r.json()["error"]["code"] == "request_exceeds_budget", r.text
    assert fake.counts.get("llama", 0) == 0
    ok = await client.post("/v1/chat/completions", headers=headers,
                           json={"model": "llama", "messages": HI, "max_tokens": 5, "n_predict": 20})
    assert ok.status_code == 200, ok.text
    assert sum(b["completion_tokens"] for b in fake.billed) == 20


async def test_n_predict_alone_is_also_sent_as_max_tokens(client, settings, fake):
    """An upstream that does not read n_predict (vLLM, OpenAI) stops at the same limit."""
    key = make_key(settings.database.path, "alone", budget_tokens=1000)
    r = await client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "llama", "messages": HI, "n_predict": 7})
    assert r.status_code == 200, r.text
    (sent,) = [seen.body for seen in fake.requests]
    assert sent["n_predict"] == 7 and sent["max_tokens"] == 7
