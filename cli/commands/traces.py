"""gate traces: recent requests' traces, or one in full; --follow keeps printing new ones."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from cli.backend import BackendError, call, run
from cli.context import console, esc, print_json, when
from server.core.names import ATTR_CACHE, ATTR_PROVIDER

app = typer.Typer(help="Request traces (stages, attempts, timings).", no_args_is_help=False,
                  invoke_without_command=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _line(t: dict) -> str:
    root = t["spans"][0]["attributes"] if t["spans"] else {}
    color = "red" if t["status"] >= 400 else "green"
    target = root.get(ATTR_PROVIDER, root.get(ATTR_CACHE, "-"))
    alias = t["alias"] or "-"
    return (f"{when(t['ts'])}  [{color}]{t['status']}[/]  {esc(t['request_id'])}  {esc(f'{alias:<12}')} "
            f"{esc(f'{target:<10}')} {t['duration_ms']:8.1f} ms  in {root.get('gen_ai.usage.input_tokens', 0)} "
            f"out {root.get('gen_ai.usage.output_tokens', 0)}")


@app.callback()
def traces(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many (newest first).")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new traces.")] = False,
    json: JsonOpt = False,
) -> None:
    """Recent traces; `gate traces show ID` for one in full."""
    if ctx.invoked_subcommand is not None:
        return
    backend, rows = run(ctx, lambda backend: (backend, backend.traces(limit, None)))
    if json and not follow:
        print_json(rows)
        return
    for t in reversed(rows):
        print_json(t) if json else console.print(_line(t), highlight=False)
    last = max((t["ts"] for t in rows), default=time.time() - 1)
    while follow:
        time.sleep(1.0)
        try:
            fresh = backend.traces(1000, last)
        except BackendError as exc:
            console.print(f"[yellow]{esc(exc)}; retrying[/]", highlight=False)
            continue
        for t in reversed(fresh):
            print_json(t) if json else console.print(_line(t), highlight=False)
        last = max([last, *(t["ts"] for t in fresh)])


@app.command("show")
def show(ctx: typer.Context, request_id: Annotated[str, typer.Argument(help="The x-gate-request-id.")],
         json: JsonOpt = False) -> None:
    """One trace: its stages and upstream attempts as a waterfall."""
    t = call(ctx, "trace", request_id)
    if json:
        print_json(t)
        return
    total = max(t["duration_ms"], 0.001)
    title = esc(f"{t['request_id']} · {t['alias']} · {t['status']} · {total:.2f} ms")
    table = Table(title=title, title_justify="left")
    for col in ("span", "start ms", "ms", "", "attributes"):
        table.add_column(col, overflow="fold")
    width = 20
    for s in t["spans"]:
        left = int(s["start_ms"] / total * width)
        bar = " " * left + "█" * max(1, int(s["duration_ms"] / total * width))
        attrs = ", ".join(f"{k}={v}" for k, v in s.get("attributes", {}).items() if not k.startswith("gate.request"))
        style = "red" if s.get("status") == "error" else "cyan"
        table.add_row(esc(s["name"]), f"{s['start_ms']:.2f}", f"{s['duration_ms']:.2f}", f"[{style}]{bar[:width]}[/]",
                      esc(attrs))
    console.print(table)
