"""The trace is built from a frozen per-request record (server/observe/request_record.py),
which record.snapshot fills once from the context; nothing later reaches it."""

from __future__ import annotations

import aiohttp
import msgspec
import pytest

from server.core.exchange import Incoming
from server.core.settings import parse_settings
from server.observe import telemetry
from server.observe.request_record import BODY_LIMIT, RequestRecord
from server.pipeline.context import RequestContext
from server.pipeline.record import snapshot
from server.routing.breaker import Breaker
from server.routing.monitor import ProviderHealth
from server.routing.target import Target
from server.providers.openai_compat import OpenAICompatible
from server.store.keys import Principal
from server.store.traces import Span, Trace

# Binary fractions of a second, so every offset in milliseconds is exact.
T0 = 1000.0
RECORD = dict(
    request_id="req_1", ts=1_700_000_000.0, started=T0, duration_ms=1000.0, op="chat", alias="smart",
    stream=True, status=502, error="upstream_unavailable: no target answered", input_tokens=7,
    output_tokens=6, usage_estimated=True, cost=0.25, key="app", provider="fake", provider_kind="llamacpp",
    response_model="m-1", cache="MISS", cache_note="semantic lookup skipped", similarity=0.987654,
    routing="egress: 1 cloud target skipped", guard="email: redacted",
    marks=(("authenticate", T0, T0 + 0.125), ("dispatch", T0 + 0.25, T0 + 0.75)),
    attempts=(("down:x", T0 + 0.25, T0 + 0.5, 0, "UpstreamUnavailable", None),
              ("fake:m-1", T0 + 0.5, T0 + 0.75, 200, None, "127.0.0.1")),
    generation=(T0 + 0.75, T0 + 0.875), input_body="[EMAIL_1] asked", output_body="ok")


def test_the_trace_is_built_from_the_record_alone() -> None:
    trace = telemetry.build(RequestRecord(**RECORD))
    root = {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "smart", "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 6, "gate.request_id": "req_1", "gate.status": 502, "gate.cost_usd": 0.25,
        "gate.stream": True, "gen_ai.response.model": "m-1", "gen_ai.provider.name": "llama.cpp",
        "gate.provider": "fake", "gate.key": "app", "gen_ai.input.messages": "[EMAIL_1] asked",
        "gen_ai.output.messages": "ok", "gate.cache": "MISS", "gate.cache.note": "semantic lookup skipped",
        "gate.cache.similarity": 0.9877, "gate.routing": "egress: 1 cloud target skipped",
        "gate.guardrails": "email: redacted", "gate.usage_estimated": True, "error.type": "upstream_unavailable"}
    assert trace == Trace("req_1", 1_700_000_000.0, 1000.0, 502, "smart", [
        Span("chat smart", 0.0, 1000.0, "error", root),
        Span("gate.authenticate", 0.0, 125.0),
        Span("gate.dispatch", 250.0, 500.0),
        Span("gate.generation", 750.0, 125.0, "ok", {"gen_ai.usage.output_tokens": 6}),
        Span("chat x", 250.0, 250.0, "error", {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "x", "gate.target": "down:x",
            "gate.status": 0, "error.type": "UpstreamUnavailable"}),
        Span("chat m-1", 500.0, 250.0, "ok", {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "m-1", "gate.target": "fake:m-1",
            "gate.status": 200, "server.address": "127.0.0.1"}),
    ])


def test_a_bare_record_gives_only_the_root_attributes() -> None:
    # A request refused before a key or a target was known: no provider, key or cache keys.
    bare = {**RECORD, **dict.fromkeys(("error", "key", "provider", "provider_kind", "response_model", "cache",
                                        "cache_note", "similarity", "routing", "guard", "generation",
                                        "input_body", "output_body")),
            "status": 200, "usage_estimated": False, "marks": (), "attempts": ()}
    (root,) = telemetry.build(RequestRecord(**bare)).spans
    assert root.status == "ok" and set(root.attributes) == {
        "gen_ai.operation.name", "gen_ai.request.model", "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens", "gate.request_id", "gate.status", "gate.cost_usd", "gate.stream"}


