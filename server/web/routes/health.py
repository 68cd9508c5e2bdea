"""Liveness and readiness."""

from __future__ import annotations

import asyncio

import apsw
from litestar import Request, Response, get

from server.core.errors import NotFound
from server.observe.metrics import Exposition, gauges
from server.core.wire import encode


@get("/health/live")
async def live() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@get("/health/ready")
async def ready(request: Request) -> Response:
    state = request.app.state.gateway
    checks: dict[str, str] = {}
    try:
        state.db.execute("SELECT 1").fetchone()
        checks["database"] = "ok"
    except apsw.Error as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    for name, provider in state.providers.items():
        checks[f"provider:{name}"] = "ok" if provider.ready else "loading"
    ok = all(v == "ok" for v in checks.values())
    # What of gateway.toml could not be applied: reported, but the gateway serves the rest.
    body = {"status": "ready" if ok else "not ready", "checks": checks, "sqlite_vec": state.vec_version,
            "config_error": state.config_error}
    return Response(encode(body), status_code=200 if ok else 503, media_type="application/json")


@get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics: counters and histograms of every worker, gauges read now."""
    state = request.app.state.gateway
    if not state.settings.telemetry.metrics:
        raise NotFound("metrics are off ([telemetry] metrics = false)", code="not_found")
    await state.ledger.flush()
    # Read on the loop (the connection is the loop's), written on a thread: at a few
    # thousand samples prometheus_client takes tens of milliseconds to format them.
    exposition = Exposition(state.db, gauges(state))
    body, content_type = await asyncio.to_thread(exposition.encode, request.headers.get("accept", ""))
    # As a header, not media_type: Litestar would add a second "; charset=utf-8" to text/*.
    return Response(body, headers={"content-type": content_type})
