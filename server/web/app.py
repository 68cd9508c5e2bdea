"""create_app(settings) -> the ASGI app. The lifespan builds the worker's GatewayState."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException

from server.core.errors import BodyTooLarge, ClientError, GatewayError, MethodNotAllowed, NotFound
from server.web.front import HotPathRouter
from server.web.http import JsonOut, error_out, internal_error
from server.pipeline import request_id
from server.web.routes import admin, health, openai
from server.core.settings import Settings
from server.runtime.state import GatewayState

def _response(out: JsonOut) -> Response:
    return Response(out.body, status_code=out.status, media_type="application/json", headers=out.headers)


def framework_error(request: Request, exc: HTTPException) -> GatewayError:
    """A client error Litestar found, as the gateway error of its status."""
    if exc.status_code == 404:
        return NotFound(f"Unknown path {request.method} {request.url.path}", code="not_found")
    if exc.status_code == 405:
        return MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}")
    if exc.status_code == 413:
        return BodyTooLarge(str(exc.detail))
    return ClientError(exc.status_code, str(exc.detail))


def handle_exception(request: Request, exc: Exception) -> Response:
    """Litestar's errors in the same OpenAI envelope as the hot path's (server.web.http)."""
    rid = request_id(request.scope)
    if isinstance(exc, GatewayError):
        return _response(error_out(exc, rid))
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return _response(error_out(framework_error(request, exc), rid))
    return _response(internal_error(exc, rid))


def create_app(settings: Settings) -> HotPathRouter:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.gateway = await GatewayState.open(settings)
        # What start-up built lives as long as the worker: take it out of the collector's
        # sight, and collect less often (the request path makes few reference cycles).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)
        try:
            yield
        finally:
            await app.state.gateway.close()

    return HotPathRouter(Litestar(
        route_handlers=[openai.list_models, openai.get_model, health.live, health.ready, health.metrics,
                        admin.router],
        lifespan=[lifespan],
        exception_handlers={Exception: handle_exception},
        request_max_body_size=settings.server.max_body_bytes,
        openapi_config=None,
        debug=False,
        logging_config=None,
    ))
