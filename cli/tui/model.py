"""What the screens show, as plain data and pure functions: no Textual, no sockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rich.text import Text



@dataclass
class Snapshot:
    """One poll of the admin API. Panels whose endpoint failed keep their last data."""

    at: float = 0.0                                # local time of the poll
    stats: dict | None = None                      # /admin/stats
    requests: list[dict] = field(default_factory=list)
    budgets: list[dict] = field(default_factory=list)
    providers: list[dict] = field(default_factory=list)
    spend_key: list[dict] = field(default_factory=list)
    spend_team: list[dict] = field(default_factory=list)
    cache: dict | None = None
    key_names: dict[str, str] = field(default_factory=dict)
    team_names: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # endpoint -> what went wrong


# -- numbers -----------------------------------------------------------------------
def ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.0f}s"
    if value >= 1000:
        return f"{value / 1000:.1f}s"
    if value >= 100:
        return f"{value:.0f}ms"
    if value >= 1:
        return f"{value:.1f}ms"
    return f"{value * 1000:.0f}µs"


def usd(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:.2f}"
    if abs(value) >= 0.01:
        return f"${value:.3f}"
    return f"${value:.5f}"


def count(value: float | None) -> str:
    if value is None:
        return "-"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def clock(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def stamp(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


# -- bars --------------------------------------------------------------------------
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int, style: str) -> Text:
    """A left-aligned bar of `width` cells, filled to `fraction` (eighth-cell steps)."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    filled = "█" * full + (_EIGHTHS[part] if part else "")
    text = Text(filled, style=style)
    text.append("·" * (width - len(filled)), style="dim")
    return text


def budget_style(fraction: float, soft: float) -> str:
    """Green under the soft threshold, yellow from it, red at or over the limit."""
    if fraction >= 1.0:
        return "bold red"
    if fraction >= soft:
        return "yellow"
    return "green"


def budget_fraction(b: dict) -> float | None:
    """The larger of the money and token fractions (spent + reserved against the limit)."""
    parts = []
    if b.get("limit_usd"):
        parts.append(((b.get("spent_usd") or 0) + (b.get("reserved_usd") or 0)) / b["limit_usd"])
    if b.get("limit_tokens"):
        parts.append(((b.get("spent_tokens") or 0) + (b.get("reserved_tokens") or 0)) / b["limit_tokens"])
    return max(parts) if parts else None


def span_bar(start: float, length: float, total: float, width: int, style: str) -> Text:
    """One waterfall row: a bar from `start` for `length` on a time axis `total` long."""
    width = max(width, 1)
    total = max(total, 1e-9)
    begin = min(int(start / total * width), width - 1)
    cells = max(1, round(length / total * width))
    cells = min(cells, width - begin)
    text = Text("·" * begin, style="dim")
    text.append("█" * cells, style=style)
    text.append("·" * (width - begin - cells), style="dim")
    return text


# -- requests ----------------------------------------------------------------------
def attempts(row: dict) -> list[tuple[str, str]]:
    """'down:x=502,fake:ok=ok' -> [('down:x', '502'), ('fake:ok', 'ok')]."""
    out = []
    for part in (row.get("attempts") or "").split(","):
        if part:
            target, _, outcome = part.rpartition("=")
            out.append((target or part, outcome if target else "?"))
    return out


def status_style(status: int | None) -> str:
    if status is None:
        return "dim"
    if status >= 500:
        return "bold red"
    if status >= 400:
        return "yellow"
    return "green"
