"""record: one ledger row per request, handed to the batched writer (no I/O here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.pipeline.context import RequestContext
from server.store.ledger import LedgerRow

if TYPE_CHECKING:
    from server.state import GatewayState


def stage(ctx: RequestContext, state: GatewayState) -> None:
    provider = ctx.target.provider if ctx.target else None
    state.ledger.add(LedgerRow(
        request_id=ctx.request_id,
        ts=ctx.ts,
        key_id=ctx.principal.key_id if ctx.principal else None,
        team_id=ctx.principal.team_id if ctx.principal else None,
        endpoint=ctx.op,
        alias=ctx.alias,
        provider=provider.name if provider else None,
        upstream_model=ctx.target.upstream_model if ctx.target else None,
        stream=ctx.stream,
        status=ctx.status,
        input_tokens=ctx.input_tokens,
        output_tokens=ctx.output_tokens,
        usage_estimated=ctx.usage_estimated,
        cost=ctx.cost,
        latency_ms=ctx.elapsed_ms(),
        ttfb_ms=ctx.ttfb_ms,
        attempts=",".join(ctx.attempts) or None,
        route="; ".join(ctx.route_notes) or None,
        error=ctx.error,
    ))
