"""gate budgets: limits in money and tokens per period, on keys and teams."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress_bar import ProgressBar
from rich.table import Table

from cli.backend import call as _run
from cli.context import KEEP, console, esc, fail, merged, parse_limit, print_json, when
from server.core.periods import PERIOD_HELP

app = typer.Typer(help="Budgets on keys and teams, and their alerts.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]



@app.command("set")
def set_(
    ctx: typer.Context,
    scope: Annotated[str, typer.Argument(help="key or team.")],
    owner: Annotated[str, typer.Argument(help="The key's or team's name or id.")],
    usd: Annotated[str | None, typer.Option(
        "--usd", metavar="X|none", help="Limit in USD per period; 'none' removes it; omitted: unchanged.")] = None,
    tokens: Annotated[str | None, typer.Option(
        metavar="N|none", help="Limit in tokens per period; 'none' removes it; omitted: unchanged.")] = None,
    period: Annotated[str | None, typer.Option(
        help=f"{PERIOD_HELP}; omitted: unchanged (monthly for a new budget).")] = None,
    soft: Annotated[float | None, typer.Option(
        help="Alert threshold, a fraction; omitted: unchanged ([budgets] soft_pct for a new budget).")] = None,
    json: JsonOpt = False,
) -> None:
    """Set the budget of a key or a team, or change one: each flag changes only its own part."""
    new_usd = parse_limit(usd, "--usd", kind=float, minimum=0)
    new_tokens = parse_limit(tokens, "--tokens")
    current = _current(ctx, scope, owner)
    if current is not None:
        if new_usd is KEEP and new_tokens is KEEP and period is None and soft is None:
            fail("nothing to change: give --usd, --tokens, --period or --soft")
        new_usd, new_tokens = merged(new_usd, current["limit_usd"]), merged(new_tokens, current["limit_tokens"])
        if new_usd is None and new_tokens is None:
            fail(f"that would leave no limit: remove the budget with `gate budgets remove {scope} {owner}`")
    rows = _run(ctx, "set_budget", {
        "scope": scope, "owner": owner, "usd": merged(new_usd, None), "tokens": merged(new_tokens, None),
        "period": period or (current["period"] if current else "monthly"),
        "soft_pct": soft if soft is not None else (current["soft_pct"] if current else None)})
    print_json(rows) if json else console.print(_table(rows))


def _current(ctx: typer.Context, scope: str, ref: str) -> dict | None:
    """The budget `scope`/`ref` has now (None: none yet, or no such owner: set_budget says which)."""
    if scope == "key":
        name = _run(ctx, "show_key", ref)["name"]
    elif scope == "team":
        name = next((t["name"] for t in _run(ctx, "list_teams") if ref in (t["id"], t["name"])), None)
    else:
        return None
    return next((b for b in _run(ctx, "budgets") if b["scope"] == scope and b["owner"] == name), None)


@app.command("remove")
def remove(ctx: typer.Context, scope: Annotated[str, typer.Argument(help="key or team.")],
           owner: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Remove the budget of a key or a team."""
    _run(ctx, "remove_budget", scope, owner)
    console.print(f"removed the budget of {esc(scope)} [bold]{esc(owner)}[/]", highlight=False)


def _bar(used: float, limit: float | None) -> ProgressBar | str:
    if not limit:
        return "-"
    return ProgressBar(total=limit, completed=min(used, limit), width=16,
                       complete_style="red" if used >= limit * 0.999 else
                       "yellow" if used >= limit * 0.8 else "green")


def _table(rows: list[dict]) -> Table:
    table = Table(title="Budgets", title_justify="left")
    for col in ("scope", "owner", "period", "spent", "held", "limit", "", "resets"):
        table.add_column(col, justify="right" if col in ("spent", "held", "limit") else "left")
    for r in rows:
        owner = esc(r["owner"])
        if r["limit_usd"] is not None:
            table.add_row(r["scope"], owner, r["period"], f"${r['spent_usd']:.4f}", f"${r['reserved_usd']:.4f}",
                          f"${r['limit_usd']:.2f}", _bar(r["spent_usd"], r["limit_usd"]), when(r["resets_at"]))
        if r["limit_tokens"] is not None:
            table.add_row(r["scope"], owner, r["period"], f"{r['spent_tokens']:,} tok",
                          f"{r['reserved_tokens']:,} tok", f"{r['limit_tokens']:,} tok",
                          _bar(r["spent_tokens"], r["limit_tokens"]), when(r["resets_at"]))
    return table


@app.command("show")
def show(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Every budget: spent this period, held by requests in flight, the limit."""
    rows = _run(ctx, "budgets")
    if json:
        print_json(rows)
    elif not rows:
        console.print("No budgets yet: [bold]gate budgets set key NAME --usd 50[/]")
    else:
        console.print(_table(rows))


@app.command("events")
def events(ctx: typer.Context, limit: Annotated[int, typer.Option(help="How many.")] = 50,
           json: JsonOpt = False) -> None:
    """Budget alerts: soft thresholds crossed and budgets used up, newest first."""
    rows = _run(ctx, "events", limit)
    if json:
        print_json(rows)
        return
    table = Table(title="Budget events", title_justify="left")
    for col in ("when", "kind", "scope", "owner", "detail"):
        table.add_column(col)
    for e in rows:
        color = "red" if e["kind"] == "budget_exhausted" else "yellow"
        table.add_row(when(e["ts"]), f"[{color}]{esc(e['kind'])}[/]", e["scope"], esc(e["owner"]), esc(e["detail"]))
    console.print(table)
