"""record: one ledger row per request, written with the request's settlement.

The row and the settlement (settle.apply_in) go to the group commit (store/ledger_commit),
and the caller awaits it before the answer's last byte goes out: a client never holds an
answer the ledger and the budgets do not know of, whatever happens to the worker next.
Traces and metrics follow in batches (ledger_writer).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from server.observe import telemetry
from server.observe.request_record import BODY_LIMIT, RequestRecord
from server.cache.policy import describe, found
from server.guardrails.detectors import builtin_scanner
from server.cache.entries import NewEntry
from server.guardrails import Redactor
from server.core.names import CacheStatus
from server.pipeline import settle
from server.pipeline.context import RequestContext
from server.store.ledger import LedgerRow

if TYPE_CHECKING:
    from server.runtime.state import GatewayState


def stage(ctx: RequestContext, state: GatewayState) -> asyncio.Future:
    """Done once the row and the settlement are in the file."""
    provider = ctx.target.provider if ctx.target else None
    remember(ctx, state)
    latency_ms = ctx.elapsed_ms()
    trace = telemetry.build(snapshot(ctx, latency_ms)) if state.settings.telemetry.traces else None
    row = LedgerRow(
        request_id=ctx.request_id,
        ts=ctx.ts,
        key_id=ctx.principal.key_id if ctx.principal else None,
        team_id=ctx.principal.team_id if ctx.principal else None,
        endpoint=ctx.op,
        alias=ctx.alias,
        provider=provider.name if provider else None,
        upstream_model=ctx.target.upstream_model if ctx.target else (ctx.cache_hit.model if ctx.cache_hit else None),
        stream=ctx.stream,
        status=ctx.status,
        input_tokens=ctx.input_tokens,
        output_tokens=ctx.output_tokens,
        usage_estimated=ctx.usage_estimated,
        cost=ctx.cost,
        latency_ms=latency_ms,
        ttfb_ms=ctx.ttfb_ms,
        attempts=",".join(ctx.attempts) or None,
        route="; ".join(ctx.route_notes) or None,
        cache=ctx.cache_status,
        guard="; ".join(ctx.guard_notes) or None,
        similarity=ctx.cache_hit.similarity if ctx.cache_status == CacheStatus.SEMANTIC_HIT else None,
        error=ctx.error,
    )
    return state.commit.add(row, trace, partial(settle.apply_in, ctx=ctx) if settle.needed(ctx) else None)


def snapshot(ctx: RequestContext, duration_ms: float) -> RequestRecord:
    """The finished request, frozen for its trace: what observation may know of it."""
    target, principal, hit = ctx.target, ctx.principal, ctx.cache_hit
    provider = target.provider if target is not None else None
    input_body = output_body = None
    if principal is not None and principal.log_bodies:
        input_body, output_body = bodies(ctx)
    return RequestRecord(  # by position, in the record's order (see RequestRecord)
        ctx.request_id, ctx.ts, ctx.started, duration_ms, ctx.op, ctx.alias, ctx.stream,
        ctx.status, ctx.error, ctx.input_tokens, ctx.output_tokens, ctx.usage_estimated, ctx.cost,
        principal.name if principal is not None else None,
        provider.name if provider is not None else None,
        provider.kind if provider is not None else None,
        target.upstream_model if target is not None else None,
        ctx.cache_status, ctx.cache_note, hit.similarity if hit is not None else None,
        "; ".join(ctx.route_notes) or None, "; ".join(ctx.guard_notes) or None,
        tuple(ctx.marks), tuple(ctx.attempt_marks), ctx.generation, input_body, output_body)


def redacted(text: str) -> str:
    """Every kind of personal data and secret replaced by a placeholder (for bodies kept on
    traces), cut to the trace's limit."""
    return Redactor().redact(text, builtin_scanner().scan(text))[:BODY_LIMIT]


def bodies(ctx: RequestContext) -> tuple[str | None, str | None]:
    """The request's and the answer's text, redacted (gen_ai.input/output.messages)."""
    field = {"chat": "messages", "completions": "prompt", "embeddings": "input"}[ctx.op]
    raw = ctx.fields.get(field) if ctx.fields else None
    return (redacted(bytes(raw).decode("utf-8", "replace")) if raw is not None else None,
            redacted("".join(ctx.output_text)) if ctx.output_text else None)


def remember(ctx: RequestContext, state: "GatewayState") -> None:
    """Keep a complete, successful answer for the cache (written on the cache's thread)."""
    plan = ctx.cache_plan
    if plan is None or ctx.cache_hit is not None or ctx.status != 200 or ctx.target is None:
        return
    if ctx.finish_reason not in ("stop", "length"):
        return  # tool calls, content filters, cut streams: not answers to reuse
    answer = "".join(ctx.output_text)
    if not answer:
        return
    kinds = found(ctx.guard.screen if ctx.guard is not None else builtin_scanner(), answer)
    scrubber = getattr(ctx.target.provider, "scrubber", None)
    if scrubber is not None and scrubber.holds(answer):  # the site's own credential, whatever its format
        kinds["configured secret"] = 1
    if kinds:  # personal data or a secret is never kept in the file
        note = f"answer not kept: it holds {describe(kinds)}"
        ctx.cache_note = f"{ctx.cache_note}; {note}" if ctx.cache_note else note
        return
    state.cache.remember(NewEntry(
        partition=plan.partition, exact=plan.exact, scope=plan.scope, alias=ctx.alias or "", op=ctx.op,
        query=plan.query, answer=answer, finish_reason=ctx.finish_reason,
        model=ctx.target.upstream_model, input_tokens=ctx.input_tokens, output_tokens=ctx.output_tokens,
        created_at=ctx.ts, expires_at=ctx.ts + plan.ttl_s), ctx.cache_vector)
