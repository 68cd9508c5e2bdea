"""reserve: hold the worst-case cost against every budget that applies, atomically."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from server.core.errors import BudgetExceeded, InvalidRequest
from server.pipeline import output_cap, throttle
from server.pipeline.context import RequestContext
from server.pipeline.limits import worst_case
from server.store import budgets as budget_store
from server.store.db import immediate
from server.store.ratelimits import admit_in

if TYPE_CHECKING:
    from server.runtime.state import GatewayState


class OverBudgetLimit(InvalidRequest):
    """The request's worst case is larger than a budget's whole limit: no wait can help,
    only a smaller max_tokens (or prompt). A 400, so clients do not retry it as they do 429s."""

    code = "request_exceeds_budget"


def never_fits(ctx: RequestContext, budgets: list[budget_store.Budget], usd: float, tokens: int,
               price_in: float, price_out: float) -> OverBudgetLimit | None:
    """The refusal for a worst case over some budget's whole limit (even with nothing spent)."""
    # Each token of max_tokens is held once per answer, and four times over for output_cap,
    # which holds its lookahead besides.
    worst_in, held = ctx.worst_in or 0, ctx.held_out or ctx.worst_out
    choices = ctx.answers * (output_cap.HELD_BYTES_PER_TOKEN if ctx.held_out else 1)
    fixed = output_cap.LOOKAHEAD if ctx.held_out else 0
    over: list[tuple[str, str, budget_store.Budget]] = []
    rooms: list[int] = []  # the largest max_tokens each exceeded limit allows
    for b in budgets:
        if b.limit_tokens is not None and tokens > b.limit_tokens:
            over.append((f"{tokens} tokens", f"{b.limit_tokens} tokens", b))
            rooms.append((b.limit_tokens - worst_in - fixed) // choices)
        if b.limit_usd is not None and usd > b.limit_usd + 1e-12:
            over.append((f"${usd:.6g}", f"${b.limit_usd:.6g}", b))
            left = b.limit_usd - worst_in * price_in / 1_000_000
            rooms.append(math.floor((left * 1_000_000 / price_out - fixed) / choices) if price_out > 0 else 0)
    if not over:
        return None
    worst, limit, b = over[0]
    head = (f"This request's worst case of {worst} ({worst_in} prompt tokens at most + {held} "
            f"output tokens held) exceeds the whole limit of {limit} of the budget of {b.scope} "
            f"'{b.owner_name}' ({b.period}): waiting will not help")
    room = min(rooms)
    if room >= 1:
        return OverBudgetLimit(f"{head}; set max_tokens <= {room}.", param="max_tokens")
    return OverBudgetLimit(f"{head}; the prompt alone is too large for it.")


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
    price_in = price_out = 0.0
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
                                              state.settings.budgets.reservation_ttl_s,
                                              budget_store.InFlight(ctx.op, ctx.alias, p.key_id, p.team_id))
            if refused is not None:
                ctx.rate = None  # rolled back: it was not counted
                too_big = never_fits(ctx, budgets, usd, tokens, price_in, price_out)
                if too_big is not None:
                    raise too_big
                retry = 1 if refused.enough_without_holds else max(1, math.ceil(refused.resets_at - ctx.ts))
                raise BudgetExceeded(_message(refused), headers={"Retry-After": str(retry)})
    ctx.budgets = budgets
    ctx.reserved_usd, ctx.reserved_tokens = usd, tokens
