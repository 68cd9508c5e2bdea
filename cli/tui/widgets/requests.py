"""The live table of recent requests: refreshed every tick, the cursor stays on its request."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from cli.tui.model import Snapshot, clock, count, ms, status_style, usd
from server.core.names import CACHE_HITS, CacheStatus

# (label, minimum width, share of the width left over); cells get one space either side.
COLUMNS = (("time", 8, 0), ("key", 7, 1), ("model", 10, 1), ("upstream", 13, 2), ("st", 3, 0),
           ("latency", 7, 0), ("tokens", 7, 0), ("cost", 8, 0))
RIGHT = {"latency", "tokens", "cost"}


def widths(available: int) -> list[int]:
    """Column widths for a table `available` cells wide (the extra goes to names)."""
    base = [w for _, w, _ in COLUMNS]
    extra = max(0, available - sum(base) - 2 * len(COLUMNS))
    shares = sum(s for _, _, s in COLUMNS)
    out = [w + extra * s // shares for (_, _, s), w in zip(COLUMNS, base, strict=True)]
    return out


def cells(row: dict, snap: Snapshot, upstream_width: int = 13) -> list[Text]:
    key = snap.key_names.get(row.get("key_id") or "", row.get("key_id") or "-")
    retries = (row.get("attempts") or "").count(",")
    mark = f" ↻{retries}" if retries else ""
    if row.get("cache") in CACHE_HITS:
        upstream = Text("cache hit" if row["cache"] == CacheStatus.HIT else "cache sem", style="cyan")
    elif row.get("provider"):
        name = f"{row['provider']}:{row.get('upstream_model') or ''}"
        room = max(1, upstream_width - len(mark))
        upstream = Text(name if len(name) <= room else name[:room - 1] + "…")
    else:
        upstream = Text("-", style="dim")
    upstream.append(mark, style="yellow")
    tilde = "~" if row.get("usage_estimated") else ""
    tokens = f"{tilde}{count(row.get('input_tokens'))}/{count(row.get('output_tokens'))}"
    return [
        Text(clock(row.get("ts")), style="dim"),
        Text(key),  # Text everywhere: a plain str cell would be read as markup
        Text(row.get("alias") or "-"),
        upstream,
        Text(str(row.get("status", "")), style=status_style(row.get("status"))),
        Text(ms(row.get("latency_ms")), justify="right"),
        Text(tokens, justify="right"),
        Text(usd(row.get("cost")), justify="right"),
    ]


class RequestTable(DataTable):
    """Newest first. `rows` keeps the ledger row behind each table row (by request id)."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Trace"),
        Binding("home", "newest", "Newest", show=False),
        Binding("g", "newest", "Newest", show=False),
        Binding("end", "oldest", "Oldest", show=False),
        Binding("G", "oldest", "Oldest", show=False),
        Binding("j", "cursor_down", show=False),
        Binding("k", "cursor_up", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_by_id: dict[str, dict] = {}
        self._ids: list[str] = []
        self._names: tuple = ()
        self._widths: list[int] = []
        self._snap = Snapshot()

    def on_mount(self) -> None:
        self._columns()

    def available(self) -> int:
        """The width for cells, whether or not the vertical scrollbar shows right now."""
        return self.size.width - self.styles.gutter.width - self.styles.scrollbar_size_vertical

    def on_resize(self) -> None:
        if widths(self.available()) != self._widths:
            self.show(self._snap, force=True)

    def _columns(self) -> None:
        self._widths = widths(self.available())
        self.clear(columns=True)
        for (label, _, _), width in zip(COLUMNS, self._widths, strict=True):
            self.add_column(Text(label, justify="right") if label in RIGHT else label,
                            width=width, key=label)

    def show(self, snap: Snapshot, force: bool = False) -> None:
        self._snap = snap
        ids = [r["request_id"] for r in snap.requests]
        names = (tuple(snap.key_names.items()),)
        if ids == self._ids and names == self._names and not force:
            return  # ledger rows never change once written
        current = self.current_id()
        old_index, old_scroll = self.cursor_row, self.scroll_y
        self.rows_by_id = {r["request_id"]: r for r in snap.requests}
        if force:
            self._columns()
        else:
            self.clear()
        for row in snap.requests:
            self.add_row(*cells(row, snap, self._widths[3]), key=row["request_id"])
        self._ids, self._names = ids, names
        if not ids:
            return
        # On the newest row the cursor follows the newest; elsewhere it stays on its request.
        if old_index == 0 and not old_scroll:
            index = 0
        elif current in ids:
            index = ids.index(current)
        else:
            index = min(old_index, len(ids) - 1)
        self.move_cursor(row=index, scroll=False)
        # Rows came in above the cursor. A view at the top stays there, so new requests come
        # into sight; a view scrolled down moves with its rows, so nothing jumps.
        target = old_scroll + (index - old_index) if old_scroll else 0
        self.call_after_refresh(self._restore_scroll, target)

    def _restore_scroll(self, y: float) -> None:
        self.scroll_to(y=y, animate=False, force=True, immediate=True)
        if self.row_count:
            self._scroll_cursor_into_view()

    def current_id(self) -> str | None:
        if not self.row_count or not self._ids:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    def current(self) -> dict | None:
        rid = self.current_id()
        return self.rows_by_id.get(rid) if rid else None

    def action_newest(self) -> None:
        self.move_cursor(row=0)

    def action_oldest(self) -> None:
        self.move_cursor(row=max(0, self.row_count - 1))
