"""`gate serve` as a real process, the official OpenAI SDK as the client, the fake upstream behind."""

from __future__ import annotations

import json
import re
import uuid

import openai
import pytest

from server.core.settings import load_settings
from tests.live.conftest import CHAT

HELLO = "Hello from the fake upstream."


def _text(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# -- answers -------------------------------------------------------------------------

def test_chat(client):
    reply = client.chat.completions.create(model="ok", messages=CHAT)
    assert reply.choices[0].message.content == HELLO
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (7, 6, 13)
    # The upstream's answer is relayed as is: fields the SDK does not know survive.
    assert reply.model_extra["upstream_extra"] == {"kept": True}


def test_stream_without_stream_options_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model="ok", messages=CHAT, stream=True))
    assert _text(chunks) == HELLO
    # The gateway asks the upstream for usage on every stream; the client did not ask for it,
    # so the usage-only chunk is dropped and no chunk carries usage.
    assert all(c.usage is None for c in chunks), [c for c in chunks if c.usage is not None]
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_with_include_usage_false_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model="ok", messages=CHAT, stream=True,
                                                 stream_options={"include_usage": False}))
    assert _text(chunks) == HELLO
    assert all(c.usage is None for c in chunks)


def test_stream_with_include_usage_delivers_usage_last(client):
    chunks = list(client.chat.completions.create(model="ok", messages=CHAT, stream=True,
                                                 stream_options={"include_usage": True}))
    assert _text(chunks) == HELLO
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1
    assert with_usage[0] is chunks[-1] and chunks[-1].choices == []
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (7, 6, 13)


def test_completions(client):
    reply = client.completions.create(model="ok", prompt="Say hello.")
    assert reply.object == "text_completion"
    assert reply.choices[0].text == HELLO
    assert reply.usage.completion_tokens == 6


def test_completions_streamed(client):
    chunks = list(client.completions.create(model="ok", prompt="Say hello.", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == HELLO
    assert all(c.usage is None for c in chunks)


def test_embeddings(client):
    reply = client.embeddings.create(model="ok", input=["one two", "three"])
    assert [d.index for d in reply.data] == [0, 1]
    assert reply.data[0].embedding == pytest.approx([0.1, 0.2, 0.3])
    assert reply.data[1].embedding == pytest.approx([0.2, 0.2, 0.3])
    assert reply.usage.prompt_tokens == 3


def test_models_list_has_every_configured_alias(gate, client):
    configured = set(load_settings(gate.config).models)
    assert {"ok", "echo", "cut", "slow", "local"} <= configured
    ids = [m.id for m in client.models.list()]
    assert set(ids) == configured
    assert len(ids) == len(configured)
    assert client.models.retrieve("ok").id == "ok"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


# -- errors as the SDK's classes -------------------------------------------------------

def test_bad_key_is_authentication_error(gate):
    bad = gate.client("sk-gate-" + "x" * 43)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="ok", messages=CHAT)
    assert info.value.status_code == 401
    assert info.value.body["type"] == "authentication_error"
    assert info.value.response.headers["x-gate-request-id"].startswith("req_")
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=CHAT)
    assert info.value.status_code == 404
    assert info.value.body["code"] == "model_not_found"
    assert info.value.body["param"] == "model"


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"messages": []}, "messages"),
    ({"messages": "hello"}, "messages"),
    ({"messages": CHAT, "temperature": "hot"}, "temperature"),
    ({"messages": [{"content": "no role"}]}, "messages[0]"),
], ids=["empty-messages", "messages-not-a-list", "temperature-not-a-number", "message-without-role"])
def test_invalid_input_is_bad_request(client, fake_upstream, kwargs, param):
    before = len(fake_upstream.requests)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="ok", **kwargs)
    assert info.value.status_code == 400
    assert info.value.body["type"] == "invalid_request_error"
    assert info.value.body["param"] == param
    assert len(fake_upstream.requests) == before, "an invalid request reached the upstream"


def test_upstream_client_error_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="bad400", messages=CHAT)
    assert info.value.body["param"] == "temperature"
    assert "bad temperature" in info.value.body["message"]


def test_body_over_the_limit_is_413(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="ok", messages=[{"role": "user", "content": "x" * 70_000}])
    assert info.value.status_code == 413
    assert info.value.body["code"] == "request_too_large"


def test_key_limited_to_ok_is_denied_other_models(gate):
    limited = gate.client(gate.create_key(models="ok"))
    assert limited.chat.completions.create(model="ok", messages=CHAT).choices[0].message.content == HELLO
    with pytest.raises(openai.PermissionDeniedError) as info:
        limited.chat.completions.create(model="echo", messages=CHAT)
    assert info.value.status_code == 403
    assert info.value.body["type"] == "permission_error"
    with pytest.raises(openai.PermissionDeniedError):
        limited.chat.completions.create(model="cut", messages=CHAT, stream=True)
    assert [m.id for m in limited.models.list()] == ["ok"]


