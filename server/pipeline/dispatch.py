"""dispatch: try the route's targets until one accepts the request.

Tiers are tried in order; inside a tier the balancer picks the order. A target whose
breaker is open is skipped. 429, 5xx and timeouts are retried on the same target with
exponential backoff and jitter (an upstream's Retry-After is honoured when short), then the
next target is tried; a refused connection moves on at once; a 4xx client error is final.
All of this happens before the first byte goes to the client: a stream counts as accepted
once its first event has arrived.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from time import perf_counter
from typing import TYPE_CHECKING, Any

import msgspec

from server.core.errors import (
    GatewayError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from server.pipeline import collect
from server.pipeline.context import RequestContext
from server.providers.base import ChunkStream, UpstreamCall
from server.routing import balance
from server.routing.monitor import ProviderHealth
from server.routing.plan import plan
from server.routing.target import Target
from server.core.wire import INCLUDE_USAGE, RAW_TRUE, RawFields, encode, raw_str

if TYPE_CHECKING:
    from server.runtime.state import GatewayState


def retryable(error: GatewayError) -> bool:
    if isinstance(error, UpstreamError):
        return error.retryable
    return isinstance(error, (UpstreamUnavailable, ServiceUnavailable))


def breaks(error: GatewayError) -> bool:
    """Does this failure count against the provider's breaker? (429 means alive but busy.)"""
    if isinstance(error, UpstreamError):
        return error.status >= 500
    return isinstance(error, (UpstreamUnavailable, ServiceUnavailable))


def upstream_fields(ctx: RequestContext, target: Target, stream: bool) -> RawFields:
    """The client's body with the upstream model name; streams always ask for usage."""
    assert ctx.fields is not None
    fields = dict(ctx.fields)
    fields["model"] = raw_str(target.upstream_model)
    if stream and not ctx.stream:  # a budgeted JSON answer, fetched as a stream (collect)
        fields["stream"] = RAW_TRUE
    if stream:
        existing = fields.get("stream_options")
        options = msgspec.json.decode(existing) if existing is not None else None
        if isinstance(options, dict) and options:
            options["include_usage"] = True
            fields["stream_options"] = msgspec.Raw(encode(options))
        else:  # missing, null or {}
            fields["stream_options"] = INCLUDE_USAGE
    return fields


def backoff_s(attempt: int, error: GatewayError, state: "GatewayState") -> float | None:
    """How long to wait before trying the same target again; None: move on instead."""
    r = state.settings.routing
    after = error.headers.get("Retry-After") if isinstance(error, UpstreamError) else None
    if after is not None:
        try:
            wait = float(after)
        except ValueError:
            wait = None
        if wait is not None:
            return wait if wait <= r.max_retry_after_s else None
    ceiling = min(r.backoff_max_ms, r.backoff_base_ms * 2 ** attempt) / 1000
    return random.uniform(ceiling / 2, ceiling)  # exponential, with jitter


class HeldStream:
    """A provider's stream, counted in flight on its provider until it is closed (by the
    relay, or by collect)."""

    __slots__ = ("stream", "health")

    def __init__(self, stream: ChunkStream, health: ProviderHealth) -> None:
        self.stream = stream
        self.health: ProviderHealth | None = health

    def __getattr__(self, name: str) -> Any:  # done, first_token_at, last_token_at
        return getattr(self.stream, name)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.stream.__aiter__()

    async def aclose(self) -> None:
        health, self.health = self.health, None  # a second close releases nothing
        if health is not None:
            health.inflight -= 1
        await self.stream.aclose()


async def _call(ctx: RequestContext, target: Target, state: "GatewayState") -> None:
    """One call to the provider, counted in flight on it for as long as it lasts: a JSON
    answer until it has arrived, a stream until it is closed (HeldStream)."""
    ctx.collect = collect.applies(ctx, state)  # ctx.target is this target
    stream = ctx.stream or ctx.collect
    call = UpstreamCall(ctx.op, upstream_fields(ctx, target, stream), ctx.view,  # type: ignore[arg-type]
                        target.upstream_model, stream, ctx.request_id)
    health = target.health
    health.inflight += 1
    if not stream:
        try:
            ctx.reply = await target.provider.send(call)
        finally:
            health.inflight -= 1
        return
    try:
        opened = await target.provider.open_stream(call)
    except BaseException:
        health.inflight -= 1
        raise
    ctx.chunks = HeldStream(opened, health)


async def _try(ctx: RequestContext, target: Target, state: "GatewayState") -> GatewayError | None:
    """Up to 1 + retries calls to one target; None on success, else the last error."""
    health = target.health
    for attempt in range(1 + state.settings.routing.retries):
        ctx.target = target
        started = perf_counter()
        try:
            await _call(ctx, target, state)
        except GatewayError as exc:
            error = exc
        except Exception as exc:  # a bug in a provider: noted on the attempt, then a 500
            ctx.attempt_marks.append((target.label, started, perf_counter(), 500,
                                      type(exc).__name__, target.provider.address))
            health.failed += 1
            health.last_error = f"internal error: {type(exc).__name__}"
            ctx.attempts.append(f"{target.label}=500")
            raise
        else:
            ctx.attempt_marks.append((target.label, started, perf_counter(), 200, None, target.provider.address))
            health.breaker.success()
            health.tripped_by_check = False
            health.served += 1
            ctx.attempts.append(f"{target.label}=ok")
            return None
        ctx.attempt_marks.append((target.label, started, perf_counter(), error.status,
                                  type(error).__name__, target.provider.address))
        health.failed += 1
        health.last_error = error.message
        ctx.attempts.append(f"{target.label}={error.status}")
        if breaks(error):
            health.breaker.failure()
        if not retryable(error):
            raise error
        refused = isinstance(error, UpstreamUnavailable) and not isinstance(error, UpstreamTimeout)
        if refused or not health.breaker.allow() or attempt == state.settings.routing.retries:
            return error
        wait = backoff_s(attempt, error, state)
        if wait is None:
            return error
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


async def stage(ctx: RequestContext, state: "GatewayState") -> None:
    route = ctx.route
    assert route is not None and ctx.view is not None and ctx.principal is not None
    tiers = plan(route.tiers, ctx.view, state.settings, ctx.principal, ctx.must_stay_local, ctx.route_notes,
                 ctx.op)
    last: GatewayError | None = None
    for tier in tiers:
        for target in balance.order(tier, route.balance, route.weights):
            if not target.health.breaker.allow():
                ctx.attempts.append(f"{target.label}=open")
                continue
            error = await _try(ctx, target, state)
            if error is None:
                if ctx.collect:
                    await collect.stage(ctx, state)
                return
            last = error
    if last is not None:
        raise last
    waits = [t.health.breaker.retry_in() for tier in tiers for t in tier]
    retry = max(1, int(min(waits) + 0.999)) if waits else 1
    raise ServiceUnavailable(f"Every target of model '{route.alias}' is failing (circuit breakers open); "
                             f"try again in {retry} s.", code="upstreams_unavailable",
                             headers={"Retry-After": str(retry)})
