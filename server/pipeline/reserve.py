"""reserve: hold the worst-case cost against every budget that applies, atomically."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from server.errors import BudgetExceeded
from server.pipeline.context import RequestContext
from server.pipeline.limits import worst_case
from server.store import budgets as budget_store

if TYPE_CHECKING:
    from server.state import GatewayState


def _message(r: budget_store.Refusal) -> str:
    b = r.budget
    parts = []
    if b.limit_usd is not None:
        parts.append(f"${r.spent_usd:.4f} of ${b.limit_usd:.2f} spent")
    if b.limit_tokens is not None:
        parts.append(f"{r.spent_tokens} of {b.limit_tokens} tokens used")
    resets = datetime.fromtimestamp(r.resets_at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    held = " (some is held by requests in flight)" if r.enough_without_holds else ""
    return (f"Budget of {b.scope} '{b.owner_name}' cannot cover this request: {', '.join(parts)} "
            f"this period ({b.period}){held}; it resets {resets}.")


async def stage(ctx: RequestContext, state: "GatewayState") -> None:
    p = ctx.principal
    assert p is not None
    if not p.budgeted:
        return
    budgets = state.auth.budgets(state.db, p.key_id, p.team_id)
    if not budgets:
        return
    worst_in, worst_out = worst_case(ctx, state)
    price_in = max(t.price_in for t in ctx.targets)
    price_out = max(t.price_out for t in ctx.targets)
    usd = (worst_in * price_in + worst_out * price_out) / 1_000_000
    refusal = budget_store.reserve(state.db, ctx.request_id, budgets, usd, worst_in + worst_out,
                                   ctx.ts, state.settings.budgets.reservation_ttl_s)
    if refusal is not None:
        retry = 1 if refusal.enough_without_holds else max(1, math.ceil(refusal.resets_at - ctx.ts))
        raise BudgetExceeded(_message(refusal), headers={"Retry-After": str(retry)})
    ctx.budgets = budgets
