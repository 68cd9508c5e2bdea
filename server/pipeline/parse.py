"""parse: body limit, UTF-8, JSON; decode only the fields the gateway needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from server.core import json_limits
from server.core.errors import BodyTooLarge, InvalidRequest
from server.pipeline.context import RequestContext
from server.core.wire import VIEW_DECODERS, ChatView, decode_fields

if TYPE_CHECKING:
    from server.runtime.state import GatewayState


def _param(message: str) -> tuple[str | None, str]:
    """msgspec's '... - at `$.messages[0].role`' -> ('messages[0].role', '...')."""
    marker = " - at `$"
    if marker in message:
        head, _, tail = message.partition(marker)
        return tail.rstrip("`").lstrip(".") or None, head
    return None, message


async def read_body(ctx: RequestContext, limit: int) -> bytes:
    length = ctx.request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise BodyTooLarge(f"request body is {length} bytes; the limit is {limit}")
    return await ctx.request.body(limit)


async def stage(ctx: RequestContext, state: GatewayState) -> None:
    body = await read_body(ctx, state.settings.server.max_body_bytes)
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        ctx.fields = json_limits.decode_checked(decode_fields, body)
        view = VIEW_DECODERS[ctx.op](body)
    except msgspec.ValidationError as exc:
        param, message = _param(str(exc))
        if ctx.fields is None:
            raise InvalidRequest("request body must be a JSON object") from None
        raise InvalidRequest(f"invalid request: {message}" + (f" at '{param}'" if param else ""),
                             param=param) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    except json_limits.JsonLimitError as exc:
        raise InvalidRequest(f"request body is not accepted: {exc}", code="json_limit") from None
    if isinstance(view, ChatView) and not view.messages:
        raise InvalidRequest("'messages' must not be empty", param="messages")
    ctx.view = view
    ctx.alias = view.model
    ctx.stream = bool(view.stream)
    so = getattr(view, "stream_options", None)
    ctx.client_wants_usage = bool(so and so.include_usage)
