"""record: one ledger row per request, handed to the batched writer (no I/O here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.pipeline.context import RequestContext
from server.store.ledger import LedgerRow
from server.tokens import count, count_prompt

if TYPE_CHECKING:
    from server.state import GatewayState


def settle_usage(ctx: RequestContext) -> tuple[int, int]:
    """Input/output tokens: the upstream's usage, else counted locally (and marked)."""
    if ctx.usage is not None:
        return ctx.usage.prompt_tokens, ctx.usage.completion_tokens
    if ctx.view is None or ctx.target is None or (ctx.reply is None and ctx.chunks is None):
        return 0, 0  # no upstream accepted the request: nothing was used
    exact = ctx.target.provider.count_tokens
    prompt, est_in = count_prompt(ctx.view, exact)
    completion, est_out = count("".join(ctx.output_text), exact)
    ctx.usage_estimated = est_in or est_out
    return prompt, completion


def stage(ctx: RequestContext, state: GatewayState) -> None:
    input_tokens, output_tokens = settle_usage(ctx)
    provider = ctx.target.provider if ctx.target else None
    cost = 0.0
    if provider is not None:
        cost = (input_tokens * provider.price_in + output_tokens * provider.price_out) / 1_000_000
    state.ledger.add(LedgerRow(
        request_id=ctx.request_id,
        ts=ctx.ts,
        key_id=ctx.principal.key_id if ctx.principal else None,
        endpoint=ctx.op,
        alias=ctx.alias,
        provider=provider.name if provider else None,
        upstream_model=ctx.target.upstream_model if ctx.target else None,
        stream=ctx.stream,
        status=ctx.status,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        usage_estimated=ctx.usage_estimated,
        cost=cost,
        latency_ms=ctx.elapsed_ms(),
        ttfb_ms=ctx.ttfb_ms,
        attempts=",".join(ctx.attempts) or None,
        error=ctx.error,
    ))
