"""gate cache: what the answer cache holds, and emptying it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.backend import call as _run
from cli.context import console, esc, print_json, when

app = typer.Typer(help="The answer cache (exact and semantic).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]



@app.command("stats")
def stats(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Entries, hits and the hit rate the ledger shows."""
    s = _run(ctx, "cache_stats")
    if json:
        print_json(s)
        return
    table = Table(title="Cache", title_justify="left", show_header=False)
    rate = f"{s['hit_rate']:.1%}" if s["hit_rate"] is not None else "-"
    for name, value in (("entries (semantic)", f"{s['entries']:,} ({s['semantic_entries']:,})"),
                        ("expired, not yet pruned", f"{s['expired']:,}"),
                        ("size", f"{s['bytes'] / 1e6:.2f} MB"),
                        ("exact hits · semantic hits · misses",
                         f"{s['ledger_hits']:,} · {s['ledger_semantic_hits']:,} · {s['ledger_misses']:,}"),
                        ("hit rate", rate),
                        ("by model", esc(", ".join(f"{a}: {n}" for a, n in s["by_alias"].items()) or "-"))):
        table.add_row(name, value)
    console.print(table)


@app.command("inspect")
def inspect(ctx: typer.Context,
            search: Annotated[str | None, typer.Option(help="Only questions containing this text.")] = None,
            limit: Annotated[int, typer.Option(help="How many.")] = 20, json: JsonOpt = False) -> None:
    """The newest entries: question, answer, hits."""
    rows = _run(ctx, "cache_entries", search, limit)
    if json:
        print_json(rows)
        return
    table = Table(title="Cache entries", title_justify="left")
    for col in ("id", "model", "question", "answer", "hits", "expires"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), esc(r["alias"]), esc(r["query"][:80] or "-"), esc(r["answer"][:80]), str(r["hits"]),
                      when(r["expires_at"]))
    console.print(table)


@app.command("clear")
def clear(ctx: typer.Context,
          model: Annotated[str | None, typer.Option(help="Only this model alias.")] = None) -> None:
    """Remove cached answers (all, or one model's)."""
    removed = _run(ctx, "cache_clear", model)
    console.print(f"removed {removed} cached answers")