def test_upstream_failures_map_to_sdk_errors(client):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="alldown", messages=CHAT)
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_unavailable"
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="busy429", messages=CHAT)
    assert info.value.response.headers.get("retry-after") == "1"


# -- pass-through and headers ---------------------------------------------------------

def test_unknown_fields_pass_through_and_model_is_rewritten(client, fake_upstream, key):
    marker = uuid.uuid4().hex
    reply = client.chat.completions.create(
        model="echo", messages=CHAT, max_tokens=5,
        extra_body={"x_live_marker": marker, "vendor_options": {"nested": [1, 2.5, None, "s"]}})
    seen = json.loads(reply.choices[0].message.content)
    assert seen["x_live_marker"] == marker
    assert seen["vendor_options"] == {"nested": [1, 2.5, None, "s"]}
    assert seen["model"] == "echo"
    assert seen["messages"] == CHAT and seen["max_tokens"] == 5
    assert "stream_options" not in seen  # only streams get usage asked for
    # The client's virtual key is the gateway's, never sent upstream.
    upstream = [r for r in fake_upstream.requests if r.body.get("x_live_marker") == marker]
    assert len(upstream) == 1
    assert not any(key in str(v) for v in upstream[0].headers.values())


def test_alias_is_rewritten_to_the_upstream_name(client, fake_upstream):
    marker = uuid.uuid4().hex
    client.chat.completions.create(model="failover", messages=CHAT, extra_body={"x_live_marker": marker})
    models = [r.body["model"] for r in fake_upstream.requests if r.body.get("x_live_marker") == marker]
    # "down:x" never answered; the 500 was retried once; the fake saw the upstream names.
    assert models == ["fail500", "fail500", "ok"]


def test_streamed_request_asks_upstream_for_usage(client, fake_upstream):
    marker = uuid.uuid4().hex
    list(client.chat.completions.create(model="ok", messages=CHAT, stream=True,
                                        extra_body={"x_live_marker": marker}))
    seen = [r.body for r in fake_upstream.requests if r.body.get("x_live_marker") == marker]
    assert len(seen) == 1
    assert seen[0]["stream"] is True
    assert seen[0]["stream_options"] == {"include_usage": True}


def test_response_headers(gate, client):
    raw = client.chat.completions.with_raw_response.create(model="ok", messages=CHAT)
    rid = raw.headers["x-gate-request-id"]
    assert re.fullmatch(r"req_[0-9a-f]{20}", rid)
    assert raw.headers["x-gate-provider"] == "fake"
    assert raw.headers["x-gate-upstream-model"] == "ok"
    assert raw.headers["x-gate-attempts"] == "1"
    assert raw.headers["x-gate-fallback"] == "false"
    assert raw.parse().choices[0].message.content == HELLO
    rows = gate.wait_for_rows([rid])
    assert [(r["alias"], r["provider"], r["status"]) for r in rows] == [("ok", "fake", 200)]


def test_response_headers_after_fallback(client):
    raw = client.chat.completions.with_raw_response.create(model="failover", messages=CHAT)
    assert raw.headers["x-gate-provider"] == "fake"
    assert raw.headers["x-gate-upstream-model"] == "ok"
    assert raw.headers["x-gate-attempts"] == "4"  # down (refused), fail500 twice (one retry), ok
    assert raw.headers["x-gate-fallback"] == "true"
    assert raw.parse().choices[0].message.content == HELLO


def test_streamed_response_headers(client):
    raw = client.chat.completions.with_raw_response.create(model="ok", messages=CHAT, stream=True)
    assert raw.headers["x-gate-request-id"].startswith("req_")
    assert raw.headers["x-gate-provider"] == "fake"
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert _text(list(raw.parse())) == HELLO


def test_request_ids_are_unique(client):
    ids = {client.chat.completions.with_raw_response.create(model="ok", messages=CHAT)
           .headers["x-gate-request-id"] for _ in range(5)}
    assert len(ids) == 5


# -- null is accepted wherever the OpenAI API accepts it -------------------------------

def test_stream_options_null_is_accepted(client):
    chunks = list(client.chat.completions.create(model="ok", messages=CHAT, stream=True, stream_options=None))
    assert _text(chunks) == HELLO
    assert all(c.usage is None for c in chunks)


@pytest.mark.parametrize("field", ["n", "stream"])
def test_nullable_openai_fields_are_accepted(client, field):
    reply = client.chat.completions.create(model="ok", messages=CHAT, **{field: None})
    assert reply.choices[0].message.content == HELLO
