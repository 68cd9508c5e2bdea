"""lookup: the exact cache, then the semantic cache (same partition only).

A hit is kept for `admit`, which counts it against the key's request rate (it costs no
budget) and answers it from the cache; it is recorded in the ledger as a hit. A miss carries the query's vector along, so the
answer can be kept without embedding it twice. A request holding personal data or a secret
bypasses the cache (its question would be kept in the file in clear).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.cache.policy import Bypass, describe, found, plan
from server.guardrails.detectors import builtin_scanner
from server.core.names import CacheStatus
from server.pipeline.context import RequestContext

if TYPE_CHECKING:
    from server.runtime.state import GatewayState


def screen_question(ctx: RequestContext, query: str) -> Bypass | None:
    """Bypass when the guardrails found personal data or a secret in any of the request's
    texts, or (guardrails off, or a policy checking fewer kinds) the detectors find some in
    the question the cache would keep."""
    guard = ctx.guard
    if guard is not None:
        if ctx.input_found is None:
            return Bypass("the guardrail checks did not complete: not cached")
        if ctx.input_found:
            return Bypass(f"the request holds {describe(ctx.input_found)}: not cached")
        if guard.screen is guard.scanner:
            return None  # every text was already checked for every kind: nothing found
    kinds = found(guard.screen if guard is not None else builtin_scanner(), query)
    return Bypass(f"the question holds {describe(kinds)}: not cached") if kinds else None


async def stage(ctx: RequestContext, state: "GatewayState") -> None:
    cache = state.cache
    assert ctx.principal is not None and ctx.fields is not None and ctx.route is not None
    cache_plan = plan(ctx.op, ctx.fields, ctx.request.headers, ctx.principal, ctx.route.alias,
                      state.settings.cache, ctx.route.cache)
    bypass = cache_plan if isinstance(cache_plan, Bypass) else screen_question(ctx, cache_plan.query)
    if bypass is not None:
        ctx.cache_status, ctx.cache_note = CacheStatus.BYPASS, bypass.reason
        return None
    ctx.cache_plan = cache_plan
    ctx.cache_status = CacheStatus.MISS
    if not ctx.cache_plan.read:
        return None
    entry = cache.exact(state.db, ctx.cache_plan, ctx.ts)
    status = CacheStatus.HIT
    if entry is None:
        entry, ctx.cache_vector, ctx.cache_note = await cache.similar(ctx.cache_plan, ctx.ts)
        status = CacheStatus.SEMANTIC_HIT
        if entry is None:
            return None
    else:
        cache.touch(entry.id)
    ctx.cache_found = (status, entry)  # answered once admitted
    return None
