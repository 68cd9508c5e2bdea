"""`gate top` driven by Textual's pilot at 80x24 against a real gateway process."""

from __future__ import annotations

from cli.tui.screens.help import HelpScreen
from cli.tui.screens.main import MainScreen
from cli.tui.screens.trace import TraceScreen
from cli.tui.widgets.panels import SpendLines, UpstreamLines
from cli.tui.widgets.requests import RequestTable
from cli.tui.widgets.status import Banner
from cli.tui.widgets.waterfall import SpanTable, depths, label
from tests.tui.conftest import SIZE, screen_text, wait_for_screen, wait_until


def table(app) -> RequestTable:
    return app.screen.query_one(RequestTable)


async def test_the_panels_and_the_table_fill(top, gateway):
    app = top()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table(app).row_count >= 5 and app.snapshot.providers,
                         "five requests in the table and the upstreams")
        # The failover request shows its failed attempts before fake:ok; the footer the keys.
        await wait_for_screen(pilot, "● live", "req/s", "p95", "tui-app", "fake:ok ↻", "⏎ Trace  q Quit  ? Help")
        spend = "\n".join(t.plain for t in app.screen.query_one(SpendLines).lines(60))
        assert "tui-app" in spend and "%" in spend and "$0.00100" in spend  # its budget, as a bar
        assert "tui-other" in spend and "no budget" in spend
        upstreams = "\n".join(t.plain for t in app.screen.query_one(UpstreamLines).lines(60))
        assert "fake" in upstreams and "closed" in upstreams
        assert "down" in upstreams and "✖" in upstreams  # nothing listens on port 9


async def test_enter_opens_the_trace_and_escape_comes_back(top, gateway):
    app = top()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: gateway.failover_id in table(app).rows_by_id, "the failover row")
        await pilot.press("p")  # hold the table still while the cursor walks to the row
        index = list(table(app).rows_by_id).index(gateway.failover_id)
        for _ in range(index):
            await pilot.press("down")
        assert table(app).current_id() == gateway.failover_id
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TraceScreen), "the trace screen")
        spans = app.screen.query_one(SpanTable)
        await wait_until(pilot, lambda: "spans" in str(spans.border_title), "the stored trace")
        await wait_for_screen(pilot, gateway.failover_id, "down:x 502 → fake:fail500 500", "gate.dispatch",
                              "gate.parse", "gate.authenticate", "█")  # the stages, attempts, bars
        rows = [label(s, d).plain for s, d in zip(spans.spans, depths(spans.spans), strict=True)]
        assert rows[0].startswith("chat")  # the request's own span, the stages inside it
        assert "  gate.dispatch" in rows and "    → fake:ok 200" in rows
        await pilot.press("down")
        await wait_until(pilot, lambda: "gate.authenticate" in screen_text(app).split("span attributes")[1],
                         "the attributes of the span under the cursor")
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert table(app).current_id() == gateway.failover_id


async def test_the_cursor_stays_on_its_request_as_rows_arrive(top, gateway):
    app = top()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table(app).row_count >= 5, "rows")
        await pilot.press("down", "down")
        held = table(app).current_id()
        assert held is not None
        new = [gateway.chat("tui-other") for _ in range(3)]
        await wait_until(pilot, lambda: set(new) <= set(table(app).rows_by_id), "the new requests")
        assert table(app).current_id() == held
        assert table(app).cursor_row == 2 + 3
        # On the newest row the cursor follows the newest request.
        await pilot.press("home")
        newer = gateway.chat("tui-other")
        await wait_until(pilot, lambda: newer in table(app).rows_by_id, "one more request")
        assert table(app).current_id() == newer


async def test_help_opens_on_question_mark_and_f1(top):
    app = top()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await wait_for_screen(pilot, "refresh now")
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")  # q closes the help, it does not quit
        assert isinstance(app.screen, MainScreen)
        assert app.is_running


async def test_a_wrong_token_says_so(top):
    app = top(token="not-the-token")
    async with app.run_test(size=SIZE) as pilot:
        banner = app.screen.query_one(Banner)
        await wait_until(pilot, lambda: banner.has_class("-auth"), "the token banner")
        text = await wait_for_screen(pilot, "refused the admin token", "Invalid admin token",
                                     "GATE_ADMIN_TOKEN", "[admin] token")  # plain text, not markup
        assert "not-the-token" not in text
        assert table(app).row_count == 0


async def test_q_and_ctrl_c_quit(top):
    for key in ("q", "ctrl+c"):
        app = top()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press(key)
            await pilot.pause()
            assert not app.is_running, key
