"""Traces (stored and exported over OTLP), /metrics and the live stats, in process."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from server.core.settings import TelemetrySettings
from server.store.traces import Span, Trace
from server.observe.telemetry import OtlpExport
from tests.conftest import make_key
from tests.fake_upstream import free_port
from tests.integration.test_proxy import ledger_rows

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
ADMIN = {"Authorization": "Bearer test-admin-token"}


class Receiver:
    """An OTLP/HTTP receiver on loopback, on a thread of its own, that keeps what it is sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bodies: list[bytes] = []

    def start(self) -> None:
        ready = threading.Event()

        async def traces(request: web.Request) -> web.Response:
            self.bodies.append(await request.read())
            return web.Response(status=200, content_type="application/x-protobuf", body=b"")

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/v1/traces", traces)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
            ready.set()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(serve())
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        assert ready.wait(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


async def wait_trace(client, request_id: str) -> dict:
    for _ in range(100):
        r = await client.get(f"/admin/traces/{request_id}", headers=ADMIN)
        if r.status_code == 200:
            return r.json()
        await asyncio.sleep(0.02)
    raise AssertionError(f"no trace for {request_id}")


async def test_a_trace_has_stages_attempts_and_genai_attributes(client):
    r = await client.post("/v1/chat/completions", json={"model": "failover", **CHAT})
    t = await wait_trace(client, r.headers["x-gate-request-id"])
    root, *children = t["spans"]
    attrs = root["attributes"]
    assert root["name"] == "chat failover"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "failover" and attrs["gen_ai.response.model"] == "ok"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (7, 6)
    names = [s["name"] for s in children]
    for stage in ("authenticate", "parse", "resolve", "lookup", "admit", "dispatch"):
        assert f"gate.{stage}" in names
    attempts = [s for s in children if "gate.target" in s["attributes"]]
    assert [a["attributes"]["gate.target"] for a in attempts] == ["down:x", "fake:fail500", "fake:fail500", "fake:ok"]
    assert attempts[0]["attributes"]["error.type"] == "UpstreamUnavailable"
    assert attempts[-1]["attributes"]["server.address"] == "127.0.0.1" and attempts[-1]["status"] == "ok"
    assert all(0 <= s["start_ms"] <= t["duration_ms"] for s in children)


async def test_failed_requests_have_traces_with_error_type(client):
    r = await client.post("/v1/chat/completions", json={"model": "alldown", **CHAT})
    t = await wait_trace(client, r.headers["x-gate-request-id"])
    assert t["status"] == 502 and t["spans"][0]["status"] == "error"
    assert t["spans"][0]["attributes"]["error.type"] == "upstream_unavailable"


async def test_metrics_parse_and_count(client, settings):
    make_key(settings.database.path, "budgeted", budget_usd=10.0)
    for _ in range(3):
        await client.post("/v1/chat/completions", json={"model": "ok", **CHAT})
    await client.post("/v1/chat/completions", json={"model": "fail500", **CHAT})
    text = (await client.get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {(s.labels["alias"], s.labels["code"]): s.value for s in families["gate_requests"].samples}
    assert requests[("ok", "2xx")] == 3 and requests[("fail500", "5xx")] == 1
    tokens = {(s.labels["alias"], s.labels["direction"]): s.value for s in families["gate_tokens"].samples}
    assert tokens[("ok", "output")] == 18
    overhead = [s for s in families["gate_overhead_seconds"].samples if s.name.endswith("_count")]
    assert sum(s.value for s in overhead) == 4
    inf = [s for s in families["gate_request_duration_seconds"].samples
           if s.name.endswith("_bucket") and s.labels["le"] == "+Inf" and s.labels["alias"] == "ok"]
    assert inf[0].value == 3
    budget = [s for s in families["gate_budget_remaining_usd"].samples if s.labels["owner"] == "budgeted"]
    assert budget[0].value == pytest.approx(10.0)
    up = {s.labels["provider"]: s.value for s in families["gate_upstream_up"].samples}
    assert up["fake"] in (0.0, 1.0) and "down" in up


async def test_stats_window(client):
    for _ in range(4):
        await client.post("/v1/chat/completions", json={"model": "ok", **CHAT})
    await client.post("/v1/chat/completions", json={"model": "nope", **CHAT})
    s = (await client.get("/admin/stats?window=30", headers=ADMIN)).json()
    assert s["requests"] == 5 and s["errors"] == 1 and s["window_s"] == 30
    assert s["latency_ms"]["p50"] > 0 and len(s["series"]) == 30
    assert sum(p["requests"] for p in s["series"]) == 5


def test_otlp_spans_keep_their_times_and_parents():
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    export = OtlpExport(TelemetrySettings(), exporter=memory)
    export([Trace("req_1", 1_700_000_000.0, 12.0, 200, "m", [
        Span("chat m", 0.0, 12.0, "ok", {"gen_ai.operation.name": "chat"}),
        Span("gate.parse", 0.5, 0.1),
        Span("chat up", 1.0, 10.0, "error", {"gate.target": "p:up", "error.type": "UpstreamTimeout"}),
    ])])
    spans = {s.name: s for s in memory.get_finished_spans()}
    root, parse, attempt = spans["chat m"], spans["gate.parse"], spans["chat up"]
    assert root.start_time == 1_700_000_000 * 10**9 and root.end_time - root.start_time == 12 * 10**6
    assert parse.parent.span_id == root.context.span_id and attempt.parent.span_id == root.context.span_id
    assert attempt.context.trace_id == root.context.trace_id
    assert attempt.status.status_code.name == "ERROR" and attempt.kind.name == "CLIENT"
    assert root.resource.attributes["service.name"] == "gate"


async def test_one_export_to_a_collector_on_loopback(tmp_path, fake, admin_token, monkeypatch):
    from litestar.testing import AsyncTestClient
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from server.web.app import create_app
    from server.core.settings import load_settings
    from tests.conftest import gateway_toml

    receiver = Receiver()
    receiver.start()
    path = tmp_path / "gateway.toml"
    path.write_text(gateway_toml(fake.url, f'\n[telemetry]\notlp_endpoint = "http://127.0.0.1:{receiver.port}"\n'))
    monkeypatch.delenv("GATE_DB", raising=False)
    settings = load_settings(path)
    key = make_key(settings.database.path)
    async with AsyncTestClient(app=create_app(settings), base_url="http://127.0.0.1") as c:
        r = await c.post("/v1/chat/completions", json={"model": "ok", **CHAT},
                         headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
    # Shutting the gateway down flushes the batch exporter.
    for _ in range(50):
        if receiver.bodies:
            break
        await asyncio.sleep(0.05)
    receiver.stop()
    assert receiver.bodies
    request = ExportTraceServiceRequest.FromString(receiver.bodies[0])
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    names = {s.name for s in spans}
    assert "chat ok" in names and "gate.dispatch" in names
    root = next(s for s in spans if s.name == "chat ok")
    attrs = {a.key: a.value for a in root.attributes}
    assert attrs["gen_ai.request.model"].string_value == "ok"


async def test_bodies_are_kept_only_for_keys_that_ask_and_then_redacted(client, settings):
    plain = await client.post("/v1/chat/completions",
                              json={"model": "ok", "messages": [{"role": "user", "content": "hello there"}]})
    t = await wait_trace(client, plain.headers["x-gate-request-id"])
    assert "gen_ai.input.messages" not in t["spans"][0]["attributes"]
    key = make_key(settings.database.path, "audited", log_bodies=True)
    r = await client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "ok", "messages": [{"role": "user", "content": "mail bob@example.com"}]})
    attrs = (await wait_trace(client, r.headers["x-gate-request-id"]))["spans"][0]["attributes"]
    assert "[EMAIL_1]" in attrs["gen_ai.input.messages"] and "bob@example.com" not in attrs["gen_ai.input.messages"]
    assert attrs["gen_ai.output.messages"] == "Hello from the fake upstream."


async def test_a_stream_has_a_generation_span_and_its_ttfb_is_at_the_first_text(client, settings):
    r = await client.post("/v1/chat/completions", json={"model": "ok", "stream": True, **CHAT})
    spans = (await wait_trace(client, r.headers["x-gate-request-id"]))["spans"]
    (generation,) = [s for s in spans if s["name"] == "gate.generation"]
    (attempt,) = [s for s in spans if "gate.target" in s["attributes"]]
    (row,) = await ledger_rows(client, settings, 1)
    # The attempt ends when the stream is accepted; the text comes after, then goes out.
    assert attempt["start_ms"] + attempt["duration_ms"] <= generation["start_ms"] <= row.ttfb_ms
    assert generation["duration_ms"] >= 0
    assert generation["attributes"]["gen_ai.usage.output_tokens"] == row.output_tokens == 6
