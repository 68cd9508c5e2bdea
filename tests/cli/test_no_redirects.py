"""The admin clients (`gate --url ...` and `gate top`) never follow a redirect: urllib and
aiohttp would resend the Authorization header, the admin token, to wherever it points."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cli.backend import BackendError, RemoteBackend
from cli.tui.client import AdminClient, AdminError
from tests.fake_upstream import free_port

TOKEN = "admin-token-that-must-stay-home"


class _Server:
    """A server on 127.0.0.1 that records what it receives and answers with `status`."""

    def __init__(self, status: int, location: str | None = None) -> None:
        self.seen: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner.seen.append(dict(self.headers))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"[]")

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(params=[301, 302, 307, 308])
def redirecting(request):
    trap = _Server(200)
    server = _Server(request.param, location=trap.url + "/admin/keys")
    yield server, trap
    server.close()
    trap.close()


def test_the_cli_remote_backend_does_not_follow(redirecting):
    server, trap = redirecting
    with pytest.raises(BackendError, match="a redirect: not followed"):
        RemoteBackend(server.url, TOKEN).list_keys()
    assert len(server.seen) == 1 and trap.seen == []


async def test_gate_top_does_not_follow(redirecting):
    server, trap = redirecting
    client = AdminClient(server.url, TOKEN)
    try:
        with pytest.raises(AdminError, match="a redirect: not followed"):
            await client.get("/keys")
    finally:
        await client.close()
    assert len(server.seen) == 1 and trap.seen == []
