"""authenticate: bearer virtual key -> principal (hashed lookup, constant-time compare)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from server.core.errors import Unauthorized
from server.pipeline.context import RequestContext
from server.store.keys import Principal

if TYPE_CHECKING:
    from server.runtime.state import GatewayState

_MISSING = ("Missing API key: send 'Authorization: Bearer <key>' with a key made by "
            "'gate keys create'.")
_INVALID = "Invalid API key: it is unknown, revoked or expired."


# Exactly "Bearer", one space, the token: one run of visible ASCII characters. The scheme is
# case-insensitive (RFC 7235); anything else (two spaces, a tab, whitespace around the token,
# control or non-ASCII characters) is not a bearer token, so every header parses one way.
_BEARER = re.compile(r"(?i:bearer) ([\x21-\x7e]+)")


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    match = _BEARER.fullmatch(header)
    return match.group(1) if match else None


def principal(headers: Mapping[str, str], state: GatewayState, now: float) -> Principal:
    """The caller behind the request's bearer key (headers by lower-case name), or
    Unauthorized. The stage uses it, and so does every route that needs a key."""
    token = bearer(headers.get("authorization"))
    if token is None:
        raise Unauthorized(_MISSING, code="missing_api_key")
    found = state.auth.principal(state.db, token, now)
    if found is None:
        raise Unauthorized(_INVALID)
    return found


async def stage(ctx: RequestContext, state: GatewayState) -> None:
    ctx.principal = principal(ctx.request.headers, state, ctx.ts)
