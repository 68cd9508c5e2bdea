"""The main screen's panels: traffic, latency, spend and budgets, upstreams."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from cli.tui.model import (
    Snapshot,
    bar,
    budget_fraction,
    budget_style,
    count,
    ms,
    pct,
    usd,
)


class TrafficPanel(Vertical):
    """Requests per second over the window, errors, tokens; a sparkline from `series`."""

    def compose(self) -> ComposeResult:
        yield Static("req/s -", id="traffic-line")
        yield Sparkline([], id="rps")

    def show(self, snap: Snapshot) -> None:
        s = snap.stats
        if not s:
            return
        tokens = s.get("tokens") or {}
        rate = s.get("error_rate") or 0
        line = Text.assemble(("req/s ", "dim"), (f"{s.get('rps') or 0:.2f}", "bold"),
                             f"  {count(s.get('requests'))} req", ("  err ", "dim"),
                             (pct(rate), "bold red" if rate >= 0.05 else ""),
                             f"  {count((tokens.get('input') or 0) + (tokens.get('output') or 0))} tok")
        self.query_one("#traffic-line", Static).update(line)
        self.query_one("#rps", Sparkline).data = [p.get("requests", 0) for p in s.get("series") or []]


class LatencyPanel(Static):
    """p50/p95/p99 of total latency and time to first byte; cache hit rate and size; cost."""

    def show(self, snap: Snapshot) -> None:
        s = snap.stats
        if not s:
            return
        out = Text.assemble(("          p50    p95    p99", "dim"))
        for label, key in (("latency", "latency_ms"), ("ttfb", "ttfb_ms")):
            q = s.get(key) or {}
            out.append(f"\n{label:<8}")
            for name in ("p50", "p95", "p99"):
                out.append(f"{ms(q.get(name)):>7}", style="bold" if name == "p50" else "")
        cache = s.get("cache") or {}
        out.append("\ncache ", style="dim")
        out.append(pct(cache.get("hit_rate")), style="bold cyan")
        if snap.cache and snap.cache.get("entries") is not None:
            out.append(f" · {count(snap.cache['entries'])} kept", style="dim")
        out.append(f"  {usd(s.get('cost'))}", style="bold")
        self.update(out)


class Lines(Widget):
    """Rich lines that re-render to the widget's width (bars stretch with the panel)."""

    DEFAULT_CSS = "Lines { height: auto; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.snap = Snapshot()

    def show(self, snap: Snapshot) -> None:
        self.snap = snap
        self.refresh(layout=True)

    def lines(self, width: int) -> list[Text]:
        raise NotImplementedError

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, len(self.lines(width)))

    def render(self) -> Text:
        if not self.snap.at:
            return Text("-", style="dim")
        width = self.content_size.width
        lines = self.lines(width)
        for line in lines:  # one row each, or the height above would be wrong
            line.truncate(width, overflow="ellipsis")
        return Text("\n").join(lines)


class SpendLines(Lines):
    """Budgets as bars (period spend + reservations vs the limit), then spend without one."""

    def lines(self, width: int) -> list[Text]:
        snap = self.snap
        budgeted: dict[tuple[str, str], dict] = {(b["scope"], b["owner"]): b for b in snap.budgets}
        groups = []
        for scope, spend in (("key", snap.spend_key), ("team", snap.spend_team)):
            owners = [b["owner"] for b in snap.budgets if b["scope"] == scope]
            owners += [x["group"] for x in spend if x["group"] not in owners and x["group"] != "-"]
            spent = {x["group"]: x for x in spend}
            groups.append((scope, [(o, budgeted.get((scope, o)), spent.get(o)) for o in owners]))
        entries = [e for _, rows in groups for e in rows]
        name_w = min(10, max([4] + [len(o) for o, _, _ in entries]))
        money_w = max([0] + [len(_money(b)) for _, b, _ in entries if b])
        bar_w = max(4, width - name_w - 1 - 6 - money_w)  # name, bar, " 100% ", money
        out: list[Text] = []
        for scope, rows in groups:
            if rows:
                out.append(Text(f"{scope}s", style="bold dim"))
            for owner, budget, spend in rows:
                out.append(_spend_line(owner[:name_w].ljust(name_w), budget, spend, bar_w))
        for name in ("budgets", "spend_key", "spend_team"):
            if name in snap.errors:
                out.append(Text(f"{name}: {snap.errors[name]}", style="red"))
        return out or [Text("no spend yet", style="dim")]


def _money(budget: dict) -> str:
    if budget.get("limit_usd"):
        return f"{usd(budget['spent_usd'])}/{usd(budget['limit_usd'])}"
    return f"{count(budget['spent_tokens'])}/{count(budget['limit_tokens'])} tok"


def _spend_line(name: str, budget: dict | None, spend: dict | None, bar_w: int) -> Text:
    line = Text(f"{name} ")
    if budget is None:
        if spend:
            line.append(f"{usd(spend['cost'])} · {count(spend['requests'])} req ")
        line.append("no budget", style="dim")
        return line
    fraction = budget_fraction(budget) or 0.0
    style = budget_style(fraction, budget.get("soft_pct") or 0.8)
    line.append_text(bar(fraction, bar_w, style))
    line.append(f" {fraction * 100:>3.0f}% ", style=style)
    line.append(_money(budget))
    return line


class UpstreamLines(Lines):
    """One line per provider: health, breaker state, probe latency, served/failed, in flight."""

    BREAKERS = {"closed": ("closed", "green"), "open": ("OPEN", "bold red"),
                "half_open": ("half-open", "yellow"), None: ("-", "dim")}

    def lines(self, width: int) -> list[Text]:
        out: list[Text] = []
        providers = self.snap.providers
        name_w = min(10, max([4] + [len(p["name"]) for p in providers]))
        for p in providers:
            healthy = p.get("ok")
            line = Text("● " if healthy else "✖ ", style="green" if healthy else "bold red")
            line.append(f"{p['name'][:name_w]:<{name_w}} ", style="bold" if healthy else "red")
            label, style = self.BREAKERS.get(p.get("breaker"), (str(p.get("breaker")), ""))
            line.append(f"{label:<9} ", style=style)
            line.append(f"{count(p.get('served'))}✓ ", style="green")
            line.append(f"{count(p.get('failed'))}✗", style="red" if p.get("failed") else "dim")
            if p.get("inflight"):
                line.append(f" {p['inflight']}⇄", style="cyan")
            if p.get("latency_ms") is not None:  # last: the first thing to go when narrow
                line.append(f" {ms(p['latency_ms'])}", style="dim")
            out.append(line)
            if not healthy and (p.get("detail") or p.get("last_error")):
                out.append(Text(f"  {p.get('detail') or p.get('last_error')}", style="dim red",
                                overflow="ellipsis", no_wrap=True))
        if "providers" in self.snap.errors:
            out.append(Text(f"providers: {self.snap.errors['providers']}", style="red"))
        return out or [Text("no upstreams", style="dim")]


class Panel(VerticalScroll):
    """A titled, scrollable, focusable box around some Lines."""

    def __init__(self, title: str, body: Lines, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = title
        self.body = body

    def compose(self) -> ComposeResult:
        yield self.body

    def show(self, snap: Snapshot) -> None:
        self.body.show(snap)


class Overview(Horizontal):
    """Traffic on the left, latency and cache on the right."""

    def compose(self) -> ComposeResult:
        yield TrafficPanel(id="traffic")
        yield LatencyPanel(id="latency")

    def show(self, snap: Snapshot) -> None:
        self.query_one(TrafficPanel).show(snap)
        self.query_one(LatencyPanel).show(snap)
