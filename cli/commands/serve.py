"""gate serve: run the gateway (Litestar on granian)."""

from __future__ import annotations

import errno
import os
import socket
from typing import Annotated

import typer

from cli.context import console, err_console, fail, globals_
from server.settings import ConfigError, LlamaCppProvider, resolve_secret
from server.store import db


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to bind (default: [server] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: [server] port).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: [server] workers).")] = None,
) -> None:
    """Run the gateway on the config's host and port."""
    g = globals_(ctx)
    settings = g.settings()
    host = host or settings.server.host
    port = port or settings.server.port
    workers = workers or settings.server.workers
    _check_port(host, port)  # before anything slow: a second gateway must not start at all
    try:
        conn = db.connect(settings.database.path, busy_timeout_ms=settings.database.busy_timeout_ms)
        vec = db.vec_version(conn)
        conn.close()
    except db.StoreError as exc:
        fail(str(exc))
    _prepare_models(settings)
    _warn_unapplied(settings)
    console.print(f"[bold]gate[/] on http://{host}:{port}/v1  ·  {workers} worker(s)  ·  "
                  f"db {settings.database.path}  ·  sqlite-vec {vec}  ·  "
                  f"models: {', '.join(settings.models) or 'none'}", highlight=False)
    os.environ["GATE_CONFIG"] = str(g.config.resolve())
    from granian import Granian

    _check_port(host, port)  # again: another gateway may have taken it while models were prepared
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


def port_taken(host: str, port: int) -> str | None:
    """Why this gateway cannot listen on host:port, or None when it can.

    granian binds with SO_REUSEPORT, so a second `gate serve` on a port in use would bind
    too, and the kernel would split connections between the two. This bind has no
    SO_REUSEPORT, so any listener there refuses it. SO_REUSEADDR keeps a previous run's
    connections in TIME_WAIT from counting as a conflict.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"{host}:{port} is already in use (another gate serve, or another program, "
                        "listens there); stop it or choose another --port")
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _check_port(host: str, port: int) -> None:
    reason = port_taken(host, port)
    if reason is not None:
        fail(reason)


def _warn_unapplied(settings) -> None:
    """Secret references that do not resolve here: the gateway serves without those providers."""
    for name, provider in settings.providers.items():
        refs = [(f"providers.{name}.api_key", getattr(provider, "api_key", None))]
        refs += [(f"providers.{name}.headers", ref) for ref in (getattr(provider, "headers", None) or {}).values()]
        for key, ref in refs:
            if not ref:
                continue
            try:
                resolve_secret(ref, settings.source, key)
            except ConfigError as exc:
                err_console.print(f"[bold yellow]warning:[/] {exc}: provider '{name}' is left out until it "
                                  "resolves (gate doctor, /health/ready config_error)", highlight=False,
                                  soft_wrap=True)
                break
