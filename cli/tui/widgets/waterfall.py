"""A trace as a waterfall: one row per span, a bar on a shared time axis, nesting by containment."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from cli.tui.model import ms, span_bar
from server.core.names import ATTR_STATUS, ATTR_TARGET

FIXED = (("span", 24), ("start", 7), ("took", 7))
EPS = 1e-6  # ms: stages follow each other, so only real nesting counts


def depths(spans: list[dict]) -> list[int]:
    """How many earlier-or-wider spans contain each span (the trace gives no parent ids)."""
    out = []
    for i, s in enumerate(spans):
        start, end = s["start_ms"], s["start_ms"] + s["duration_ms"]
        depth = 0
        for j, other in enumerate(spans):
            if j == i:
                continue
            o_start, o_end = other["start_ms"], other["start_ms"] + other["duration_ms"]
            same = abs(o_start - start) < EPS and abs(o_end - end) < EPS
            if o_start <= start + EPS and end <= o_end + EPS and (not same or j < i):
                depth += 1
        out.append(depth)
    return out


def ordered(spans: list[dict]) -> list[dict]:
    """By start, the wider span first when two start together (a parent before its child)."""
    return sorted(spans, key=lambda s: (s.get("start_ms") or 0.0, -(s.get("duration_ms") or 0.0)))


def is_attempt(span: dict) -> bool:
    """One call to an upstream (the gateway names its target in gate.target)."""
    return ATTR_TARGET in (span.get("attributes") or {}) or span.get("name", "").startswith("upstream")


def span_style(span: dict, depth: int) -> str:
    if span.get("status") == "error":
        return "red"
    if is_attempt(span):
        return "magenta"
    return "bright_white" if depth == 0 else "blue"


def label(span: dict, depth: int) -> Text:
    """Indented by nesting; an attempt shows its target (provider:model) and outcome."""
    attrs = span.get("attributes") or {}
    text = Text("  " * depth, overflow="ellipsis", no_wrap=True)
    error = span.get("status") == "error"
    if ATTR_TARGET in attrs:
        text.append("→ ", style="dim")
        text.append(str(attrs[ATTR_TARGET]), style="red" if error else "magenta")
        if attrs.get(ATTR_STATUS) is not None:
            text.append(f" {attrs[ATTR_STATUS]}", style="red" if error else "green")
        return text
    text.append(span["name"], style="red" if error else "bold" if depth == 0 else "")
    return text


def synthetic(row: dict) -> list[dict]:
    """Without a stored trace: what the ledger row alone says about time."""
    total = row.get("latency_ms") or 0.0
    spans = [{"name": "request", "start_ms": 0.0, "duration_ms": total, "status":
              "error" if (row.get("status") or 0) >= 400 else "ok", "attributes": {}}]
    if row.get("ttfb_ms") is not None:
        spans.append({"name": "first byte", "start_ms": 0.0, "duration_ms": row["ttfb_ms"],
                      "status": "ok", "attributes": {}})
    return spans


class SpanTable(DataTable):
    """The waterfall. The timeline column takes what width is left, and redraws on resize."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.spans: list[dict] = []
        self.total = 0.0
        self._width = 0

    def show(self, spans: list[dict], total: float | None = None) -> None:
        self.spans = ordered(spans)
        ends = [s["start_ms"] + s["duration_ms"] for s in self.spans] or [0.0]
        self.total = max(total or 0.0, max(ends))
        self._draw()

    def timeline_width(self) -> int:
        used = sum(w + 2 * self.cell_padding for _, w in FIXED) + 2 * self.cell_padding
        return max(8, self.scrollable_content_region.width - used - 1)

    def _draw(self) -> None:
        width = self.timeline_width()
        self._width = width
        row = self.cursor_row
        self.clear(columns=True)
        for heading, w in FIXED:
            self.add_column(heading, width=w)
        self.add_column(f"0 … {ms(self.total)}", width=width)
        for span, depth in zip(self.spans, depths(self.spans), strict=True):
            style = span_style(span, depth)
            self.add_row(label(span, depth), Text(ms(span["start_ms"]), style="dim", justify="right"),
                         Text(ms(span["duration_ms"]), justify="right"),
                         span_bar(span["start_ms"], span["duration_ms"], self.total, width, style))
        if self.spans:
            self.move_cursor(row=min(row, len(self.spans) - 1))

    def on_resize(self) -> None:
        if self.spans and self.timeline_width() != self._width:
            self._draw()

    def current(self) -> dict | None:
        if not self.spans or not 0 <= self.cursor_row < len(self.spans):
            return None
        return self.spans[self.cursor_row]
