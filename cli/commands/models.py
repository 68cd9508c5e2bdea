"""gate models: aliases and their routes in gateway.toml."""

from __future__ import annotations

from typing import Annotated

import tomlkit
import typer
from rich.table import Table

from cli.config_edit import edit, table
from cli.context import console, esc, fail, globals_, print_json
from server.core.settings import ConfigError

app = typer.Typer(help="Manage model aliases and their routes (edits gateway.toml).", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="The name clients send as 'model'.")],
    route: Annotated[str, typer.Option(help="Targets in order: provider:model[,provider:model...].")],
    description: Annotated[str, typer.Option(help="Free text shown in listings.")] = "",
    replace: Annotated[bool, typer.Option(help="Replace an alias of the same name.")] = False,
) -> None:
    """Add a model alias routed to one or more provider targets."""
    g = globals_(ctx)
    targets = [t.strip() for t in route.split(",") if t.strip()]
    entry = tomlkit.table()
    entry["route"] = targets
    if description:
        entry["description"] = description

    def change(doc) -> None:
        models = table(doc, "models")
        if alias in models and not replace:
            fail(f"model '{alias}' exists already (use --replace)")
        models[alias] = entry

    try:
        edit(g.config, change)
    except ConfigError as exc:
        fail(str(exc))
    console.print(f"added model [bold]{esc(alias)}[/] -> {esc(', '.join(targets))}", highlight=False)


@app.command("remove")
def remove(ctx: typer.Context, alias: Annotated[str, typer.Argument(help="Model alias.")]) -> None:
    """Remove a model alias."""
    g = globals_(ctx)

    def change(doc) -> None:
        if alias not in doc.get("models", {}):
            fail(f"no model named '{alias}'")
        del doc["models"][alias]

    try:
        edit(g.config, change)
    except ConfigError as exc:
        fail(str(exc))
    console.print(f"removed model [bold]{esc(alias)}[/]", highlight=False)


@app.command("list")
def list_(ctx: typer.Context,
          json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List model aliases and their routes."""
    settings = globals_(ctx).settings()
    rows = [{"alias": a, "route": list(m.route), "description": m.description}
            for a, m in settings.models.items()]
    if json:
        print_json(rows)
        return
    out = Table(title="Models", title_justify="left")
    for col in ("alias", "route (in order)", "description"):
        out.add_column(col)
    for r in rows:
        out.add_row(esc(r["alias"]), esc(" → ".join(r["route"])), esc(r["description"]))
    console.print(out)
