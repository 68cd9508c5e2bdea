"""The main view: traffic, latency, spend and budgets, upstreams, and the recent requests."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from cli.tui.model import Snapshot
from cli.tui.widgets.panels import Overview, Panel, SpendLines, UpstreamLines
from cli.tui.widgets.requests import RequestTable
from cli.tui.widgets.status import Banner, Connection, StatusBar


class MainScreen(Screen):
    def __init__(self, url: str) -> None:
        super().__init__(id="main")
        self.url = url

    def compose(self) -> ComposeResult:
        yield StatusBar(self.url)
        yield Banner(id="banner")
        yield Overview(id="overview")
        with Horizontal(id="middle"):
            yield Panel("spend · budgets", SpendLines(), id="spend")
            yield Panel("upstreams", UpstreamLines(), id="upstreams")
        table = RequestTable(id="requests")
        table.border_title = "recent requests · enter: trace"
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "connection", self.show_connection)
        self.watch(self.app, "snapshot", self.show_snapshot)
        self.query_one(RequestTable).focus()

    def show_connection(self, connection: Connection) -> None:
        self.query_one(StatusBar).show(connection)
        self.query_one(Banner).show(connection, self.url)

    def show_snapshot(self, snap: Snapshot | None) -> None:
        if snap is None:
            return
        self.query_one(Overview).show(snap)
        for panel in self.query(Panel):
            panel.show(snap)
        self.query_one(RequestTable).show(snap)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        table = event.data_table
        if not isinstance(table, RequestTable):
            return
        row = table.rows_by_id.get(event.row_key.value or "")
        if row is not None:
            from cli.tui.screens.trace import TraceScreen

            self.app.push_screen(TraceScreen(self.url, row, self.app.snapshot))
