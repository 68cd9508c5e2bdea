"""gate top: a live terminal view of a gateway (its admin API), local or over SSH."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import Globals, fail, globals_
from server.core.settings import ConfigError, admin_token, load_settings


def target(g: Globals) -> tuple[str, str | None]:
    """(url, admin token): --url/GATE_URL, else [server] host/port of the config file;
    --admin-token/GATE_ADMIN_TOKEN, else the config's [admin] token reference."""
    url, token = g.url, g.admin_token
    if url and token:
        return url, token
    try:
        settings = load_settings(g.config)
    except ConfigError as exc:
        if url:
            return url, token
        if not g.config.exists():
            return "http://127.0.0.1:4000", token
        fail(str(exc))
    if not url:
        host = settings.server.host
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        url = f"http://[{host}]:{settings.server.port}" if ":" in host else f"http://{host}:{settings.server.port}"
    if not token:
        try:
            secret = admin_token(settings)
        except ConfigError:
            secret = None
        token = secret.reveal() if secret else None
    return url, token


def top(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 1.0,
    window: Annotated[int, typer.Option(min=10, max=3600, help="Seconds of traffic the rates cover.")] = 60,
) -> None:
    """A live view of a gateway: traffic, latency, spend and budgets, upstreams, requests."""
    url, token = target(globals_(ctx))
    if not token:
        fail("gate top needs the admin token: set GATE_ADMIN_TOKEN, pass --admin-token, "
             "or set [admin] token in the config")
    from cli.tui.app import TopApp

    TopApp(url, token, interval=interval, window=window).run()
