"""dispatch: try the alias's targets in order until one accepts the request.

Failover happens only here, before the first byte goes to the client: a stream counts as
accepted once the upstream answered 2xx with an event stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from server.errors import GatewayError, ServiceUnavailable, UpstreamError, UpstreamUnavailable
from server.pipeline.context import RequestContext
from server.providers.base import Target, UpstreamCall
from server.wire import INCLUDE_USAGE, RawFields, encode, raw_str

if TYPE_CHECKING:
    from server.state import GatewayState


def retryable(error: GatewayError) -> bool:
    if isinstance(error, UpstreamError):
        return error.retryable
    return isinstance(error, (UpstreamUnavailable, ServiceUnavailable))


def upstream_fields(ctx: RequestContext, target: Target) -> RawFields:
    """The client's body with the upstream model name; streams always ask for usage."""
    assert ctx.fields is not None
    fields = dict(ctx.fields)
    fields["model"] = raw_str(target.upstream_model)
    if ctx.stream:
        existing = fields.get("stream_options")
        options = msgspec.json.decode(existing) if existing is not None else None
        if isinstance(options, dict) and options:
            options["include_usage"] = True
            fields["stream_options"] = msgspec.Raw(encode(options))
        else:  # missing, null or {}
            fields["stream_options"] = INCLUDE_USAGE
    return fields


async def stage(ctx: RequestContext, state: GatewayState) -> None:
    last: GatewayError | None = None
    for target in ctx.targets:
        call = UpstreamCall(ctx.op, upstream_fields(ctx, target), ctx.view, target.upstream_model,  # type: ignore[arg-type]
                            ctx.stream, ctx.request_id)
        ctx.target = target
        try:
            if ctx.stream:
                ctx.chunks = await target.provider.open_stream(call)
            else:
                ctx.reply = await target.provider.send(call)
        except GatewayError as error:
            ctx.attempts.append(f"{target.label}={error.status}")
            if not retryable(error):
                raise
            last = error
            continue
        ctx.attempts.append(f"{target.label}=ok")
        return
    assert last is not None
    raise last
