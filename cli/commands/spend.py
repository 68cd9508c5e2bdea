"""gate spend: what the ledger says was used and spent."""

from __future__ import annotations

import csv as csv_module
import sys
from typing import Annotated

import typer
from rich.table import Table

from cli.backend import BackendError, backend_for
from cli.context import console, esc, fail, globals_, parse_since, print_json


def spend(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="Group by key, team, model, provider or day.")] = "key",
    since: Annotated[str | None, typer.Option(help="A duration ago (7d) or a date (2026-11-01).")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV (for chargeback).")] = False,
) -> None:
    """Requests, tokens and cost from the ledger."""
    try:
        lines = backend_for(globals_(ctx)).spend(by, parse_since(since))
    except BackendError as exc:
        fail(str(exc))
    if json:
        print_json(lines)
        return
    if csv:
        writer = csv_module.writer(sys.stdout, lineterminator="\n")
        writer.writerow([by, "requests", "errors", "input_tokens", "output_tokens", "cost_usd", "estimated_rows"])
        for x in lines:
            writer.writerow([x["group"], x["requests"], x["errors"], x["input_tokens"], x["output_tokens"],
                             f"{x['cost']:.6f}", x["estimated"]])
        return
    table = Table(title=esc(f"Spend by {by}" + (f" since {since}" if since else "")), title_justify="left")
    table.add_column(esc(by))
    for col in ("requests", "errors", "input tokens", "output tokens", "cost (USD)"):
        table.add_column(col, justify="right")
    for line in lines:
        est = "~" if line["estimated"] else ""
        table.add_row(esc(line["group"]), f"{line['requests']:,}", f"{line['errors']:,}",
                      f"{est}{line['input_tokens']:,}", f"{est}{line['output_tokens']:,}",
                      f"{line['cost']:.4f}")
    if lines:
        table.add_section()
        table.add_row("total", f"{sum(x['requests'] for x in lines):,}", f"{sum(x['errors'] for x in lines):,}",
                      f"{sum(x['input_tokens'] for x in lines):,}", f"{sum(x['output_tokens'] for x in lines):,}",
                      f"{sum(x['cost'] for x in lines):.4f}", style="bold")
    console.print(table)
    if any(x["estimated"] for x in lines):
        console.print("~ some token counts were estimated locally (the upstream reported no usage)")
