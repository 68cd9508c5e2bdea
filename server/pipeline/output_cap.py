"""The output cap the gateway enforces itself, for upstreams that ignore `max_tokens`.

A budgeted request reserves its worst case before it goes upstream; an upstream that
ignores the output limit could still bill past it. So the gateway counts what comes back,
as an upper bound of its tokens: the UTF-8 bytes of every string in each choice's delta
(content, tool calls, refusals, reasoning; not the role) or text, and one for a choice that
shows no text and does not finish (a token without text). No tokenizer makes more tokens
than bytes (see `server.core.prompt_bound`), so the count never falls short of the tokens an
honest usage report can claim for that text.

A count of bytes runs ahead of the real tokens (about four bytes a token in English, a bit
more in some text), so a budgeted request holds `HELD_BYTES_PER_TOKEN` times its output
limit when it is admitted, and `LOOKAHEAD` more (`held`): an honest answer fits in that and
is never cut. One whose next chunk (as large as its largest so far) would outgrow the hold
first holds more of its budgets (twice as much, else what it needs), in one short
transaction like the reservation's; when the budgets cannot cover it, the answer is cut
before that chunk, with `budget_exceeded` (streams: the SSE error event; JSON answers, which
budgeted requests fetch upstream as streams: a 429). Spend thus never passes a budget, and
an answer that keeps to its `max_tokens` is cut only when it averages more than four bytes
a token and its budget is nearly used up. An answer whose count passes `BYTES_PER_TOKEN`
times its output limit has ignored the limit (no tokenizer averages that many bytes a
token) and is cut as the upstream's fault (502), whatever the budget still holds. Settlement then charges the real usage, never more than was held (see
`server.pipeline.settle`); a cut answer has no usage report, so it is charged its bounds: the
prompt's, and the bytes counted (its tokens cannot have been more). What the upstream
generated and the gateway had not yet read when it cut is billed all the same: the count
can only stop what it has seen.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import apsw
import msgspec

from server.core.errors import BudgetExceeded, UpstreamBadResponse
from server.pipeline.context import RequestContext
from server.core.prompt_bound import CAP
from server.store import budgets as budget_store
from server.store.db import immediate

if TYPE_CHECKING:
    from server.runtime.state import GatewayState

log = logging.getLogger("gate.output_cap")
MIN_STEP = 256  # tokens held at least per extension, so a long answer needs few writes
HELD_BYTES_PER_TOKEN = 4  # what a request holds for its output, per token of its limit
LOOKAHEAD = 64  # held besides: room for the next chunk, so none has to cross the hold
BYTES_PER_TOKEN = 16  # an honest answer's bytes stay below this many times its tokens


def applies(ctx: RequestContext, state: "GatewayState") -> bool:
    """Budgeted answers from servers the gateway does not run (in-process models keep to the
    limit themselves: the gateway passes it to llama.cpp)."""
    return (bool(ctx.budgets) and state.settings.budgets.cut_streams
            and ctx.target is not None and ctx.target.provider.kind == "openai")


def held(worst_out: int) -> int:
    """The output tokens a budgeted request holds when it is admitted."""
    return min(CAP, worst_out * HELD_BYTES_PER_TOKEN + LOOKAHEAD) if worst_out else 0


class _Choice(msgspec.Struct):
    delta: Any = None
    text: Any = None
    finish_reason: Any = None


class _Chunk(msgspec.Struct):
    choices: list[_Choice] = []


_decode = msgspec.json.Decoder(_Chunk).decode


def _strings(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, dict):
        return sum(_strings(v) for v in value.values())
    if isinstance(value, list):
        return sum(_strings(v) for v in value)
    return 0


def output_bytes(data: bytes) -> int:
    """An upper bound of the tokens one stream chunk carries."""
    try:
        chunk = _decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return 0  # the relay refuses it as malformed
    total = 0
    for c in chunk.choices:
        delta = {k: v for k, v in c.delta.items() if k != "role"} if isinstance(c.delta, dict) else c.delta
        n = _strings(delta) + _strings(c.text)
        total += n if n or c.finish_reason else 1  # a token that shows no text still counts
    return total


class OutputCap:
    """Counts one request's output and keeps it within what its budgets hold."""

    def __init__(self, ctx: RequestContext, state: "GatewayState") -> None:
        self.ctx = ctx
        self.state = state
        self.allowance = ctx.held_out  # output tokens held so far
        self.ceiling = max(1, ctx.worst_out) * BYTES_PER_TOKEN
        self.used = 0
        self.biggest = 0  # the largest chunk so far: the next one is expected no larger
        self.stop: BudgetExceeded | None = None  # set: pass on this chunk, then end the answer

    def add(self, data: bytes) -> None:
        """Count one chunk. Raises when the count passed the limit, or the hold (this chunk is
        not passed on); sets `stop` when the budgets cannot cover one more chunk (this one is
        passed on, then the answer ends): cutting before the hold is full keeps what the
        upstream generates meanwhile within what was held."""
        n = output_bytes(data)
        self.used += n
        self.ctx.out_bytes = self.used
        self.biggest = max(self.biggest, n)
        if self.used + self.biggest <= self.allowance:
            return
        if self.used > self.ceiling:
            self.ctx.cut_at = self.used
            name = self.ctx.target.provider.name if self.ctx.target is not None else "?"
            raise UpstreamBadResponse(f"upstream '{name}' ignored the output limit (max_tokens): its "
                                      f"answer passed {self.ceiling} bytes and was cut.")
        self._extend(self.used + self.biggest - self.allowance)

    def _inflight(self) -> budget_store.InFlight:
        p = self.ctx.principal
        return budget_store.InFlight(self.ctx.op, self.ctx.alias, p.key_id if p else None,
                                     p.team_id if p else None)

    def _extend(self, need: int) -> None:
        ctx, settings = self.ctx, self.state.settings.budgets
        price = ctx.target.price_out if ctx.target is not None else 0.0
        big = max(need, min(max(self.allowance, MIN_STEP), self.ceiling + self.biggest - self.allowance))
        for step in dict.fromkeys((big, min(big, 4 * need), need)):
            usd = step * price / 1_000_000
            try:
                with immediate(self.state.db):
                    refused = budget_store.reserve_in(self.state.db, ctx.request_id, ctx.budgets, usd, step,
                                                      time.time(), settings.reservation_ttl_s, self._inflight())
            except apsw.Error as exc:  # cannot prove the room: stop rather than overspend
                log.error("request %s: cannot extend its reservation: %s", ctx.request_id, exc)
                refused = True
            if refused is None:
                self.allowance += step
                ctx.reserved_usd += usd
                ctx.reserved_tokens += step
                return
        ctx.cut_at = self.used
        self.stop = BudgetExceeded("The answer reached what its budget allows and was cut.")
        if self.used > self.allowance:
            raise self.stop
