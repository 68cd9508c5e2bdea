"""Traces: built from the timings the pipeline takes (a few perf_counter reads per request),
after the answer has gone, following the OpenTelemetry GenAI semantic conventions.

They are kept in the SQLite file (for `gate traces` and `gate top`) by the ledger writer,
and, when `[telemetry] otlp_endpoint` is set, exported over OTLP/HTTP to the site's own
collector from the writer's thread, with the spans' real start and end times.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import TYPE_CHECKING

from server.store.traces import Span, Trace
from server.core.names import ATTR_CACHE, ATTR_PROVIDER, ATTR_STATUS, ATTR_TARGET

if TYPE_CHECKING:
    from server.pipeline.context import RequestContext
    from server.core.settings import TelemetrySettings

log = logging.getLogger("gate.telemetry")

OPERATIONS = {"chat": "chat", "completions": "text_completion", "embeddings": "embeddings"}
PROVIDER_NAMES = {"openai": "openai", "llamacpp": "llama.cpp"}


BODY_LIMIT = 8192


@lru_cache(maxsize=1)
def _scanner():
    """Every built-in detector, compiled once (it holds no state between scans)."""
    from server.guardrails import Scanner

    return Scanner()


def redacted(text: str) -> str:
    """Every kind of personal data and secret replaced by a placeholder (for stored bodies)."""
    from server.guardrails import Redactor

    return Redactor().redact(text, _scanner().scan(text))[:BODY_LIMIT]


def bodies(ctx: "RequestContext") -> dict[str, str]:
    """gen_ai.input.messages / gen_ai.output.messages, redacted, for keys that ask for them."""
    field = {"chat": "messages", "completions": "prompt", "embeddings": "input"}[ctx.op]
    raw = ctx.fields.get(field) if ctx.fields else None
    out = {}
    if raw is not None:
        out["gen_ai.input.messages"] = redacted(bytes(raw).decode("utf-8", "replace"))
    if ctx.output_text:
        out["gen_ai.output.messages"] = redacted("".join(ctx.output_text))
    return out


def build(ctx: "RequestContext") -> Trace:
    t0 = ctx.started
    op = OPERATIONS[ctx.op]
    total = ctx.elapsed_ms()
    root: dict[str, str | int | float | bool] = {
        "gen_ai.operation.name": op,
        "gen_ai.request.model": ctx.alias or "",
        "gen_ai.usage.input_tokens": ctx.input_tokens,
        "gen_ai.usage.output_tokens": ctx.output_tokens,
        "gate.request_id": ctx.request_id,
        ATTR_STATUS: ctx.status,
        "gate.cost_usd": ctx.cost,
        "gate.stream": ctx.stream,
    }
    if ctx.target is not None:
        root["gen_ai.response.model"] = ctx.target.upstream_model
        root["gen_ai.provider.name"] = PROVIDER_NAMES.get(ctx.target.provider.kind, ctx.target.provider.kind)
        root[ATTR_PROVIDER] = ctx.target.provider.name
    if ctx.principal is not None:
        root["gate.key"] = ctx.principal.name
        if ctx.principal.log_bodies:
            root.update(bodies(ctx))
    if ctx.cache_status:
        root[ATTR_CACHE] = ctx.cache_status
        if ctx.cache_note:  # why it bypassed, or why no semantic lookup was made
            root["gate.cache.note"] = ctx.cache_note
        if ctx.cache_hit is not None:
            root["gate.cache.similarity"] = round(ctx.cache_hit.similarity, 4)
    if ctx.route_notes:
        root["gate.routing"] = "; ".join(ctx.route_notes)
    if ctx.guard_notes:
        root["gate.guardrails"] = "; ".join(ctx.guard_notes)
    if ctx.usage_estimated:
        root["gate.usage_estimated"] = True
    if ctx.error:
        root["error.type"] = ctx.error.split(":", 1)[0]
    spans = [Span(f"{op} {ctx.alias or ''}".strip(), 0.0, total, "error" if ctx.status >= 400 else "ok", root)]
    for name, start, end in ctx.marks:
        spans.append(Span(f"gate.{name}", (start - t0) * 1000, (end - start) * 1000))
    if ctx.generation is not None:  # a stream's tokens, first to last
        start, end = ctx.generation
        spans.append(Span("gate.generation", (start - t0) * 1000, (end - start) * 1000, "ok",
                          {"gen_ai.usage.output_tokens": ctx.output_tokens}))
    for label, start, end, status, error, address in ctx.attempt_marks:
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
    return Trace(ctx.request_id, ctx.ts, total, ctx.status, ctx.alias, spans)


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
