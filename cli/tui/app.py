"""`gate top`: the App. One worker polls the admin API; the screens watch what it finds."""

from __future__ import annotations

import asyncio
import contextlib

from textual.app import App
from textual.binding import Binding
from textual.reactive import var

from cli.tui.client import AdminClient, Unauthorized, Unreachable
from cli.tui.model import Snapshot
from cli.tui.screens.help import HelpScreen
from cli.tui.screens.main import MainScreen
from cli.tui.widgets.status import Connection


class TopApp(App):
    CSS_PATH = "top.tcss"
    TITLE = "gate top"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("f1", "help", "Help", show=False),
        Binding("r", "refresh", "Refresh"),
        Binding("f5", "refresh", "Refresh", show=False),
        Binding("p", "pause", "Pause"),
    ]

    snapshot: var[Snapshot | None] = var(None, always_update=True)
    connection: var[Connection] = var(Connection(), always_update=True)

    def __init__(self, url: str, token: str, *, interval: float = 1.0, window: int = 60,
                 retry_max_s: float = 5.0, client: AdminClient | None = None) -> None:
        super().__init__()
        self.url = url.rstrip("/")
        self.interval = interval
        self.retry_max_s = retry_max_s
        self.client = client or AdminClient(self.url, token, window=window)
        self._wake = asyncio.Event()
        self._paused = False
        self._force = False

    def on_mount(self) -> None:
        self.push_screen(MainScreen(self.url))
        self.run_worker(self.poll_forever(), exclusive=True, group="poll", name="poll")

    async def on_unmount(self) -> None:
        await self.client.close()

    # -- polling ---------------------------------------------------------------------------
    def retry_delay(self, attempt: int) -> float:
        """0.5 s, 1 s, 2 s, ... up to retry_max_s between tries while the gateway is away."""
        return min(self.retry_max_s, 0.5 * 2 ** max(0, attempt - 1))

    async def poll_forever(self) -> None:
        attempt, full = 0, True
        while True:
            delay = self.interval
            if not self._paused or self._force:
                self._force = False
                delay, attempt, full = await self.poll_once(attempt, full)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # woken early by r/F5, or the time is up
                await asyncio.wait_for(self._wake.wait(), delay)

    async def poll_once(self, attempt: int, full: bool) -> tuple[float, int, bool]:
        """One poll; returns (seconds to the next, failed attempts so far, next one full)."""
        try:
            snap = await self.client.poll(full=full)
        except Unauthorized as exc:
            self._set(state="auth", message=exc.message, code=exc.code, attempt=attempt + 1)
            return max(5.0, self.interval), attempt + 1, True
        except Unreachable as exc:
            delay = self.retry_delay(attempt + 1)
            self._set(state="down", message=exc.message, code=None, attempt=attempt + 1, retry_in=delay)
            return delay, attempt + 1, True
        self.snapshot = snap
        stats = snap.stats or {}
        self._set(state="live", message="", code=None, attempt=0, last_ok=snap.at,
                  uptime_s=stats.get("uptime_s"), config_error=stats.get("config_error"))
        return self.interval, 0, False

    def _set(self, **changes) -> None:
        current = self.connection
        values = {**current.__dict__, **changes, "paused": self._paused}
        self.connection = Connection(**values)

    # -- actions -------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self._force = True
        self._wake.set()

    def action_pause(self) -> None:
        self._paused = not self._paused
        self._set()
        if not self._paused:
            self._wake.set()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
