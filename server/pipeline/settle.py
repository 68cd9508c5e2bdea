"""settle: the tokens and cost the request really used; reservations become spend.

Runs once per request however it ended (answered, failed, stream cut, client gone). `stage`
measures (no I/O); `apply_in` turns the reservations into spend inside the transaction that
record writes the ledger row in, before the answer's last byte goes out. A reservation
outlives its request only when the worker dies first: then it is charged in full
(server/store/orphans.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import apsw

from server.pipeline.context import RequestContext
from server.store import budgets as budget_store
from server.store.ratelimits import adjust_tokens
from server.tokens import count, count_prompt

if TYPE_CHECKING:
    from server.state import GatewayState


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
    return prompt, completion


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
    tpm = ctx.rate is not None and ctx.rate.allowed and p is not None and p.tpm
    events = []
    total = ctx.input_tokens + ctx.output_tokens
    if ctx.budgets:
        events = budget_store.settle_in(conn, ctx.request_id, ctx.budgets, ctx.cost, total, ctx.ts,
                                        reserved=True)
    if tpm:
        adjust_tokens(conn, p.key_id, ctx.rate.minute,  # type: ignore[union-attr]
                      total - (ctx.worst_in or 0) - ctx.worst_out)
    return events
