"""reserve: hold the worst-case cost against every budget that applies, atomically."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from server.errors import BudgetExceeded
from server.pipeline import output_cap, throttle
from server.pipeline.context import RequestContext
from server.pipeline.limits import worst_case
from server.store import budgets as budget_store
from server.store.db import immediate
from server.store.ratelimits import admit_in

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
    """Count the request against its rate limits and hold its worst case against every
    budget that applies, in one BEGIN IMMEDIATE transaction: all of it or none of it."""
    p = ctx.principal
    assert p is not None
    plan = ctx.rate_plan
    budgets = state.auth.budgets(state.db, p.key_id, p.team_id) if p.budgeted else []
    if plan is None and not budgets:
        return
    usd = tokens = 0
    if budgets:
        worst_in, worst_out = worst_case(ctx, state)
        if state.settings.budgets.cut_streams:  # room for output_cap's count of bytes
            worst_out = ctx.held_out = output_cap.held(worst_out)
        price_in = max(t.price_in for t in ctx.targets)
        price_out = max(t.price_out for t in ctx.targets)
        usd = (worst_in * price_in + worst_out * price_out) / 1_000_000
        tokens = worst_in + worst_out
    with immediate(state.db):  # a raise rolls back both
        if plan is not None:
            admission = admit_in(state.db, p.key_id, plan.rpm, plan.tpm, plan.tokens, ctx.ts)
            ctx.rate = admission
            if not admission.allowed:
                raise throttle.refusal(admission, plan, p.name)
        if budgets:
            refused = budget_store.reserve_in(state.db, ctx.request_id, budgets, usd, tokens, ctx.ts,
                                              state.settings.budgets.reservation_ttl_s)
            if refused is not None:
                retry = 1 if refused.enough_without_holds else max(1, math.ceil(refused.resets_at - ctx.ts))
                ctx.rate = None  # rolled back: it was not counted
                raise BudgetExceeded(_message(refused), headers={"Retry-After": str(retry)})
    ctx.budgets = budgets
    ctx.reserved_usd, ctx.reserved_tokens = usd, tokens
