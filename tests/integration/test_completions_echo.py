"""`/v1/completions` with `echo: true` for a budgeted key: the echoed prompt is not a runaway.

Found by the red team: with `echo`, an upstream (OpenAI's legacy completions, vLLM) puts the
prompt back in front of the answer's text. The gateway's own output cap counts the answer's
bytes against `max_tokens`, so for a key with a budget every echo request whose prompt was
longer than four bytes per output token came back as a 502 "ignored the output limit"
(streams: that error event), though the upstream kept to `max_tokens`. With `echo` the
prompt's bound now counts in the output's worst case too.
"""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from tests.conftest import make_key
from tests.fake_upstream import FakeUpstream
from tests.integration.test_proxy import events

PROMPT = "word " * 600  # 3,000 bytes


class Echoing(FakeUpstream):
    """`echoer`: a completions server that honours `echo` and `max_tokens` (one ' abc' a token)."""

    async def _failure(self, request: web.Request, model: str | None):
        if model != "echoer":
            return await super()._failure(request, model)
        body = await request.json()
        n = body.get("max_tokens") or 16
        echoed = body["prompt"] if body.get("echo") else ""
        usage = {"prompt_tokens": 600, "completion_tokens": n, "total_tokens": 600 + n}
        if not body.get("stream"):
            return web.json_response({"id": "e", "object": "text_completion", "usage": usage, "choices": [
                {"index": 0, "text": echoed + " abc" * n, "finish_reason": "length"}]})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        texts = ([echoed] if echoed else []) + [" abc"] * n

        async def send(payload: dict) -> None:
            await resp.write(b"data: " + json.dumps(payload).encode() + b"\n\n")

        for text in texts:
            await send({"id": "e", "choices": [{"index": 0, "text": text, "finish_reason": None}]})
        await send({"id": "e", "choices": [{"index": 0, "text": "", "finish_reason": "length"}]})
        await send({"id": "e", "choices": [], "usage": usage})
        await resp.write(b"data: [DONE]\n\n")
        return resp


@pytest.fixture
def fake():
    upstream = Echoing().start_in_thread()
    yield upstream
    upstream.stop_thread()


@pytest.fixture
def config_extra(fake) -> str:
    return '\n[models.echoer]\nroute = ["fake:echoer"]\n'


@pytest.mark.parametrize("stream", [False, True])
async def test_an_echoed_prompt_is_served_to_a_budgeted_key(client, settings, stream):
    key = make_key(settings.database.path, "scorer", budget_tokens=100_000)
    r = await client.post("/v1/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "echoer", "prompt": PROMPT, "max_tokens": 10, "echo": True, "stream": stream})
    assert r.status_code == 200, r.text
    if stream:
        data = events(r.text)
        assert data[-1] == "[DONE]" and not any('"error"' in d for d in data), data[-3:]
        text = "".join(c["text"] for d in data[:-1] for c in json.loads(d)["choices"])
    else:
        text = r.json()["choices"][0]["text"]
    assert text == PROMPT + " abc" * 10


async def test_without_echo_the_answer_is_the_same(client, settings):
    key = make_key(settings.database.path, "plain", budget_tokens=100_000)
    r = await client.post("/v1/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "echoer", "prompt": PROMPT, "max_tokens": 10, "echo": False})
    assert r.status_code == 200 and r.json()["choices"][0]["text"] == " abc" * 10
