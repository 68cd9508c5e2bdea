"""gate providers: the upstreams in gateway.toml (edited in place, comments kept)."""

from __future__ import annotations

from typing import Annotated

import tomlkit
import typer
from rich.table import Table

from cli.backend import call
from cli.config_edit import edit, table
from cli.context import console, err_console, esc, fail, globals_, print_json
from server.core.settings import ConfigError, resolve_secret

app = typer.Typer(help="Manage upstream providers (edits gateway.toml).", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Provider name, used in routes as NAME:model.")],
    url: Annotated[str | None, typer.Option(help="Base URL of an OpenAI-compatible API, e.g. http://gpu1:8000/v1.")] = None,
    kind: Annotated[str, typer.Option(help="openai (any OpenAI-compatible server) or llamacpp (in process).")] = "openai",
    api_key: Annotated[str | None, typer.Option(help="Secret reference: env:VAR or file:PATH.")] = None,
    locality: Annotated[str, typer.Option(help="local (on site) or cloud.")] = "local",
    model: Annotated[str | None, typer.Option(help="llamacpp: a .gguf path or pypi:PACKAGE.")] = None,
    price_in: Annotated[float | None, typer.Option(help="USD per million input tokens.")] = None,
    price_out: Annotated[float | None, typer.Option(help="USD per million output tokens.")] = None,
    context_window: Annotated[int | None, typer.Option(help="Tokens the model takes (prompt + output).")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a provider of the same name.")] = False,
) -> None:
    """Add an upstream provider."""
    g = globals_(ctx)
    entry = tomlkit.table()
    entry["kind"] = kind
    if kind == "openai":
        if not url:
            fail("--url is required for kind openai")
        entry["url"] = url
        if api_key:
            entry["api_key"] = api_key
        entry["locality"] = locality
    elif kind == "llamacpp":
        if not model:
            fail("--model is required for kind llamacpp")
        entry["model"] = model
    else:
        fail(f"unknown kind '{kind}' (expected openai or llamacpp)")
    if price_in is not None:
        entry["price_in"] = price_in
    if price_out is not None:
        entry["price_out"] = price_out
    if context_window is not None and kind == "openai":
        entry["context_window"] = context_window

    def change(doc) -> None:
        providers = table(doc, "providers")
        if name in providers and not replace:
            fail(f"provider '{name}' exists already (use --replace)")
        providers[name] = entry

    try:
        edit(g.config, change)
    except ConfigError as exc:
        fail(str(exc))
    console.print(f"added provider [bold]{esc(name)}[/] to {esc(g.config)} "
                  "(a running gateway picks it up within a second)", highlight=False)
    if api_key:
        warn_unresolved(api_key, str(g.config), f"providers.{name}.api_key", name)


def warn_unresolved(ref: str, source: str, key: str, provider: str) -> None:
    """A secret reference that does not resolve here (stderr; the file is written all the same:
    the gateway may run with another environment)."""
    try:
        resolve_secret(ref, source, key)
    except ConfigError as exc:
        err_console.print(f"[bold yellow]warning:[/] {esc(exc)} here; a gateway that cannot resolve it either "
                          f"leaves provider '{esc(provider)}' out and applies the rest (gate doctor shows it)",
                          highlight=False, soft_wrap=True)


@app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Provider name.")]) -> None:
    """Remove a provider that no model routes to."""
    g = globals_(ctx)

    def change(doc) -> None:
        providers = doc.get("providers", {})
        if name not in providers:
            fail(f"no provider named '{name}'")
        users = [alias for alias, m in doc.get("models", {}).items()
                 if any(str(t).split(":", 1)[0] == name for t in m.get("route", []))]
        if users:
            fail(f"provider '{name}' is in the routes of: {', '.join(users)}; change those first")
        del providers[name]

    try:
        edit(g.config, change)
    except ConfigError as exc:
        fail(str(exc))
    console.print(f"removed provider [bold]{esc(name)}[/]", highlight=False)


@app.command("list")
def list_(ctx: typer.Context,
          json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List providers with a live check of each."""
    rows = call(ctx, "providers")
    if json:
        print_json(rows)
        return
    out = Table(title="Providers", title_justify="left")
    for col in ("name", "kind", "locality", "check", "latency", "breaker", "served/failed", "detail"):
        out.add_column(col)
    colors = {"closed": "green", "half_open": "yellow", "open": "red"}
    for r in rows:
        status = "[green]up[/]" if r["ok"] else "[red]down[/]"
        latency = f"{r['latency_ms']:.1f} ms" if r.get("latency_ms") is not None else "-"
        breaker = f"[{colors.get(r['breaker'], 'white')}]{esc(r['breaker'])}[/]" if r.get("breaker") else "-"
        counts = f"{r['served']}/{r['failed']}" if r.get("served") is not None else "-"
        out.add_row(esc(r["name"]), esc(r["kind"]), esc(r["locality"]), status, latency, breaker, counts,
                    esc(r.get("last_error") or r["detail"]))
    console.print(out)