@pytest.fixture
async def provider():
    settings = parse_settings('[providers.fake]\nkind = "openai"\nurl = "http://127.0.0.1:9/v1"\n')
    async with aiohttp.ClientSession() as session:  # never used: snapshot reads names only
        yield OpenAICompatible("fake", settings.providers["fake"], session, default_timeout_s=1.0)


def _context(provider, log_bodies: bool = False) -> RequestContext:
    ctx = RequestContext(request=Incoming({"headers": []}, None), op="chat", request_id="req_2",
                         started=T0, ts=1_700_000_000.0)
    ctx.principal = Principal(key_id="k1", name="app", models=None, log_bodies=log_bodies)
    ctx.alias, ctx.stream, ctx.status, ctx.error = "smart", True, 502, "upstream_unavailable: none"
    ctx.target = Target(provider, "m-1", ProviderHealth("fake", Breaker(3, 10)))
    ctx.input_tokens, ctx.output_tokens, ctx.cost, ctx.usage_estimated = 7, 6, 0.25, True
    ctx.cache_status, ctx.cache_note = "MISS", "semantic lookup skipped"
    ctx.route_notes, ctx.guard_notes = ["first", "second"], ["email: redacted"]
    ctx.marks.append(("authenticate", T0, T0 + 0.125))
    ctx.attempt_marks.append(("fake:m-1", T0, T0 + 0.5, 200, None, "127.0.0.1"))
    ctx.generation = (T0 + 0.5, T0 + 0.75)
    ctx.fields = {"messages": msgspec.Raw(b'[{"role":"user","content":"mail bob@example.com"}]')}
    ctx.output_text = ["write to ", "eve@example.org"]
    return ctx


async def test_snapshot_copies_every_field_once_and_the_context_cannot_change_it(provider) -> None:
    ctx = _context(provider)
    record = snapshot(ctx, 1000.0)
    expected = RequestRecord(
        request_id="req_2", ts=1_700_000_000.0, started=T0, duration_ms=1000.0, op="chat", alias="smart",
        stream=True, status=502, error="upstream_unavailable: none", input_tokens=7, output_tokens=6,
        usage_estimated=True, cost=0.25, key="app", provider="fake", provider_kind="openai",
        response_model="m-1", cache="MISS", cache_note="semantic lookup skipped", similarity=None,
        routing="first; second", guard="email: redacted", marks=(("authenticate", T0, T0 + 0.125),),
        attempts=(("fake:m-1", T0, T0 + 0.5, 200, None, "127.0.0.1"),), generation=(T0 + 0.5, T0 + 0.75),
        input_body=None, output_body=None)  # the key does not keep bodies
    assert record == expected
    # What the stages do to the context afterwards does not reach the record or its trace.
    before = telemetry.build(record)
    ctx.marks.append(("late", T0, T0 + 1))
    ctx.attempt_marks.clear()
    ctx.route_notes.append("third")
    ctx.status, ctx.cache_note = 200, "changed"
    assert record == expected and telemetry.build(record) == before
    with pytest.raises(AttributeError):
        record.status = 200  # type: ignore[misc]


async def test_bodies_come_redacted_in_the_record_for_keys_that_keep_them(provider) -> None:
    record = snapshot(_context(provider, log_bodies=True), 1.0)
    assert record.input_body is not None and record.output_body is not None
    assert "[EMAIL_1]" in record.input_body and "bob@example.com" not in record.input_body
    assert record.output_body == "write to [EMAIL_1]"
    ctx = _context(provider, log_bodies=True)
    ctx.output_text = ["x" * (BODY_LIMIT + 10)]
    assert snapshot(ctx, 1.0).output_body == "x" * BODY_LIMIT
