"""The worst case of every request shape (server.core.prompt_bound), the output cap's count of
bytes, and the rate window's clamp, on real request bodies and a real SQLite file."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.core.errors import InvalidRequest
from server.pipeline.collect import assemble
from server.pipeline.output_cap import output_bytes
from server.core.prompt_bound import MESSAGE_TOKENS, prompt_bound
from server.store import db, ratelimits
from server.core.wire import decode_fields

IMAGE, TEMPLATE = 16384, 64


def bound(body: dict, op: str = "chat"):
    return prompt_bound(decode_fields(json.dumps(body).encode()), op, image_tokens=IMAGE,
                        template_tokens=TEMPLATE)


def chat(*messages, **extra) -> dict:
    return {"model": "m", "messages": list(messages), **extra}


HI = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                         "parameters": {"type": "object",
                                                        "properties": {"city": {"type": "string"}}}}}


def test_a_plain_chat_counts_its_text_role_and_template():
    assert bound(chat(HI)).tokens == 2 + 4 + MESSAGE_TOKENS + TEMPLATE


def test_tools_and_everything_rendered_count_and_settings_do_not():
    plain = bound(chat(HI)).tokens
    tools = [TOOL] * 20
    with_tools = bound(chat(HI, tools=tools, tool_choice="auto")).tokens
    pretty = len(json.dumps(tools, indent=4).encode())
    assert with_tools >= plain + pretty + 20 * MESSAGE_TOKENS + len("tool_choice") + len("auto")
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    assert bound(chat(HI, response_format=schema)).tokens > plain + len(json.dumps(schema))
    assert bound(chat(HI, stop=["END"] * 4, x_vendor="y" * 500)).tokens > plain + 500
    settings_only = chat(HI, temperature=0.5, top_p=0.9, seed=3, n=2, max_tokens=9, stream=True,
                         stream_options={"include_usage": True}, logprobs=True, model="m" * 300)
    assert bound(settings_only).tokens == plain


def test_tool_calls_and_tool_results_count():
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    result = {"role": "tool", "tool_call_id": "call_1", "content": "sunny " * 100}
    b = bound(chat(HI, call, result)).tokens
    assert b >= bound(chat(HI)).tokens + len(json.dumps(call["tool_calls"])) + 600


def test_token_id_prompts_count_every_id_and_every_prompt():
    mixed = bound({"model": "m", "prompt": ["hi", list(range(3000))]}, "completions")
    assert mixed.tokens >= 2 + 3000 and mixed.prompts == 2
    ids = bound({"model": "m", "prompt": list(range(500))}, "completions")
    assert ids.tokens >= 500 and ids.prompts == 1
    batch = bound({"model": "m", "prompt": [[1, 2], [3], "abc", 7]}, "completions")
    assert batch.tokens >= 2 + 1 + 3 + 1 and batch.prompts == 4
    with pytest.raises(InvalidRequest) as exc:
        bound({"model": "m", "prompt": [[1, [2]]]}, "completions")
    assert exc.value.param == "prompt"


def test_images_audio_and_unbounded_parts():
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert bound(chat({"role": "user", "content": [image, image]})).tokens >= 2 * IMAGE
    audio = {"type": "input_audio", "input_audio": {"data": "UklGR" * 1000, "format": "wav"}}
    assert bound(chat({"role": "user", "content": [audio]})).tokens >= 5000
    for kind in ("file", "video_url", "audio_url", "hologram"):
        with pytest.raises(InvalidRequest) as exc:
            bound(chat({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": kind}]}))
        assert exc.value.code == "unbounded_content" and exc.value.param == "messages[0].content[1]"
    with pytest.raises(InvalidRequest):
        bound(chat({"role": "user", "content": [{"type": {"nested": 1}}]}))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_the_bound_is_at_least_the_texts_utf8_bytes(text):
    """Escapes in the JSON never let a text count less than its UTF-8 bytes."""
    b = bound(chat({"role": "user", "content": text}, tools=[{"d": text}])).tokens
    assert b >= 2 * len(text.encode("utf-8"))


def test_output_count_is_the_bytes_of_every_generated_string():
    chunk = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "héllo", "tool_calls": [
        {"index": 0, "function": {"arguments": '{"a":'}}]}}]}
    assert output_bytes(json.dumps(chunk).encode()) == len("héllo".encode()) + len('{"a":')
    assert output_bytes(b'{"choices":[{"index":0,"text":"abc"},{"index":1,"delta":{}}]}') == 3 + 1
    assert output_bytes(b'{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}') == 0
    assert output_bytes(b'{"choices":[],"usage":{"prompt_tokens":1}}') == 0


def test_a_stream_is_put_back_together_as_the_json_answer():
    chunks = [
        {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {"id": "c1", "choices": [
            {"index": 0, "delta": {"content": "Hel"}, "finish_reason": None},
            {"index": 1, "delta": {"tool_calls": [
                {"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": "{"}}]}}]},
        {"id": "c1", "choices": [
            {"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"},
            {"index": 1, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
             "finish_reason": "tool_calls"}]},
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
    ]
    body, usage = assemble(chunks, chat=True)
    assert body["object"] == "chat.completion" and body["id"] == "c1" and body["model"] == "m"
    first, second = body["choices"]
    assert first["message"] == {"role": "assistant", "content": "Hello"} and first["finish_reason"] == "stop"
    call = second["message"]["tool_calls"][0]
    assert call["function"] == {"name": "f", "arguments": "{}"} and call["id"] == "t"
    assert second["finish_reason"] == "tool_calls" and second["message"]["content"] is None
    assert usage is not None and usage.total_tokens == 7 and body["usage"]["completion_tokens"] == 4
    pieces = [{"choices": [{"index": 0, "text": "a"}]},
              {"choices": [{"index": 0, "text": "b", "finish_reason": "length"}]}]
    text, _ = assemble(pieces, chat=False)
    assert text["object"] == "text_completion" and text["choices"][0]["text"] == "ab"
    msgspec.json.encode(body)  # it serializes


def test_a_negative_count_never_raises_the_room_above_the_limit(tmp_path):
    conn = db.connect(tmp_path / "gate.db")
    try:
        now = 1_800_000_005.0
        first = ratelimits.admit(conn, "k", None, 1000, -500, now)
        assert first.allowed and first.limits[0].remaining == 1000
        assert ratelimits.admit(conn, "k", None, 1000, 1000, now + 1).allowed
        assert not ratelimits.admit(conn, "k", None, 1000, 1, now + 2).allowed  # no hidden credit
    finally:
        conn.close()
