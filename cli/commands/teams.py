"""gate teams: groups of keys that share a budget."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.backend import call as _run
from cli.context import console, esc, print_json, when
from server.core.periods import PERIOD_HELP

app = typer.Typer(help="Manage teams (keys that share a budget).", no_args_is_help=True)



@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Team name.")],
    budget: Annotated[float | None, typer.Option(help="Budget in USD per period.")] = None,
    budget_tokens: Annotated[int | None, typer.Option(help="Budget in tokens per period.")] = None,
    period: Annotated[str, typer.Option(help=PERIOD_HELP)] = "monthly",
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a team; add keys to it with `gate keys create --team NAME`."""
    team = _run(ctx, "create_team", {"name": name, "budget_usd": budget, "budget_tokens": budget_tokens,
                                     "period": period})
    if json:
        print_json(team)
    else:
        console.print(f"created team [bold]{esc(team['name'])}[/] ({esc(team['id'])})", highlight=False)


@app.command("list")
def list_(ctx: typer.Context, json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List teams."""
    teams = _run(ctx, "list_teams")
    if json:
        print_json(teams)
        return
    table = Table(title="Teams", title_justify="left")
    for col in ("id", "name", "keys", "created"):
        table.add_column(col, no_wrap=col == "id")
    for t in teams:
        table.add_row(esc(t["id"]), esc(t["name"]), str(t["keys"]), when(t["created_at"]))
    console.print(table)
