"""End-to-end answers from the built-in llama.cpp model (Gemma 3 270M) through `gate serve`."""

from __future__ import annotations

import json
import time
import urllib.request

import openai
import pytest

from tests.live.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.model

PROMPT = [{"role": "user", "content": "What is the capital of France?"}]


def test_local_chat(gate, client):
    raw = client.chat.completions.with_raw_response.create(
        model="local", messages=PROMPT, max_tokens=16, temperature=0)
    assert raw.headers["x-gate-provider"] == "builtin"
    assert raw.headers["x-gate-upstream-model"] == "gemma-3-270m"
    reply = raw.parse()
    content = reply.choices[0].message.content
    assert isinstance(content, str) and content.strip()
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= 16
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    (row,) = gate.wait_for_rows([raw.headers["x-gate-request-id"]])
    assert row["provider"] == "builtin" and row["status"] == 200 and row["usage_estimated"] == 0
    assert (row["input_tokens"], row["output_tokens"]) == (reply.usage.prompt_tokens, reply.usage.completion_tokens)


def test_local_chat_streamed(client):
    chunks = list(client.chat.completions.create(
        model="local", messages=PROMPT, max_tokens=16, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens > 0
    assert 0 < chunks[-1].usage.completion_tokens <= 16
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes in (["stop"], ["length"])


def trace(gate, request_id: str) -> dict:
    deadline = time.monotonic() + 10
    while True:
        req = urllib.request.Request(f"{gate.base_url}/admin/traces/{request_id}",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def test_local_stream_times_the_first_token_and_the_generation(gate, client):
    """Time to first token is taken when the first text goes to the client, not when the
    stream opens; the upstream attempt lasts until the first token; the generation has a span."""
    started = time.perf_counter()
    first_text_ms = None
    with client.chat.completions.with_streaming_response.create(
            model="local", messages=PROMPT, max_tokens=16, temperature=0, stream=True) as resp:
        request_id = resp.headers["x-gate-request-id"]
        for chunk in resp.parse():
            if first_text_ms is None and chunk.choices and chunk.choices[0].delta.content:
                first_text_ms = (time.perf_counter() - started) * 1000
    assert first_text_ms is not None
    (row,) = gate.wait_for_rows([request_id])
    spans = trace(gate, request_id)["spans"]
    (generation,) = [s for s in spans if s["name"] == "gate.generation"]
    (attempt,) = [s for s in spans if "gate.target" in s["attributes"]]
    # The first token came out of the model (its thread's clock) before the server counted it
    # as sent, and the client cannot have seen it before the server sent it.
    assert generation["start_ms"] <= row["ttfb_ms"] <= first_text_ms
    assert attempt["start_ms"] + attempt["duration_ms"] >= generation["start_ms"]
    assert generation["duration_ms"] >= 0
    assert generation["attributes"]["gen_ai.usage.output_tokens"] == row["output_tokens"] > 0


def test_local_completion(client):
    reply = client.completions.create(model="local", prompt="The capital of France is", max_tokens=8, temperature=0)
    assert reply.choices[0].text.strip()
    assert reply.usage.prompt_tokens > 0 and 0 < reply.usage.completion_tokens <= 8


def test_local_model_does_not_make_embeddings(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="local", input="hello")
    assert info.value.body["param"] == "model"
