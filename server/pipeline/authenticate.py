"""authenticate: bearer virtual key -> principal (hashed lookup, constant-time compare)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.errors import Unauthorized
from server.pipeline.context import RequestContext

if TYPE_CHECKING:
    from server.state import GatewayState

_MISSING = ("Missing API key: send 'Authorization: Bearer <key>' with a key made by "
            "'gate keys create'.")
_INVALID = "Invalid API key: it is unknown, revoked or expired."


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def stage(ctx: RequestContext, state: GatewayState) -> None:
    token = bearer(ctx.request.headers.get("authorization"))
    if token is None:
        raise Unauthorized(_MISSING, code="missing_api_key")
    principal = state.auth.principal(state.db, token, ctx.ts)
    if principal is None:
        raise Unauthorized(_INVALID)
    ctx.principal = principal
