"""The admin HTTP API, guarded by the admin token: what `gate --url` and `gate top` use."""

from __future__ import annotations

import hmac

import msgspec
from litestar import Request, Response, Router, get, post

from server.errors import InvalidRequest, NotFound, Unauthorized
from server.pipeline import request_id
from server.pipeline.authenticate import bearer
from server.providers.health import check_all
from server.state import GatewayState
from server.store import keys as key_store
from server.store import ledger as ledger_store
from server.wire import encode


class KeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    models: list[str] | None = None
    expires_at: float | None = None


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


def _json(request: Request, value: object, status: int = 200) -> Response:
    return Response(encode(value), status_code=status, media_type="application/json",
                    headers={"x-gate-request-id": request_id(request)})


def _number(request: Request, name: str, default: float | None) -> float | None:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise InvalidRequest(f"query parameter '{name}' must be a number", param=name) from None


def _key_op(fn, *args):
    try:
        return fn(*args)
    except key_store.KeyError_ as exc:
        raise NotFound(str(exc), code="key_not_found") from None


@get("/keys")
async def list_keys(request: Request) -> Response:
    return _json(request, key_store.list_keys(_state(request).db))


@post("/keys")
async def create_key(request: Request) -> Response:
    state = _state(request)
    try:
        spec = msgspec.json.decode(await request.body(), type=KeyCreate)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequest(f"invalid key spec: {exc}") from None
    unknown = sorted(set(spec.models or []) - set(state.routes))
    if unknown:
        raise InvalidRequest(f"unknown models: {', '.join(unknown)}", param="models")
    try:
        created = key_store.create_key(state.db, spec.name, models=spec.models, expires_at=spec.expires_at)
    except key_store.KeyError_ as exc:
        raise InvalidRequest(str(exc), param="name", code="key_exists") from None
    return _json(request, created, 201)


@get("/keys/{ref:str}")
async def show_key(request: Request) -> Response:
    ref = request.path_params["ref"]
    return _json(request, _key_op(key_store.get_key, _state(request).db, ref))


@post("/keys/{ref:str}/revoke", status_code=200)
async def revoke_key(request: Request) -> Response:
    ref = request.path_params["ref"]
    return _json(request, _key_op(key_store.revoke_key, _state(request).db, ref))


@post("/keys/{ref:str}/rotate", status_code=200)
async def rotate_key(request: Request) -> Response:
    ref = request.path_params["ref"]
    return _json(request, _key_op(key_store.rotate_key, _state(request).db, ref))


@get("/spend")
async def spend(request: Request) -> Response:
    state = _state(request)
    by = request.query_params.get("by", "key")
    since = _number(request, "since", None)
    await state.ledger.flush()
    try:
        return _json(request, ledger_store.spend(state.db, by, since))
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="by") from None


@get("/requests")
async def recent(request: Request) -> Response:
    state = _state(request)
    limit = int(_number(request, "limit", 50))
    await state.ledger.flush()
    return _json(request, ledger_store.fetch_rows(state.db, limit=max(1, min(limit, 1000))))


@get("/providers")
async def providers(request: Request) -> Response:
    return _json(request, await check_all(_state(request).providers))


router = Router(path="/admin", route_handlers=[list_keys, create_key, show_key, revoke_key,
                                                rotate_key, spend, recent, providers])
