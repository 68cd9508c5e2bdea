"""The admin HTTP API, guarded by the admin token: what `gate --url` and `gate top` use."""

from __future__ import annotations

import hmac
import math
import re

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.exceptions import InternalServerException

from server import admin_ops, json_limits
from server.cache import store as cache_store
from server.errors import InvalidRequest, NotFound, Unauthorized
from server.http import unreadable_body
from server.pipeline import request_id
from server.pipeline.authenticate import bearer
from server.providers.health import check_all
from server.state import GatewayState
from server.stats import window_stats
from server.store import budgets as budget_store
from server.store import keys as key_store
from server.store import ledger as ledger_store
from server.store import teams as team_store
from server.store import traces as trace_store
from server.wire import encode


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
                    headers={"x-gate-request-id": request_id(request.scope)})


MAX_LIMIT = 1000  # rows a listing returns at most
MAX_WINDOW_S = 3600
_INT = re.compile(r"-?\d{1,18}")
_NUMBER = re.compile(r"-?\d{1,20}(?:\.\d{1,20})?")


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A query parameter that must be a whole number in [low, high] (else 400)."""
    value = request.query_params.get(name)
    if value is None:
        return default
    if _INT.fullmatch(value) is None or not low <= int(value) <= high:
        raise InvalidRequest(f"query parameter '{name}' must be a whole number from {low} to {high}",
                             param=name)
    return int(value)


def _time(request: Request, name: str) -> float | None:
    """A query parameter that must be a finite number (a Unix time), else 400."""
    value = request.query_params.get(name)
    if value is None:
        return None
    number = float(value) if _NUMBER.fullmatch(value) else math.nan
    if not math.isfinite(number):
        raise InvalidRequest(f"query parameter '{name}' must be a finite number (a Unix time)", param=name)
    return number


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
    spec = await _spec(request, admin_ops.KeySpec)
    return _json(request, _op(admin_ops.create_key, state.db, state.settings, spec), 201)


async def _spec(request: Request, kind: type):
    try:
        body = await request.body()
    except InternalServerException:  # Litestar's word for a body that ended early or is malformed
        raise unreadable_body() from None
    try:
        spec = msgspec.json.decode(body, type=kind)
        json_limits.check(body)
    except (msgspec.DecodeError, msgspec.ValidationError, json_limits.JsonLimitError) as exc:
        raise InvalidRequest(f"invalid request: {exc}") from None
    except RecursionError:
        raise InvalidRequest(f"invalid request: JSON nested deeper than {json_limits.MAX_DEPTH} levels") from None
    return spec


def _op(fn, *args):
    """Run an admin operation; its OpError becomes the OpenAI error envelope."""
    try:
        return fn(*args)
    except admin_ops.OpError as exc:
        error = InvalidRequest(str(exc))
        error.status = exc.status
        if exc.status == 404:
            error.code = "not_found"
        raise error from None


@post("/keys/{ref:str}/limits", status_code=200)
async def key_limits(request: Request) -> Response:
    state = _state(request)
    body = await _spec(request, dict[str, int | None])
    return _json(request, _op(admin_ops.set_rate_limits, state.db, request.path_params["ref"],
                              body.get("rpm"), body.get("tpm")))


@get("/teams")
async def list_teams(request: Request) -> Response:
    return _json(request, team_store.list_teams(_state(request).db))


@post("/teams")
async def create_team(request: Request) -> Response:
    state = _state(request)
    spec = await _spec(request, admin_ops.TeamSpec)
    return _json(request, _op(admin_ops.create_team, state.db, state.settings, spec), 201)


@get("/budgets")
async def budgets(request: Request) -> Response:
    return _json(request, budget_store.status(_state(request).db))


@post("/budgets", status_code=200)
async def set_budget(request: Request) -> Response:
    state = _state(request)
    spec = await _spec(request, admin_ops.BudgetSpec)
    return _json(request, _op(admin_ops.set_budget, state.db, state.settings, spec))


@post("/budgets/{kind:str}/{ref:str}/remove", status_code=200)
async def remove_budget(request: Request) -> Response:
    state = _state(request)
    _op(admin_ops.remove_budget, state.db, request.path_params["kind"], request.path_params["ref"])
    return _json(request, {"removed": True})


@get("/events")
async def events(request: Request) -> Response:
    state = _state(request)
    return _json(request, budget_store.events(state.db, _int(request, "limit", 50, 1, MAX_LIMIT)))


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
    since = _time(request, "since")
    await state.ledger.flush()
    try:
        return _json(request, ledger_store.spend(state.db, by, since))
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="by") from None


@get("/requests")
async def recent(request: Request) -> Response:
    state = _state(request)
    limit = _int(request, "limit", 50, 1, MAX_LIMIT)
    await state.ledger.flush()
    return _json(request, ledger_store.fetch_rows(state.db, limit=limit))


@get("/providers")
async def providers(request: Request) -> Response:
    state = _state(request)
    known = {row["name"]: row for row in state.health_rows()}
    return _json(request, await check_all(state.providers, known))


@get("/stats")
async def stats(request: Request) -> Response:
    state = _state(request)
    window = _int(request, "window", 60, 5, MAX_WINDOW_S)
    await state.ledger.flush()
    body = await state.ledger.run_in_thread(lambda conn: window_stats(conn, window, state.started_at))
    body["config_error"] = state.config_error  # gate top's status bar shows it
    return _json(request, body)


@get("/traces")
async def traces(request: Request) -> Response:
    state = _state(request)
    await state.ledger.flush()
    limit = _int(request, "limit", 50, 1, MAX_LIMIT)
    return _json(request, trace_store.recent(state.db, limit, _time(request, "after")))


@get("/traces/{request_id:str}")
async def trace(request: Request) -> Response:
    state = _state(request)
    await state.ledger.flush()
    found = trace_store.get(state.db, request.path_params["request_id"])
    if found is None:
        raise NotFound(f"no trace for request '{request.path_params['request_id']}'", code="trace_not_found")
    return _json(request, found)


@get("/cache")
async def cache_stats(request: Request) -> Response:
    state = _state(request)
    stats = cache_store.stats(state.db)
    return _json(request, {**msgspec.to_builtins(stats), "semantic": state.cache.semantic,
                           "threshold": state.cache.threshold, "semantic_error": state.cache.semantic_error})


@get("/cache/entries")
async def cache_entries(request: Request) -> Response:
    state = _state(request)
    limit = _int(request, "limit", 20, 1, MAX_LIMIT)
    return _json(request, cache_store.inspect(state.db, request.query_params.get("search"), limit))


@post("/cache/clear", status_code=200)
async def cache_clear(request: Request) -> Response:
    state = _state(request)
    return _json(request, {"removed": cache_store.clear(state.db, request.query_params.get("alias"))})


router = Router(path="/admin", route_handlers=[
    stats, traces, trace, cache_stats, cache_entries, cache_clear,
    list_keys, create_key, show_key, revoke_key, rotate_key, key_limits, list_teams, create_team,
    budgets, set_budget, remove_budget, events, spend, recent, providers])
