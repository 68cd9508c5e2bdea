"""settle: the tokens and cost the request really used; reservations become spend.

Runs once per request however it ended (answered, failed, stream cut, client gone). `stage`
measures (no I/O); `apply_in` turns the reservations into spend inside the transaction that
record writes the ledger row in, before the answer's last byte goes out. A reservation
outlives its request only when the worker dies first: then it is charged in full
(server/store/orphans.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import apsw

from server.pipeline.context import RequestContext
from server.store import budgets as budget_store
from server.store.ratelimits import adjust_tokens
from server.core.tokens import count, count_prompt

if TYPE_CHECKING:
    from server.runtime.state import GatewayState

log = logging.getLogger("gate.settle")
CLIENT_GONE = 499  # as server.pipeline.respond sets it


def usage(ctx: RequestContext) -> tuple[int, int]:
    """Input/output tokens: the upstream's usage, else counted locally (and marked)."""
    if ctx.usage is not None:
        return ctx.usage.prompt_tokens, ctx.usage.completion_tokens
    if ctx.view is None or ctx.target is None or (ctx.reply is None and ctx.chunks is None):
        return 0, 0  # no upstream accepted the request: nothing was used
    exact = ctx.target.provider.count_tokens
    prompt, est_in = count_prompt(ctx.view, exact)
    completion, est_out = count("".join(ctx.output_text), exact)
    ctx.usage_estimated = est_in or est_out
    # Cut by output_cap, or left by its client (499) while output_cap counted it: its bill is
    # unknown, and the upstream may bill a token per byte: charge the bounds.
    if ctx.cut_at is not None or (ctx.status == CLIENT_GONE and ctx.held_out):
        ctx.usage_estimated = True
        return max(prompt, ctx.worst_in or 0), max(completion, ctx.cut_at or 0, ctx.out_bytes)
    return prompt, completion


def charge(ctx: RequestContext, total: int) -> tuple[float, int]:
    """What the budgets are charged: the real usage, never more than the request held.

    The hold bounds what an upstream can bill (server.core.prompt_bound, server.pipeline.
    output_cap); usage past it is a lying upstream or a template that adds more than
    `[budgets] template_tokens`. The ledger row keeps the upstream's figures; the budgets
    stay within their limits, and the log says what to fix."""
    over = ctx.cost > ctx.reserved_usd * (1 + 1e-9) + 1e-12 or total > ctx.reserved_tokens
    if not over:
        return ctx.cost, total
    if ctx.usage is not None:  # the upstream's own report (a cut answer's bounds pass by a chunk)
        log.warning("request %s: upstream '%s' reported %d tokens ($%.6f), more than the %d ($%.6f) "
                    "its request could use; budgets are charged what was held. If its chat template "
                    "adds long system prompts, raise [budgets] template_tokens.", ctx.request_id,
                    ctx.target.provider.name if ctx.target else "?", total, ctx.cost,
                    ctx.reserved_tokens, ctx.reserved_usd)
    return min(ctx.cost, ctx.reserved_usd), min(total, ctx.reserved_tokens)


def stage(ctx: RequestContext, state: "GatewayState") -> None:
    ctx.input_tokens, ctx.output_tokens = usage(ctx)
    ctx.cost = ctx.target.cost(ctx.input_tokens, ctx.output_tokens) if ctx.target else 0.0


def needed(ctx: RequestContext) -> bool:
    """Whether the request holds anything to settle: reservations, or a token count."""
    p = ctx.principal
    return bool(ctx.budgets) or bool(ctx.rate is not None and ctx.rate.allowed and p is not None and p.tpm)


def apply_in(conn: apsw.Connection, ctx: RequestContext) -> list[budget_store.Event]:
    """The request's reservations become its real spend, and its token count its real use,
    inside the caller's transaction; the budget alerts this crossed."""
    p = ctx.principal
    plan = ctx.rate_plan
    tpm = ctx.rate is not None and ctx.rate.allowed and p is not None and p.tpm and plan is not None
    events = []
    total = ctx.input_tokens + ctx.output_tokens
    if ctx.budgets:
        usd, tokens = charge(ctx, total)
        events = budget_store.settle_in(conn, ctx.request_id, ctx.budgets, usd, tokens, ctx.ts, reserved=True)
    if tpm:
        # What admission charged (clamped at 0 there) becomes what was used.
        adjust_tokens(conn, p.key_id, ctx.rate.minute, total - plan.tokens)  # type: ignore[union-attr]
    return events
