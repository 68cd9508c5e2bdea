"""The admin HTTP API, guarded by the admin token: what `gate --url` and `gate top` use.

Every route comes from the table in `server.admin.endpoints` and runs its operation; this
module only checks the token, reads the body, and turns a `Refused` into the error envelope.
"""

from __future__ import annotations

import hmac
import inspect
import re

from litestar import Request, Response, Router, route
from litestar.exceptions import InternalServerException

from server.admin.endpoints import ENDPOINTS, PREFIX, Endpoint
from server.admin.refusal import Refused
from server.core.errors import Unauthorized
from server.core.names import REQUEST_ID_HEADER
from server.web.http import unreadable_body
from server.pipeline import request_id
from server.pipeline.authenticate import bearer
from server.runtime.state import GatewayState
from server.core.wire import encode


def _state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    token = bearer(request.headers.get("authorization"))
    if state.admin_token is None:
        raise Unauthorized("The admin API is disabled: set GATE_ADMIN_TOKEN or [admin] token.",
                           code="admin_disabled")
    expected = state.admin_token.reveal().encode()
    if token is None or not hmac.compare_digest(token.encode(), expected):
        raise Unauthorized("Invalid admin token.", code="invalid_admin_token")
    return state


async def _body(request: Request) -> bytes:
    try:
        return await request.body()
    except InternalServerException:  # Litestar's word for a body that ended early or is malformed
        raise unreadable_body() from None


def _first(endpoint: Endpoint, state: GatewayState) -> tuple:
    """What the operation takes before its own arguments."""
    if endpoint.takes == "state":
        return (state,)
    if endpoint.takes == "conn+settings":
        return (state.db, state.settings)
    return (state.db,)


def _handler(endpoint: Endpoint):
    async def handle(request: Request) -> Response:
        state = _state(request)
        body = await _body(request) if endpoint.body is not None else None
        try:
            args = endpoint.arguments(request.path_params, request.query_params.get, body)
            if endpoint.flush:
                await state.ledger.flush()
            result = endpoint.op(*_first(endpoint, state), **args)
            if inspect.isawaitable(result):
                result = await result
        except Refused as exc:
            raise exc.http() from None
        return Response(encode(result), status_code=endpoint.status, media_type="application/json",
                        headers={REQUEST_ID_HEADER: request_id(request.scope)})

    handle.__name__ = handle.__qualname__ = endpoint.name
    litestar_path = re.sub(r"\{(\w+)\}", r"{\1:str}", endpoint.path)
    return route(litestar_path, http_method=endpoint.method, status_code=endpoint.status)(handle)


router = Router(path=PREFIX, route_handlers=[_handler(e) for e in ENDPOINTS])
