"""The request path, in order. Each stage is one module with `stage(ctx, state)`.

    authenticate -> parse -> guard_input -> resolve -> lookup -> admit
    -> dispatch -> guard_output + respond -> settle -> record

After an admitted cache hit the stages stop, and the answer comes from the cache. settle
and record run once for every request, however it ended (`finish`), and before the
answer's last byte goes out: the budget and the ledger know of every answer a client holds.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from functools import partial
from time import perf_counter
from typing import TYPE_CHECKING

from server.core.errors import GatewayError
from server.core.exchange import ClientGone, Incoming, JsonOut, StreamOut
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
from server.core.wire import Op

if TYPE_CHECKING:
    from server.runtime.state import GatewayState

STAGES = (
    ("authenticate", authenticate.stage),
    ("parse", parse.stage),
    ("guard_input", guard_input.stage),
    ("resolve", resolve.stage),
    ("lookup", lookup.stage),
    ("admit", admit.stage),
    ("dispatch", dispatch.stage),
)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(10)


def request_id(scope: dict) -> str:
    """The request's id, made once and kept in the ASGI scope for every error path."""
    rid = scope.get("gate_request_id")
    if rid is None:
        rid = scope["gate_request_id"] = new_request_id()
    return rid


def finish(ctx: RequestContext, state: GatewayState) -> Awaitable[None]:
    """settle and record, once per request however it ended. Await the result before the
    answer's last byte: then the spend and the ledger row are in the file."""
    settle.stage(ctx, state)
    return record.stage(ctx, state)


async def handle(request: Incoming, state: GatewayState, op: Op) -> JsonOut | StreamOut:
    """Run the stages, then answer. `finish` is handed once: to the answer when there is
    one (it runs it), else run here for the failure."""
    ctx = RequestContext(request=request, op=op, request_id=request_id(request.scope))
    done = partial(finish, ctx, state)
    marks = ctx.marks
    try:
        for name, run in STAGES:
            start = perf_counter()
            try:
                await run(ctx, state)
            finally:  # a failed stage is in the trace too
                marks.append((name, start, perf_counter()))
            if ctx.cache_hit is not None:
                break  # admitted: answered from the cache
        return respond.answer(ctx, state, done)  # guard_output may still refuse a JSON answer
    except GatewayError as error:
        ctx.fail(error)
        await done()
        raise
    except ClientGone:
        ctx.status, ctx.error = respond.CLIENT_GONE, "client closed the connection"
        done()  # no answer to hold back
        raise
    except Exception as exc:  # a bug: still one ledger row; the caller answers 500
        ctx.status, ctx.error = 500, f"internal error: {type(exc).__name__}"
        await done()
        raise
