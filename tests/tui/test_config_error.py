"""`gate top` says when the gateway serves without part of its gateway.toml.

The gateway starts with a provider whose secret reference does not resolve in its
environment: it serves the rest, and the status bar shows what it could not apply.
"""

from __future__ import annotations

import pytest

from tests.tui.conftest import ADMIN_TOKEN, SIZE, Gateway, wait_for_screen

UNSET = "GATE_TUI_NEVER_SET_SECRET"


@pytest.fixture
def degraded(tmp_path, upstream, monkeypatch):
    monkeypatch.delenv(UNSET, raising=False)
    gw = Gateway(tmp_path, upstream.url)
    gw.config.write_text(gw.config.read_text() + f"""
[providers.cloud]
kind = "openai"
url = "https://api.openai.com/v1"
locality = "cloud"
api_key = "env:{UNSET}"
""")
    gw.create_key("tui-app")
    gw.start()  # ready (200) although one provider could not be built
    yield gw
    gw.stop()


async def test_the_status_bar_shows_what_the_gateway_could_not_apply(degraded):
    from cli.tui.app import TopApp

    assert "provider 'cloud'" in degraded.admin("/stats?window=60")["config_error"]
    app = TopApp(degraded.url, ADMIN_TOKEN, interval=0.25, retry_max_s=0.5)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, "● live", "⚠ provider 'cloud'")
        status = screen.splitlines()[0]
        assert "⚠ provider 'cloud'" in status and status.rstrip().endswith("● live")
        assert len(status) <= SIZE[0]
        # The banner under it has the whole reason (wrapped), and where to look.
        banner = " ".join(line.strip() for line in screen.splitlines()[1:5])
        assert "not fully applied" in banner and UNSET in banner and "gate doctor" in banner
