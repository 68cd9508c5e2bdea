"""The main screen's panels: traffic, latency, spend and budgets, upstreams."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from cli.tui.model import (Snapshot, bar, budget_fraction, budget_style, count, ms, pct, usd)


class TrafficPanel(Vertical):
    """Requests per second over the window: a headline and a sparkline from `series`."""

    def compose(self) -> ComposeResult:
        yield Static("req/s -", id="traffic-line")
        yield Sparkline([], id="rps")

    def show(self, snap: Snapshot) -> None:
        s = snap.stats
        if not s:
            return
        line = Text.assemble(("req/s ", "dim"), (f"{s.get('rps') or 0:.2f}", "bold"),
                             (f"  {count(s.get('requests'))} in {s.get('window_s', 60)}s", "dim"),
                             ("  errors ", "dim"))
        rate = s.get("error_rate") or 0
        line.append(f"{count(s.get('errors'))} ({pct(rate)})", style="bold red" if rate >= 0.05 else "")
        if snap.stats_estimated:
            line.append("  est.", style="dim italic")
        self.query_one("#traffic-line", Static).update(line)
        self.query_one("#rps", Sparkline).data = [p.get("requests", 0) for p in s.get("series") or []]


class LatencyPanel(Static):
    """p50/p95/p99 of total latency and time to first byte; cache hit rate; tokens; cost."""

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
        hits = (cache.get("hits") or 0) + (cache.get("semantic_hits") or 0)
        out.append("\ncache ", style="dim")
        out.append(pct(cache.get("hit_rate")), style="bold cyan")
        out.append(f" ({hits}) ", style="dim")
        tokens = s.get("tokens") or {}
        out.append(f"tok {count(tokens.get('input'))}/{count(tokens.get('output'))} ", style="dim")
        out.append(usd(s.get("cost")), style="bold")
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
        return Text("\n").join(self.lines(self.content_size.width)) if self.snap.at else Text("-", style="dim")


class SpendLines(Lines):
    """Budgets as bars (period spend + reservations vs the limit), then spend without one."""

    def lines(self, width: int) -> list[Text]:
        snap = self.snap
        out: list[Text] = []
        budgeted: dict[tuple[str, str], dict] = {(b["scope"], b["owner"]): b for b in snap.budgets}
        for scope, spend in (("key", snap.spend_key), ("team", snap.spend_team)):
            owners = [b["owner"] for b in snap.budgets if b["scope"] == scope]
            owners += [x["group"] for x in spend if x["group"] not in owners and x["group"] != "-"]
            if not owners:
                continue
            out.append(Text(f"{scope}s", style="bold dim"))
            spent = {x["group"]: x for x in spend}
            for owner in owners:
                out.append(_spend_line(owner, budgeted.get((scope, owner)), spent.get(owner), width))
        for name in ("budgets", "spend_key", "spend_team"):
            if name in snap.errors:
                out.append(Text(f"{name}: {snap.errors[name]}", style="red"))
        return out or [Text("no spend yet", style="dim")]


def _spend_line(owner: str, budget: dict | None, spend: dict | None, width: int) -> Text:
    line = Text(f"{owner[:10]:<10} ")
    if budget is None:
        line.append("no budget", style="dim")
        if spend:
            line.append(f"  {usd(spend['cost'])} · {count(spend['requests'])} req", style="")
        return line
    fraction = budget_fraction(budget) or 0.0
    style = budget_style(fraction, budget.get("soft_pct") or 0.8)
    if budget.get("limit_usd"):
        money = f"{usd(budget['spent_usd'])}/{usd(budget['limit_usd'])}"
    else:
        money = f"{count(budget['spent_tokens'])}/{count(budget['limit_tokens'])} tok"
    width_left = max(4, width - line.cell_len - len(money) - 6)
    line.append_text(bar(fraction, width_left, style))
    line.append(f"{fraction * 100:>4.0f}% ", style=style)
    line.append(money)
    return line


class UpstreamLines(Lines):
    """One line per provider: health, breaker state, probe latency, served/failed, in flight."""

    BREAKERS = {"closed": ("closed", "green"), "open": ("OPEN", "bold red"),
                "half_open": ("half-open", "yellow"), None: ("-", "dim")}

    def lines(self, width: int) -> list[Text]:
        out: list[Text] = []
        for p in self.snap.providers:
            healthy = p.get("ok")
            line = Text("● " if healthy else "✖ ", style="green" if healthy else "bold red")
            line.append(f"{p['name'][:10]:<10} ", style="bold" if healthy else "red")
            label, style = self.BREAKERS.get(p.get("breaker"), (str(p.get("breaker")), ""))
            line.append(f"{label:<9} ", style=style)
            line.append(f"{ms(p.get('latency_ms')):>6} ", style="dim")
            line.append(f"{count(p.get('served'))}✓ ", style="green")
            line.append(f"{count(p.get('failed'))}✗", style="red" if p.get("failed") else "dim")
            if p.get("inflight"):
                line.append(f" {p['inflight']}⇄", style="cyan")
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
