"""The admin client against small fake gateways on 127.0.0.1: older ones, broken ones, none."""

from __future__ import annotations

import time

import pytest
from aiohttp import web

from cli.tui.client import AdminClient, Unauthorized, Unreachable
from tests.fake_upstream import free_port

ROWS = [{"request_id": "req_1", "ts": 0.0, "key_id": "key_1", "team_id": None, "status": 200,
         "latency_ms": 12.0, "ttfb_ms": 3.0, "cache": "MISS", "input_tokens": 1, "output_tokens": 2,
         "cost": 0.1}]


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "x", "param": None, "code": code}},
                             status=status)


class OldGateway:
    """Answers like a gateway from before /admin/stats and /admin/traces; /admin/cache fails."""

    def __init__(self) -> None:
        self.port = free_port()
        self.cache_fails = True
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.path_qs)
        if request.headers.get("Authorization") != "Bearer good":
            return _error(401, "Invalid admin token.", "invalid_admin_token")
        path = request.path.removeprefix("/admin")
        rows = [dict(r, ts=time.time()) for r in ROWS]
        answers = {"/requests": rows, "/budgets": [], "/providers": [], "/keys": [{"id": "key_1", "name": "app"}],
                   "/teams": [], "/spend": [{"group": "app", "requests": 1, "errors": 0, "input_tokens": 1,
                                             "output_tokens": 2, "cost": 0.1, "estimated": 0}]}
        if path == "/cache":
            if self.cache_fails:
                return _error(500, "The gateway failed on this request.", "internal_error")
            return web.json_response({"entries": 3})
        if path in answers:
            return web.json_response(answers[path])
        return _error(404, f"Unknown path GET {request.path}", "not_found")

    async def __aenter__(self) -> OldGateway:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


async def test_an_older_gateway_gets_estimated_stats_and_no_traces():
    async with OldGateway() as gw:
        client = AdminClient(f"http://127.0.0.1:{gw.port}", "good")
        try:
            snap = await client.poll()
            assert snap.stats_estimated and snap.stats["requests"] == 1
            assert snap.stats["latency_ms"]["p50"] == 12.0
            assert snap.key_names == {"key_1": "app"}
            assert "cache" in snap.errors and snap.spend_key[0]["group"] == "app"
            assert await client.trace("req_1") is None and client.traces_missing
            # It stops asking for /admin/stats on every tick, and a panel recovers by itself.
            gw.cache_fails = False
            gw.seen.clear()
            for _ in range(5):
                snap = await client.poll()
            assert sum("/stats" in p for p in gw.seen) == 1
            assert snap.cache == {"entries": 3} and "cache" not in snap.errors
        finally:
            await client.close()


async def test_a_wrong_token_is_unauthorized_with_the_gateways_message():
    async with OldGateway() as gw:
        client = AdminClient(f"http://127.0.0.1:{gw.port}", "bad")
        try:
            with pytest.raises(Unauthorized) as caught:
                await client.poll()
            assert caught.value.message == "Invalid admin token." and caught.value.code == "invalid_admin_token"
        finally:
            await client.close()


async def test_nothing_listening_is_unreachable():
    port = free_port()
    client = AdminClient(f"http://127.0.0.1:{port}", "good", timeout_s=2.0)
    try:
        with pytest.raises(Unreachable, match=f"connection refused by 127.0.0.1:{port}"):
            await client.poll()
    finally:
        await client.close()


@pytest.mark.parametrize(("status", "page", "why"), [
    (200, "<html>hello</html>", "not answer with JSON"),  # something that is not a gateway
    (502, "<html>502 Bad Gateway</html>", "every admin endpoint failed"),  # a proxy with none behind it
])
async def test_an_html_answer_is_unreachable(status, page, why):
    async def html(request: web.Request) -> web.Response:
        return web.Response(status=status, text=page, content_type="text/html")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", html)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = AdminClient(f"http://127.0.0.1:{port}", "good")
    try:
        with pytest.raises(Unreachable, match=why):
            await client.poll()
    finally:
        await client.close()
        await runner.cleanup()
