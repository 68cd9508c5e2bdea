"""The admin client against small fake gateways on 127.0.0.1: broken ones, none."""

from __future__ import annotations

import time

import pytest
from aiohttp import web

from cli.tui.client import AdminClient, AdminError, Unauthorized, Unreachable
from server.admin.operations import TRACE_NOT_FOUND
from tests.fake_upstream import free_port

ROWS = [{"request_id": "req_1", "ts": 0.0, "key_id": "key_1", "team_id": None, "status": 200,
         "latency_ms": 12.0, "ttfb_ms": 3.0, "cache": "MISS", "input_tokens": 1, "output_tokens": 2,
         "cost": 0.1}]


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "x", "param": None, "code": code}},
                             status=status)


STATS = {"requests": 1, "rps": 0.02, "errors": 0, "error_rate": 0.0, "series": []}


class FakeGateway:
    """Answers the admin routes `gate top` polls; a route in `missing` answers 404 as an unknown
    path would, one in `failing` 500; only req_1 has a stored trace."""

    def __init__(self) -> None:
        self.port = free_port()
        self.missing: set[str] = set()
        self.failing: set[str] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != "Bearer good":
            return _error(401, "Invalid admin token.", "invalid_admin_token")
        path = request.path.removeprefix("/admin")
        route = "/traces" if path.startswith("/traces/") else path
        if route in self.missing:
            return _error(404, f"Unknown path GET {request.path}", "not_found")
        if route in self.failing:
            return _error(500, "The gateway failed on this request.", "internal_error")
        if route == "/traces":
            if path == "/traces/req_1":
                return web.json_response({"request_id": "req_1", "spans": []})
            return _error(404, f"no trace for request '{path.rsplit('/', 1)[1]}'", TRACE_NOT_FOUND)
        rows = [dict(r, ts=time.time()) for r in ROWS]
        answers = {"/stats": STATS, "/requests": rows, "/budgets": [], "/providers": [],
                   "/keys": [{"id": "key_1", "name": "app"}], "/teams": [], "/cache": {"entries": 3},
                   "/spend": [{"group": "app", "requests": 1, "errors": 0, "input_tokens": 1,
                               "output_tokens": 2, "cost": 0.1, "estimated": 0}]}
        if path in answers:
            return web.json_response(answers[path])
        return _error(404, f"Unknown path GET {request.path}", "not_found")

    async def __aenter__(self) -> FakeGateway:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


async def test_a_failing_panel_keeps_its_error_and_recovers_by_itself():
    async with FakeGateway() as gw:
        gw.failing.add("/cache")
        client = AdminClient(f"http://127.0.0.1:{gw.port}", "good")
        try:
            snap = await client.poll()
            assert snap.stats == STATS and snap.key_names == {"key_1": "app"}
            assert "cache" in snap.errors and snap.spend_key[0]["group"] == "app"
            gw.failing.clear()
            for _ in range(5):
                snap = await client.poll()
            assert snap.cache == {"entries": 3} and "cache" not in snap.errors
        finally:
            await client.close()


async def test_a_404_from_the_stats_route_is_an_error_like_any_other():
    async with FakeGateway() as gw:
        gw.missing.add("/stats")
        client = AdminClient(f"http://127.0.0.1:{gw.port}", "good")
        try:
            snap = await client.poll()
            assert snap.stats is None
            assert snap.errors["stats"] == "Unknown path GET /admin/stats"
            assert snap.requests and snap.requests[0]["request_id"] == "req_1"
        finally:
            await client.close()


async def test_a_trace_not_stored_yet_is_none_but_a_missing_route_is_an_error():
    async with FakeGateway() as gw:
        client = AdminClient(f"http://127.0.0.1:{gw.port}", "good")
        try:
            assert (await client.trace("req_1"))["request_id"] == "req_1"
            assert await client.trace("req_2") is None
            gw.missing.add("/traces")
            with pytest.raises(AdminError) as caught:
                await client.trace("req_1")
            assert (caught.value.status, caught.value.code) == (404, "not_found")
        finally:
            await client.close()


async def test_a_wrong_token_is_unauthorized_with_the_gateways_message():
    async with FakeGateway() as gw:
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
