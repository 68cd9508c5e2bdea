"""gate serve: run the gateway (Litestar on granian)."""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from typing import Annotated

import typer

from cli.context import console, err_console, esc, fail, globals_
from server.core.settings import CONFIG_ENV, ConfigError, LlamaCppProvider, ServerSettings, resolve_secret, secret_refs
from server.store import db

STOP_TIMEOUT_S = 10  # after SIGINT/SIGTERM, a worker still running this long is killed
RESTART_PAUSES_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # between restarts of a server that keeps failing
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
    console.print(f"[bold]gate[/] on {esc(f'http://{host}:{port}/v1')}  ·  {workers} worker(s)  ·  "
                  f"db {esc(settings.database.path)}  ·  sqlite-vec {esc(vec)}  ·  "
                  f"models: {esc(', '.join(settings.models) or 'none')}", highlight=False)
    os.environ[CONFIG_ENV] = str(g.config.resolve())
    from granian import Granian

    _check_port(host, port)  # again: another gateway may have taken it while models were prepared
    supervise(lambda: Granian(
        "server.web.asgi:build", factory=True, address=host, port=port, workers=workers,
        interface="asgi", loop="uvloop", log_access=False, backlog=2048,
        # A worker that dies (kill -9, a crash in native code) is replaced at once while the
        # others keep serving; without this granian stops every worker and exits.
        respawn_failed_workers=True,
        # On SIGINT/SIGTERM a worker gets this long to finish and flush, then it is killed.
        workers_kill_timeout=STOP_TIMEOUT_S,
    ))


def supervise(make_server) -> None:
    """Serve until SIGINT or SIGTERM, and only then return.

    granian respawns a dead worker, but gives up and exits (1) when the same worker dies
    again within seconds of its respawn (a crash loop). Then the whole server is started
    again after a pause that grows while it keeps failing quickly, so no request, however
    hostile, ends `gate serve`: only a signal does."""
    log = logging.getLogger("gate.serve")
    failures = 0
    while True:
        server = make_server()
        started = time.monotonic()
        try:
            server.serve()
        except SystemExit:
            pass
        if server.interrupt_signal:
            return
        failures = failures + 1 if time.monotonic() - started < 60 else 1
        pause = RESTART_PAUSES_S[min(failures, len(RESTART_PAUSES_S)) - 1]
        log.error("gate: the server stopped without being told to (its workers kept dying); "
                  "starting it again in %g s", pause)
        # granian's signal handlers stay installed meanwhile: a SIGINT/SIGTERM ends the wait.
        server.main_loop_interrupt.wait(pause)
        if server.interrupt_signal:
            return


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
    warned: set[str] = set()
    for name, key, ref in secret_refs(settings):
        if name in warned:
            continue  # one warning a provider: it is left out whichever reference fails
        try:
            resolve_secret(ref, settings.source, key)
        except ConfigError as exc:
            warned.add(name)
            err_console.print(f"[bold yellow]warning:[/] {esc(exc)}: provider '{esc(name)}' is left out until it "
                              "resolves (gate doctor, /health/ready config_error)", highlight=False,
                              soft_wrap=True)
