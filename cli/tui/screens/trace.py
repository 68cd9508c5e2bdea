"""One request in detail: what the ledger recorded, and its trace as a waterfall of spans."""

from __future__ import annotations

import asyncio

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from cli.tui.client import AdminError, Unreachable
from cli.tui.model import Snapshot, attempts, count, ms, stamp, status_style, usd
from cli.tui.widgets.status import Banner, Connection, StatusBar
from cli.tui.widgets.waterfall import SpanTable, synthetic

# A trace is written in the same transaction as its ledger row, so it is there by the time
# the row is on screen, or never; one more try covers a gateway that writes them apart.
TRACE_TRIES = 2
TRACE_RETRY_S = 0.5


def summary(row: dict, snap: Snapshot | None) -> Table:
    names = snap.key_names if snap else {}
    teams = snap.team_names if snap else {}
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    status = row.get("status")
    grid.add_row("request", Text.assemble(
        (row["request_id"], "bold"), f"  {stamp(row.get('ts'))}  ",
        (str(status), status_style(status)), f"  {row.get('endpoint') or ''}",
        ("  stream" if row.get("stream") else "", "cyan")))
    key = names.get(row.get("key_id") or "", row.get("key_id") or "-")
    team = teams.get(row.get("team_id") or "", row.get("team_id"))
    target = f"{row.get('provider')}:{row.get('upstream_model')}" if row.get("provider") else "-"
    grid.add_row("who", Text.assemble((key, "bold"), f"  team {team}" if team else "",
                                      "  model ", (row.get("alias") or "-", "bold"), " → ", Text(target)))
    tilde = "~" if row.get("usage_estimated") else ""
    grid.add_row("time", Text.assemble(
        (ms(row.get("latency_ms")), "bold"), f"  first byte {ms(row.get('ttfb_ms'))}",
        f"  tokens {tilde}{count(row.get('input_tokens'))} in / {tilde}{count(row.get('output_tokens'))} out",
        f"  cost {usd(row.get('cost'))}"))
    tries = Text()
    for i, (target_, outcome) in enumerate(attempts(row)):
        tries.append(" → " if i else "", style="dim")
        tries.append(f"{target_} ", style="bold")
        tries.append(outcome, style="green" if outcome == "ok" else "yellow" if outcome == "open" else "red")
    grid.add_row("attempts", tries if tries else Text("none (answered before dispatch)", style="dim"))
    cache = row.get("cache") or "-"
    if row.get("similarity") is not None:
        cache += f"  similarity {row['similarity']:.3f}"
    grid.add_row("cache", Text(cache))
    if row.get("route"):
        grid.add_row("routing", Text(row["route"]))
    if row.get("error"):
        grid.add_row("error", Text(row["error"], style="red"))
    return grid


class TraceScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("backspace", "back", show=False),
        Binding("left", "back", show=False),
    ]

    def __init__(self, url: str, row: dict, snap: Snapshot | None) -> None:
        super().__init__(id="trace")
        self.url = url
        self.row = row
        self.snap = snap
        self.trace: dict | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(self.url)
        yield Banner(id="banner")
        yield Static(summary(self.row, self.snap), id="summary")
        spans = SpanTable(id="spans")
        spans.border_title = "trace"
        yield spans
        with VerticalScroll(id="attributes"):
            yield Static("", id="attrs")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "connection", self.show_connection)
        self.query_one("#attributes").border_title = "span attributes"
        self.query_one(SpanTable).focus()
        self.run_worker(self.load(), exclusive=True, group="trace")

    def show_connection(self, connection: Connection) -> None:
        self.query_one(StatusBar).show(connection)
        self.query_one(Banner).show(connection, self.url)

    async def load(self) -> None:
        table = self.query_one(SpanTable)
        table.border_title = "trace · loading"
        note = "no trace stored for this request; timings from the ledger"
        for attempt in range(TRACE_TRIES):
            try:
                self.trace = await self.app.client.trace(self.row["request_id"])
            except Unreachable as exc:
                note = f"trace unavailable: {exc.message}; timings from the ledger"
            except AdminError as exc:
                note = f"trace unavailable: {exc.message}"
                break
            if self.trace is not None:
                break
            await asyncio.sleep(TRACE_RETRY_S)
        if self.trace is not None and self.trace.get("spans"):
            spans = self.trace["spans"]
            table.show(spans, self.trace.get("duration_ms"))
            table.border_title = f"trace · {len(spans)} spans · {ms(self.trace.get('duration_ms'))}"
        else:
            table.show(synthetic(self.row), self.row.get("latency_ms"))
            table.border_title = note
        self.show_attributes()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_attributes()

    def show_attributes(self) -> None:
        span = self.query_one(SpanTable).current()
        attrs = self.query_one("#attrs", Static)
        if span is None:
            attrs.update("")
            return
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("span", Text.assemble((span["name"], "bold"), f"  {span.get('status', '')}  "
                                           f"+{ms(span.get('start_ms'))} for {ms(span.get('duration_ms'))}"))
        for name, value in sorted((span.get("attributes") or {}).items()):
            grid.add_row(Text(name), Text(str(value)))
        attrs.update(grid)

    def action_back(self) -> None:
        self.app.pop_screen()
