"""The admin clients (`gate --url ...` and `gate top`) never follow a redirect: urllib and
aiohttp would resend the Authorization header, the admin token, to wherever it points."""

from __future__ import annotations

import pytest

from cli.backend import BackendError, RemoteBackend
from cli.tui.client import AdminClient, AdminError
from tests.cli.conftest import Recorder

TOKEN = "admin-token-that-must-stay-home"


@pytest.fixture(params=[301, 302, 307, 308])
def redirecting(request):
    trap = Recorder()
    server = Recorder(request.param, location=trap.url + "/admin/keys")
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
