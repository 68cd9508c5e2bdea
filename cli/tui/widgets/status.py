"""The title line and the connection banner, shown on every screen."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from cli.tui.model import clock, duration


@dataclass(frozen=True)
class Connection:
    """Where the poller stands: connecting, live, down (retrying), auth (token refused)."""

    state: str = "connecting"
    message: str = ""
    code: str | None = None  # the gateway's error code (admin_disabled, invalid_admin_token)
    attempt: int = 0
    retry_in: float = 0.0
    last_ok: float | None = None
    uptime_s: float | None = None
    paused: bool = False
    config_error: str | None = None  # what of gateway.toml the gateway could not apply


class StatusBar(Widget):
    """gate top · URL ......... up 1h02m · 12:00:01 ● live

    When the gateway could not apply part of gateway.toml, the gap says what (⚠ provider
    'x' left out: ...), cut to the width left; the banner below has all of it."""

    DEFAULT_CSS = "StatusBar { height: 1; dock: top; }"

    def __init__(self, url: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.connection = Connection()

    def show(self, connection: Connection) -> None:
        self.connection = connection
        self.refresh()

    def render(self) -> Text:
        c = self.connection
        left = Text.assemble((" gate top ", "bold reverse"), " ", (self.url, "bold"))
        marks = {"live": ("● live", "bold green"), "down": ("● disconnected", "bold red"),
                 "auth": ("● token refused", "bold red"), "connecting": ("● connecting", "yellow")}
        mark, style = marks.get(c.state, ("●", ""))
        if c.paused:
            mark, style = "‖ paused", "bold yellow"
        right = Text()
        if c.uptime_s is not None:
            right.append(f"up {duration(c.uptime_s)} · ", style="dim")
        if c.last_ok is not None:
            right.append(f"{clock(c.last_ok)} ", style="dim")
        right.append(mark + " ", style=style)
        gap = max(1, self.size.width - left.cell_len - right.cell_len)
        if c.config_error and c.state == "live" and gap > 8:
            # Text, not markup: the message comes from the network. Cut to the room left.
            warning = Text(f" ⚠ {c.config_error}", style="bold yellow")
            warning.truncate(gap - 1, overflow="ellipsis")
            return Text.assemble(left, warning, " " * (gap - warning.cell_len), right)
        return Text.assemble(left, " " * gap, right)


class Banner(Static):
    """Hidden while live; says what is wrong (and that it retries) otherwise."""

    DEFAULT_CSS = """
    Banner { height: auto; display: none; padding: 0 1; }
    Banner.-down { display: block; background: $error 70%; color: $text; }
    Banner.-auth { display: block; background: $error; color: $text; text-style: bold; }
    Banner.-connecting { display: block; background: $warning 40%; }
    Banner.-config { display: block; background: $warning 40%; }
    """

    def show(self, c: Connection, url: str) -> None:
        config = c.state == "live" and bool(c.config_error)
        self.set_classes(f"-{c.state}" if c.state in ("down", "auth", "connecting") else "-config" if config else "")
        # Text, not markup: messages come from the network and may hold [brackets].
        if c.state == "down":
            kept = f"; showing data from {clock(c.last_ok)}" if c.last_ok else ""
            self.update(Text(f"disconnected, retrying in {c.retry_in:g}s (attempt {c.attempt}): "
                             f"{c.message}{kept}"))
        elif c.state == "auth" and c.code == "admin_disabled":
            self.update(Text(f"{url} has its admin API turned off: {c.message} Restart it with an "
                             "admin token to watch it; retrying."))
        elif c.state == "auth":
            self.update(Text(f"{url} refused the admin token: {c.message} Set GATE_ADMIN_TOKEN (or "
                             "--admin-token) to the gateway's [admin] token; retrying."))
        elif c.state == "connecting":
            self.update(Text(f"connecting to {url} ..."))
        elif config:
            self.update(Text(f"gateway.toml is not fully applied: {c.config_error} (gate doctor shows it)"))
        else:
            self.update("")
