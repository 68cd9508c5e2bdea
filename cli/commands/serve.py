"""gate serve: run the gateway (Litestar on granian)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cli.context import console, esc, fail, globals_
from server.settings import LlamaCppProvider, ServerSettings
from server.store import db

_DEFAULT = ServerSettings()


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(
        help=f"Address to bind (default: [server] host in the config, else {_DEFAULT.host}).")] = None,
    port: Annotated[int | None, typer.Option(
        help=f"Port (default: [server] port in the config, else {_DEFAULT.port}).")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help=f"Worker processes (default: [server] workers in the config, else {_DEFAULT.workers}).")] = None,
) -> None:
    """Run the gateway on the config's host and port."""
    g = globals_(ctx)
    settings = g.settings()
    try:
        conn = db.connect(settings.database.path, busy_timeout_ms=settings.database.busy_timeout_ms)
        vec = db.vec_version(conn)
        conn.close()
    except db.StoreError as exc:
        fail(str(exc))
    _prepare_models(settings)
    host = host or settings.server.host
    port = port or settings.server.port
    workers = workers or settings.server.workers
    console.print(f"[bold]gate[/] on {esc(f'http://{host}:{port}/v1')}  ·  {workers} worker(s)  ·  "
                  f"db {esc(settings.database.path)}  ·  sqlite-vec {esc(vec)}  ·  "
                  f"models: {esc(', '.join(settings.models) or 'none')}", highlight=False)
    os.environ["GATE_CONFIG"] = str(g.config.resolve())
    from granian import Granian

    Granian(
        "server.asgi:build", factory=True, address=host, port=port, workers=workers,
        interface="asgi", loop="uvloop", log_access=False, backlog=2048,
    ).serve()


def _prepare_models(settings) -> None:
    """Assemble packaged models once, before workers start, so they never race on it."""
    from server.providers.llamacpp import resolve_model_path

    for name, provider in settings.providers.items():
        if isinstance(provider, LlamaCppProvider):
            try:
                resolve_model_path(provider.model)
            except (OSError, ValueError) as exc:
                fail(f"provider '{name}': {exc}")
