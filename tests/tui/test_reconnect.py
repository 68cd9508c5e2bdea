"""The gateway goes away and comes back: `gate top` says so, keeps its data, and recovers."""

from __future__ import annotations

import asyncio

from cli.tui.app import TopApp
from cli.tui.widgets.requests import RequestTable
from cli.tui.widgets.status import Banner
from tests.tui.conftest import SIZE, wait_for_screen, wait_until


async def test_a_restart_shows_the_banner_then_recovers(top, gateway):
    app = top()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(RequestTable)
        banner = app.screen.query_one(Banner)
        await wait_until(pilot, lambda: table.row_count >= 5 and app.connection.state == "live", "live rows")
        rows = table.row_count
        await asyncio.to_thread(gateway.stop)
        await wait_until(pilot, lambda: banner.has_class("-down"), "the disconnected banner")
        await wait_for_screen(pilot, "disconnected, retrying", "● disconnected", "showing data from")
        assert table.row_count == rows  # the last data stays on screen
        await wait_until(pilot, lambda: app.connection.attempt >= 3, "a few retries")
        await asyncio.to_thread(gateway.start)
        await wait_until(pilot, lambda: app.connection.state == "live", "live again")
        assert not banner.has_class("-down")
        await wait_for_screen(pilot, "● live")
        fresh = await asyncio.to_thread(gateway.chat, "tui-other")
        await wait_until(pilot, lambda: fresh in table.rows_by_id, "a request made after the restart")


def test_retries_back_off_up_to_a_limit():
    app = TopApp("http://127.0.0.1:1", "t", retry_max_s=5.0)
    assert [app.retry_delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
