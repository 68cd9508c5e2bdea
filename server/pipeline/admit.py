"""admit: rate and budget admission, for cache hits and misses alike; the one place a
request is refused for its limits.

A hit (found by `lookup`) counts one request against the key's requests per minute and
costs no budget; then it is answered from the cache. A miss counts against the key's
requests and tokens per minute and holds its worst case (`server.pipeline.limits`) against
every budget that applies, in one BEGIN IMMEDIATE transaction: all of it or none of it (a
request a budget refuses is not counted). `settle` later turns what was held into what was
really used; `respond` reports the rate window in `x-ratelimit-*` headers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import msgspec

from server.core.errors import BudgetExceeded, InvalidRequest, RateLimited
from server.pipeline import output_cap, respond
from server.pipeline.context import RequestContext
from server.pipeline.limits import WorstCase, worst_case
from server.store import budgets as budget_store
from server.store.db import immediate
from server.store.ratelimits import Admission, admit_in
from server.core.wire import encode

if TYPE_CHECKING:
    from server.runtime.state import GatewayState


@dataclass(frozen=True, slots=True)
class RatePlan:
    """What the request counts against the key's per-minute limits."""

    rpm: int | None
    tpm: int | None
    tokens: int


class OverBudgetLimit(InvalidRequest):
    """The request's worst case is larger than a budget's whole limit: no wait can help,
    only a smaller max_tokens (or prompt). A 400, so clients do not retry it as they do 429s."""

    code = "request_exceeds_budget"


def rate_refusal(admission: Admission, plan: RatePlan, key_name: str) -> RateLimited:
    headers = respond.rate_headers(admission)
    headers["Retry-After"] = str(max(1, math.ceil(admission.retry_after_s)))
    if admission.refused_by == "tokens" and plan.tpm and plan.tokens > plan.tpm:
        message = (f"This request may use up to {plan.tokens} tokens, more than the key's limit of "
                   f"{plan.tpm} tokens per minute; lower max_tokens.")
    else:
        limit = plan.rpm if admission.refused_by == "requests" else plan.tpm
        message = (f"Rate limit reached for key '{key_name}': {limit} {admission.refused_by} per minute. "
                   f"Try again in {headers['Retry-After']} s.")
    return RateLimited(message, kind=admission.refused_by or "requests", headers=headers)


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


def _budget_message(r: budget_store.Refusal) -> str:
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


def _apply(ctx: RequestContext, worst: WorstCase) -> None:
    """The worst case onto the request: its bounds, and the output limit it must now carry."""
    ctx.worst_in, ctx.worst_out, ctx.answers = worst.input, worst.output, worst.answers
    if worst.max_tokens is not None:
        assert ctx.fields is not None and ctx.view is not None
        ctx.fields["max_tokens"] = msgspec.Raw(encode(worst.max_tokens))
        ctx.view = msgspec.structs.replace(ctx.view, max_tokens=worst.max_tokens)  # type: ignore[arg-type]


def _hit(ctx: RequestContext, state: "GatewayState") -> None:
    """A hit counts as a request (tokens: none were generated); then it is the answer."""
    p, found = ctx.principal, ctx.cache_found
    assert p is not None and found is not None
    if p.rpm or p.tpm:
        plan = ctx.rate_plan = RatePlan(p.rpm, p.tpm, 0)
        with immediate(state.db):
            ctx.rate = admit_in(state.db, p.key_id, p.rpm, None, 0, ctx.ts)
        if not ctx.rate.allowed:
            raise rate_refusal(ctx.rate, plan, p.name)
    ctx.cache_status, ctx.cache_hit = found


async def stage(ctx: RequestContext, state: "GatewayState") -> None:
    if ctx.cache_found is not None:
        _hit(ctx, state)
        return
    p = ctx.principal
    assert p is not None and ctx.fields is not None and ctx.view is not None
    limited = bool(p.rpm or p.tpm)
    budgets = state.auth.budgets(state.db, p.key_id, p.team_id) if p.budgeted else []
    if not limited and not budgets:
        return
    worst = worst_case(ctx.fields, ctx.view, ctx.op, state.settings.budgets)
    _apply(ctx, worst)
    plan = ctx.rate_plan = RatePlan(p.rpm, p.tpm, worst.input + worst.output if p.tpm else 0) if limited else None
    usd = tokens = 0
    price_in = price_out = 0.0
    if budgets:
        worst_out = worst.output
        if state.settings.budgets.cut_streams:  # room for output_cap's count of bytes
            worst_out = ctx.held_out = output_cap.held(worst_out)
        price_in = max(t.price_in for t in ctx.targets)
        price_out = max(t.price_out for t in ctx.targets)
        usd = (worst.input * price_in + worst_out * price_out) / 1_000_000
        tokens = worst.input + worst_out
    with immediate(state.db):  # a raise rolls back both
        if plan is not None:
            admission = admit_in(state.db, p.key_id, plan.rpm, plan.tpm, plan.tokens, ctx.ts)
            ctx.rate = admission
            if not admission.allowed:
                raise rate_refusal(admission, plan, p.name)
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
                raise BudgetExceeded(_budget_message(refused), headers={"Retry-After": str(retry)})
    ctx.budgets = budgets
    ctx.reserved_usd, ctx.reserved_tokens = usd, tokens
