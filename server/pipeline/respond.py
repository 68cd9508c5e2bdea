"""respond: the OpenAI JSON answer, or the SSE stream relayed chunk by chunk.

The relay reads only what it must of each chunk (usage, text for local counting), drops the
usage chunk the gateway asked for when the client did not, and ends a failed stream with an
error event, never with a clean-looking [DONE].
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from time import perf_counter
from typing import TYPE_CHECKING

import msgspec

from server.cache import render as cache_render
from server.core.errors import (
    GatewayError,
    UpstreamBadResponse,
    UpstreamUnavailable,
    render,
)
from server.core.exchange import JsonOut, StreamOut
from server.core.names import CACHE_HEADER, CACHE_SIMILARITY_HEADER, REQUEST_ID_HEADER, CacheStatus
from server.pipeline import guard_output, output_cap
from server.pipeline.context import RequestContext
from server.pipeline.output_cap import OutputCap
from server.core.sse import DONE_EVENT, event
from server.store.ratelimits import Admission
from server.core.wire import (
    ChunkView,
    chunk_text,
    decode_chunk,
    decode_fields,
    decode_reply,
    encode,
)

if TYPE_CHECKING:
    from server.runtime.state import GatewayState

CLIENT_GONE = 499  # nginx's convention: the client closed the connection


def rate_headers(admission: Admission) -> dict[str, str]:
    out = {}
    for lim in admission.limits:
        out[f"x-ratelimit-limit-{lim.kind}"] = str(lim.limit)
        out[f"x-ratelimit-remaining-{lim.kind}"] = str(lim.remaining)
        out[f"x-ratelimit-reset-{lim.kind}"] = f"{lim.reset_s:.3f}s"
    return out


def headers(ctx: RequestContext) -> dict[str, str]:
    out = {REQUEST_ID_HEADER: ctx.request_id}
    if ctx.target is not None:
        out["x-gate-provider"] = ctx.target.provider.name
        out["x-gate-upstream-model"] = ctx.target.upstream_model
    calls = [a for a in ctx.attempts if not a.endswith("=open")]
    out["x-gate-attempts"] = str(len(calls))
    first_tier = ctx.route.tiers[0] if ctx.route is not None else []
    out["x-gate-fallback"] = "true" if ctx.target is not None and ctx.target not in first_tier else "false"
    if ctx.rate is not None:
        out.update(rate_headers(ctx.rate))
    if ctx.cache_status is not None:
        out[CACHE_HEADER] = ctx.cache_status
        if ctx.cache_hit is not None and ctx.cache_status == CacheStatus.SEMANTIC_HIT:
            out[CACHE_SIMILARITY_HEADER] = f"{ctx.cache_hit.similarity:.4f}"
    return out


Finish = Callable[[], Awaitable[None] | None]


def answer(ctx: RequestContext, state: GatewayState, finish: Finish) -> JsonOut | StreamOut:
    """The answer: a cache hit, the relayed stream, or the JSON reply. `finish` (settle and
    record) runs exactly once: the caller of a JsonOut awaits it before sending; a stream
    runs it itself, before its last event or when it is cut off."""
    if ctx.cache_hit is not None:
        return cached_out(ctx, finish)
    if ctx.stream:
        return stream_out(ctx, state, finish)
    return json_out(ctx, finish)


def json_out(ctx: RequestContext, finish: Finish) -> JsonOut:
    reply = ctx.reply
    assert reply is not None
    ctx.usage = reply.usage
    keep = ctx.cache_plan is not None or (ctx.principal is not None and ctx.principal.log_bodies)
    if reply.usage is None or keep:  # the text: to count it, to cache it, or to trace it
        view = decode_reply(reply.body)
        if not ctx.collect:  # a collected answer's text is in output_text already, delta by delta
            ctx.output_text.append(view.text())
        ctx.finish_reason = view.choices[0].finish_reason if view.choices else None
    ctx.ttfb_ms = ctx.elapsed_ms()
    return JsonOut(guard_output.json_body(ctx, reply.body), reply.status, headers(ctx), finish)


def cached_out(ctx: RequestContext, finish: Finish) -> JsonOut | StreamOut:
    """A cache hit, as JSON or replayed as a stream; the hit is recorded like any request."""
    entry = ctx.cache_hit
    assert entry is not None
    ctx.ttfb_ms = ctx.elapsed_ms()
    if not ctx.stream:
        return JsonOut(guard_output.json_body(ctx, cache_render.body(entry, ctx.op)), 200, headers(ctx), finish)
    guard = guard_output.StreamFilter(ctx) if guard_output.needed(ctx) else None

    async def replay() -> AsyncIterator[bytes]:
        ending = [DONE_EVENT]
        try:
            try:
                for data in cache_render.chunks(entry, ctx.op, ctx.client_wants_usage):
                    yield event(guard(data) if guard is not None else data)
            except GatewayError as error:
                ctx.fail(error)
                ending = [event(render(error))]
        except BaseException:  # the client went away (cancel) or the server is stopping
            ctx.status, ctx.error = CLIENT_GONE, "client closed the connection"
            finish()  # no answer to hold back
            raise
        await settled(finish)  # in the ledger before the last event
        for data in ending:
            yield data

    return StreamOut(replay(), {**headers(ctx), "Cache-Control": "no-cache"})


async def settled(finish: Finish) -> None:
    done = finish()
    if done is not None:
        await done


def _without_usage(data: bytes) -> bytes:
    fields = decode_fields(data)
    fields.pop("usage", None)
    return encode(fields)


async def _usage_after(ctx: RequestContext, events: AsyncIterator[bytes]) -> None:
    """The upstream finished an answer the gateway then refused (an output guardrail): the
    usage chunk that follows is still its bill. Read a few more events for it, no more."""
    try:
        async with asyncio.timeout(1.0):
            for _ in range(4):
                data = await anext(events)
                chunk = decode_chunk(data)
                if chunk.usage is not None:
                    ctx.usage = chunk.usage
                    return
                if chunk_text(chunk):
                    return  # still generating: not an end
    except (TimeoutError, StopAsyncIteration, GatewayError, msgspec.DecodeError, msgspec.ValidationError):
        return


async def relay(ctx: RequestContext, state: GatewayState, finish: Finish) -> AsyncIterator[bytes]:
    chunks = ctx.chunks
    assert chunks is not None
    finished = False
    # A budgeted stream may not outgrow what its budgets hold (an upstream ignoring max_tokens).
    cap = OutputCap(ctx, state) if output_cap.applies(ctx, state) else None
    guard = guard_output.StreamFilter(ctx) if guard_output.needed(ctx) else None
    first_text = last_text = None  # when the first and the last text arrived (perf_counter)
    events = aiter(chunks)  # one iterator, so what follows an error can still be read
    ending = [DONE_EVENT]  # what follows the last chunk, once settled and in the ledger
    try:
        try:
            async for data in events:
                try:
                    chunk: ChunkView = decode_chunk(data)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    raise UpstreamBadResponse(
                        f"upstream '{ctx.target.provider.name}' sent a malformed stream chunk"  # type: ignore[union-attr]
                    ) from None
                if chunk.error is not None:
                    ctx.status, ctx.error = 502, f"upstream error event: {str(chunk.error)[:300]}"
                    ending = [event(data)]
                    break
                text = chunk_text(chunk)
                if text:
                    last_text = perf_counter()
                    first_text = first_text or last_text
                    ctx.output_text.append(text)
                if cap is not None and chunk.choices:
                    cap.add(data)
                for c in chunk.choices:
                    if c.finish_reason:
                        finished, ctx.finish_reason = True, c.finish_reason
                if chunk.usage is not None:
                    ctx.usage = chunk.usage
                    if not ctx.client_wants_usage:
                        if not chunk.choices:
                            continue
                        data = _without_usage(data)
                if guard is not None and chunk.choices:
                    data = guard(data)
                if ctx.ttfb_ms is None and (guard.delivered if guard is not None else text):
                    ctx.ttfb_ms = ctx.elapsed_ms()  # time to first token: the first text the client gets
                yield event(data)
                if cap is not None and cap.stop is not None:
                    raise cap.stop
            else:
                if not (chunks.done or finished):
                    raise UpstreamUnavailable(
                        f"upstream '{ctx.target.provider.name}' ended the stream early")  # type: ignore[union-attr]
        except GatewayError as error:
            ctx.fail(error)
            if finished and ctx.usage is None:
                await _usage_after(ctx, events)
            held = guard.rest() if guard is not None else None
            ending = [event(held)] if held is not None else []
            ending.append(event(render(error)))
        finally:
            await chunks.aclose()
            _generation(ctx, chunks, first_text, last_text)
    except BaseException:  # the client went away (cancel) or the server is stopping
        ctx.status, ctx.error = CLIENT_GONE, "client closed the connection"
        finish()  # no answer to hold back
        raise
    await settled(finish)  # settled and in the ledger before the client sees the stream end
    for data in ending:
        yield data


def _generation(ctx: RequestContext, chunks, first_text: float | None, last_text: float | None) -> None:
    """The generation, first token to last: as the provider saw it (the built-in model's
    thread), else as the chunks arrived."""
    first = getattr(chunks, "first_token_at", None) or first_text
    if first is not None:
        ctx.generation = (first, getattr(chunks, "last_token_at", None) or last_text or first)


def stream_out(ctx: RequestContext, state: GatewayState, finish: Finish) -> StreamOut:
    return StreamOut(relay(ctx, state, finish),
                     {**headers(ctx), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

