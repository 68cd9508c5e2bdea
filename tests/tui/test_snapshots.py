"""Screen snapshots at 80x24 from fixed data: what an operator sees, character for character.

The snapshots are plain text in tests/tui/snapshots/; after a deliberate change, rewrite
them with GATE_UPDATE_SNAPSHOTS=1 and review the diff.
"""

from __future__ import annotations

import difflib
import os
import time
from pathlib import Path

import pytest

from cli.tui.app import TopApp
from cli.tui.screens.trace import TraceScreen
from cli.tui.widgets.requests import RequestTable
from cli.tui.widgets.waterfall import SpanTable
from tests.tui.canned import TRACE, CannedClient
from tests.tui.conftest import SIZE, screen_text, wait_until

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def check(pilot, name: str) -> None:
    """The screen matches the snapshot (given a moment to finish painting)."""
    path = SNAPSHOTS / f"{name}.txt"
    expected = path.read_text().rstrip("\n") if path.exists() else None
    deadline = time.monotonic() + 3.0
    text = screen_text(pilot.app)
    while text != expected and time.monotonic() < deadline:
        await pilot.pause(0.05)
        text = screen_text(pilot.app)
    if os.environ.get("GATE_UPDATE_SNAPSHOTS") == "1" or expected is None:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text + "\n")
        if os.environ.get("GATE_UPDATE_SNAPSHOTS") != "1":
            pytest.fail(f"{path} did not exist; written now: review it and run again")
        return
    if text != expected:
        diff = "\n".join(difflib.unified_diff(expected.splitlines(), text.splitlines(),
                                              "snapshot", "screen", lineterm=""))
        pytest.fail(f"the screen differs from {path.name}:\n{diff}")


def canned_app() -> TopApp:
    return TopApp("http://gate.example:4000", "token", interval=60.0, client=CannedClient())


async def test_main_screen():
    app = canned_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.query_one(RequestTable).row_count == 14, "canned rows")
        await check(pilot, "main")


async def test_trace_screen():
    app = canned_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.query_one(RequestTable).row_count == 14, "canned rows")
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TraceScreen), "the trace screen")
        spans = app.screen.query_one(SpanTable)
        await wait_until(pilot, lambda: len(spans.spans) == len(TRACE["spans"]), "the canned trace")
        await pilot.press("down", "down", "down")  # onto gate.guard_input: its attributes below
        await check(pilot, "trace")


async def test_help_screen():
    app = canned_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        await check(pilot, "help")
