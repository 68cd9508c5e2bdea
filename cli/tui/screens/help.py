"""The help screen (? or F1): the keys, and what each panel means."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("↑ ↓ j k PgUp PgDn", "move in the requests table"),
    ("Home g / End G", "newest / oldest request"),
    ("Enter", "the trace of the request under the cursor"),
    ("Esc", "back (from a trace or this help)"),
    ("Tab / Shift+Tab", "next / previous panel (spend and upstreams scroll too)"),
    ("r  F5", "refresh now"),
    ("p", "pause / resume polling"),
    ("?  F1", "this help"),
    ("q  Ctrl+C", "quit"),
]

PANELS = [
    ("req/s", "requests per second over the last 60 s (one sparkline bar a second), with "
              "the requests, error rate and tokens of those 60 s"),
    ("latency", "p50/p95/p99 of answered requests, whole and to the first byte, last 60 s"),
    ("cache", "share of cache lookups answered from the cache (exact + semantic hits), the "
              "answers kept, and what the last 60 s cost"),
    ("spend", "budgets as bars: spent + reserved this period against the limit; yellow "
              "from the soft threshold, red at the limit. Without a budget: all-time spend"),
    ("upstreams", "● healthy or ✖ failing; breaker closed, OPEN or half-open; probe latency; "
                  "requests served ✓ and failed ✗; ⇄ in flight"),
    ("requests", "newest first; on the top row the cursor follows new requests, elsewhere it "
                 "stays on its request. ↻N: N failed attempts first; ~: tokens estimated"),
    ("trace", "the request, its pipeline stages and each upstream attempt as bars on one "
              "time axis; the span under the cursor shows its attributes"),
]


def grid(rows: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for key, what in rows:
        table.add_row(key, what)
    return table


class HelpScreen(ModalScreen):
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("question_mark", "close", show=False),
        Binding("f1", "close", show=False),
        Binding("q", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("keys", style="bold"))
            yield Static(grid(KEYS))
            yield Static(Text("\nwhat the panels show", style="bold"))
            yield Static(grid(PANELS))

    def on_mount(self) -> None:
        box = self.query_one("#help")
        box.border_title = "gate top · help"
        box.border_subtitle = "Esc to close"
        box.focus()

    def action_close(self) -> None:
        self.dismiss()
