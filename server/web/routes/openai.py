"""The OpenAI model listings (the POST endpoints are served by server.web.front)."""

from __future__ import annotations

import time

from litestar import Request, Response, get

from server.core.errors import NotFound
from server.core.names import REQUEST_ID_HEADER
from server.web.http import Incoming
from server.pipeline import authenticate, request_id
from server.runtime.state import GatewayState
from server.core.wire import encode


def gateway(request: Request) -> GatewayState:
    return request.app.state.gateway


def _model(alias: str, created: int) -> dict:
    return {"id": alias, "object": "model", "created": created, "owned_by": "gate"}


async def _principal_aliases(request: Request) -> tuple[GatewayState, list[str]]:
    state = gateway(request)
    # The headers as the POST endpoints read them (of a repeated header, the last counts).
    headers = Incoming(request.scope, request.receive).headers
    principal = authenticate.principal(headers, state, time.time())
    return state, [a for a in state.routes if principal.may_use(a)]


@get("/v1/models")
async def list_models(request: Request) -> Response:
    state, aliases = await _principal_aliases(request)
    created = int(state.started_at)
    body = {"object": "list", "data": [_model(a, created) for a in sorted(aliases)]}
    return Response(encode(body), media_type="application/json",
                    headers={REQUEST_ID_HEADER: request_id(request.scope)})


@get("/v1/models/{alias:str}")
async def get_model(request: Request) -> Response:
    alias = request.path_params["alias"]
    state, aliases = await _principal_aliases(request)
    if alias not in aliases:
        raise NotFound(f"The model '{alias}' does not exist on this gateway or your key may not use it.",
                       param="model")
    return Response(encode(_model(alias, int(state.started_at))), media_type="application/json",
                    headers={REQUEST_ID_HEADER: request_id(request.scope)})

