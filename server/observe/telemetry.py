"""Traces: built from the timings the pipeline takes (a few perf_counter reads per request),
after the answer has gone, following the OpenTelemetry GenAI semantic conventions.

`build` reads one frozen `RequestRecord` (server/observe/request_record.py), filled once
when the request is done; never the live context the stages share.

They are kept in the SQLite file (for `gate traces` and `gate top`) by the ledger writer,
and, when `[telemetry] otlp_endpoint` is set, exported over OTLP/HTTP to the site's own
collector from the writer's thread, with the spans' real start and end times.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from server.observe.request_record import RequestRecord
from server.store.traces import Span, Trace
from server.core.names import ATTR_CACHE, ATTR_PROVIDER, ATTR_STATUS, ATTR_TARGET

if TYPE_CHECKING:
    from server.core.settings import TelemetrySettings

log = logging.getLogger("gate.telemetry")

OPERATIONS = {"chat": "chat", "completions": "text_completion", "embeddings": "embeddings"}
PROVIDER_NAMES = {"openai": "openai", "llamacpp": "llama.cpp"}


def build(r: RequestRecord) -> Trace:
    t0 = r.started
    op = OPERATIONS[r.op]
    total = r.duration_ms
    root: dict[str, str | int | float | bool] = {
        "gen_ai.operation.name": op,
        "gen_ai.request.model": r.alias or "",
        "gen_ai.usage.input_tokens": r.input_tokens,
        "gen_ai.usage.output_tokens": r.output_tokens,
        "gate.request_id": r.request_id,
        ATTR_STATUS: r.status,
        "gate.cost_usd": r.cost,
        "gate.stream": r.stream,
    }
    if r.provider is not None:
        root["gen_ai.response.model"] = r.response_model or ""
        kind = r.provider_kind or ""
        root["gen_ai.provider.name"] = PROVIDER_NAMES.get(kind, kind)
        root[ATTR_PROVIDER] = r.provider
    if r.key is not None:
        root["gate.key"] = r.key
        if r.input_body is not None:
            root["gen_ai.input.messages"] = r.input_body
        if r.output_body is not None:
            root["gen_ai.output.messages"] = r.output_body
    if r.cache:
        root[ATTR_CACHE] = r.cache
        if r.cache_note:  # why it bypassed, or why no semantic lookup was made
            root["gate.cache.note"] = r.cache_note
        if r.similarity is not None:
            root["gate.cache.similarity"] = round(r.similarity, 4)
    if r.routing:
        root["gate.routing"] = r.routing
    if r.guard:
        root["gate.guardrails"] = r.guard
    if r.usage_estimated:
        root["gate.usage_estimated"] = True
    if r.error:
        root["error.type"] = r.error.split(":", 1)[0]
    spans = [Span(f"{op} {r.alias or ''}".strip(), 0.0, total, "error" if r.status >= 400 else "ok", root)]
    for name, start, end in r.marks:
        spans.append(Span(f"gate.{name}", (start - t0) * 1000, (end - start) * 1000))
    if r.generation is not None:  # a stream's tokens, first to last
        start, end = r.generation
        spans.append(Span("gate.generation", (start - t0) * 1000, (end - start) * 1000, "ok",
                          {"gen_ai.usage.output_tokens": r.output_tokens}))
    for label, start, end, status, error, address in r.attempts:
        model = label.split(":", 1)[1]
        attrs: dict[str, str | int | float | bool] = {
            "gen_ai.operation.name": op, "gen_ai.request.model": model, ATTR_TARGET: label,
            ATTR_STATUS: status}
        if address:
            attrs["server.address"] = address
        if error:
            attrs["error.type"] = error
        spans.append(Span(f"{op} {model}", (start - t0) * 1000, (end - start) * 1000,
                          "error" if error else "ok", attrs))
    return Trace(r.request_id, r.ts, total, r.status, r.alias, spans)


def no_redirects_session():
    """A requests session that follows no redirect: spans go to the configured collector or
    nowhere (the exporter's own default has varied between versions)."""
    import requests

    class NoRedirects(requests.Session):
        def get_redirect_target(self, resp):
            return None

    return NoRedirects()


class OtlpExport:
    """Turns stored traces into OpenTelemetry spans and exports them in batches."""

    def __init__(self, settings: "TelemetrySettings", exporter=None) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SimpleSpanProcessor,
        )

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )

            exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces",  # type: ignore[union-attr]
                                        session=no_redirects_session())
            processor = BatchSpanProcessor(exporter, schedule_delay_millis=1000)
        else:
            processor = SimpleSpanProcessor(exporter)
        self._provider = TracerProvider(resource=Resource.create({
            "service.name": settings.service_name, "service.instance.id": str(os.getpid())}))
        self._provider.add_span_processor(processor)
        self._tracer = self._provider.get_tracer("gate")
        self._trace = trace

    def __call__(self, traces: list[Trace]) -> None:
        for t in traces:
            self.export(t)

    def export(self, t: Trace) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        start_ns = int(t.ts * 1e9)
        root_span, *children = t.spans
        root = self._tracer.start_span(root_span.name, kind=SpanKind.SERVER, start_time=start_ns,
                                       attributes=root_span.attributes)
        if root_span.status == "error":
            root.set_status(Status(StatusCode.ERROR))
        ctx = self._trace.set_span_in_context(root)
        for s in children:
            kind = SpanKind.CLIENT if ATTR_TARGET in s.attributes else SpanKind.INTERNAL
            span = self._tracer.start_span(s.name, context=ctx, kind=kind,
                                           start_time=start_ns + int(s.start_ms * 1e6), attributes=s.attributes)
            if s.status == "error":
                span.set_status(Status(StatusCode.ERROR))
            span.end(end_time=start_ns + int((s.start_ms + s.duration_ms) * 1e6))
        root.end(end_time=start_ns + int(root_span.duration_ms * 1e6))

    def shutdown(self) -> None:
        self._provider.shutdown()
