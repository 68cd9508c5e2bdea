"""The request path, in order. Each stage is one module with `stage(ctx, state)`.

    authenticate -> parse -> guard_input -> resolve -> lookup -> admit
    -> dispatch -> guard_output + respond -> settle -> record

A stage may answer at once (admit, on an admitted cache hit) by returning the output. settle and
record run once for every request, however it ended (`finish`), and before the answer's
last byte goes out: the budget and the ledger know of every answer a client holds.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from time import perf_counter
from typing import TYPE_CHECKING

from server.errors import GatewayError
from server.http import ClientGone, Incoming, JsonOut, StreamOut
from server.pipeline import (
    admit,
    authenticate,
    dispatch,
    guard_input,
    lookup,
    parse,
    record,
    resolve,
    respond,
    settle,
)
from server.pipeline.context import RequestContext
from server.wire import Op

if TYPE_CHECKING:
    from server.state import GatewayState

BEFORE_DISPATCH = (
    ("authenticate", authenticate.stage),
    ("parse", parse.stage),
    ("guard_input", guard_input.stage),
    ("resolve", resolve.stage),
    ("lookup", lookup.stage),
    ("admit", admit.stage),
)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(10)


def request_id(scope: dict) -> str:
    """The request's id, made once and kept in the ASGI scope for every error path."""
    rid = scope.get("gate_request_id")
    if rid is None:
        rid = scope["gate_request_id"] = new_request_id()
    return rid


def finish(ctx: RequestContext, state: GatewayState) -> Awaitable[None] | None:
    """settle and record, once per request however it ended. Await the result (when there
    is one) before the answer's last byte: then the spend and the ledger row are in the file."""
    if ctx.finished:
        return None
    ctx.finished = True
    if ctx.holding is not None:
        ctx.holding.inflight -= 1
        ctx.holding = None
    settle.stage(ctx, state)
    return record.stage(ctx, state)


async def finished(ctx: RequestContext, state: GatewayState) -> None:
    done = finish(ctx, state)
    if done is not None:
        await done


async def handle(request: Incoming, state: GatewayState, op: Op) -> JsonOut | StreamOut:
    ctx = RequestContext(request=request, op=op, request_id=request_id(request.scope))
    early = None
    marks = ctx.marks
    try:
        for name, run in (*BEFORE_DISPATCH, ("dispatch", dispatch.stage)):
            start = perf_counter()
            try:
                early = await run(ctx, state)
            finally:  # a failed stage is in the trace too
                marks.append((name, start, perf_counter()))
            if early is not None:
                break
        if early is None and not ctx.stream:
            early = respond.json_out(ctx)  # guard_output may still refuse the answer
    except GatewayError as error:
        ctx.fail(error)
        await finished(ctx, state)
        raise
    except ClientGone:
        ctx.status, ctx.error = respond.CLIENT_GONE, "client closed the connection"
        finish(ctx, state)  # no answer to hold back
        raise
    except Exception as exc:  # a bug: still one ledger row; the caller answers 500
        ctx.status, ctx.error = 500, f"internal error: {type(exc).__name__}"
        await finished(ctx, state)
        raise
    if isinstance(early, StreamOut):
        early.finish = lambda: finish(ctx, state)
        return early
    if early is None:
        return respond.stream_out(ctx, state, lambda: finish(ctx, state))
    early.finish = lambda: finish(ctx, state)  # the caller runs it before the answer goes out
    return early
