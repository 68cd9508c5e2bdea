"""The CLI's remote backend (`gate --url`) and `gate top` ask only for what the admin endpoint
table serves: every request they make, recorded by a server on 127.0.0.1, is one of its rows
(method, path, query names), and together they use every row."""

from __future__ import annotations

import re
import urllib.parse

import pytest

from cli.backend import Backend, RemoteBackend
from cli.tui.client import AdminClient
from server.admin.endpoints import ENDPOINTS, PREFIX, Endpoint
from tests.cli.conftest import Recorder

TOKEN = "recording-admin-token"
ODD = "a b/c?d&e%"  # a name that must stay one path segment or one query value


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


def _pattern(endpoint: Endpoint) -> re.Pattern:
    return re.compile(re.escape(PREFIX) + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(endpoint.path)))


def match(method: str, path: str, query: dict[str, list[str]]) -> tuple[Endpoint, dict[str, str]]:
    """The table's row this request is for, with its decoded path values; fails if none."""
    for endpoint in ENDPOINTS:
        found = _pattern(endpoint).fullmatch(path)
        if found and endpoint.method == method:
            assert set(query) <= {q.name for q in endpoint.query}, (endpoint.name, query)
            return endpoint, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
    pytest.fail(f"{method} {path} is not in the admin endpoint table")


# Every method of the Backend protocol, with arguments (odd names where a name goes).
REMOTE_CALLS = {
    "list_keys": (), "create_key": ({"name": ODD},), "key_limits": (ODD, 5, None), "list_teams": (),
    "create_team": ({"name": ODD},), "budgets": (), "set_budget": ({"scope": "key", "owner": ODD, "tokens": 5},),
    "remove_budget": ("team", ODD), "events": (7,), "cache_stats": (), "traces": (9, 1700000000.5),
    "trace": (ODD,), "cache_entries": (ODD, 3), "cache_clear": (ODD,), "show_key": (ODD,),
    "revoke_key": (ODD,), "rotate_key": (ODD,), "spend": ("team", 1700000000.0), "recent": (11,),
    "providers": (),
}


def test_remote_calls_cover_the_backend_protocol():
    methods = {name for name in vars(Backend) if not name.startswith("_")}
    assert set(REMOTE_CALLS) == methods


async def test_the_clients_use_only_the_table(recorder):
    backend = RemoteBackend(recorder.url, TOKEN)
    for name, args in REMOTE_CALLS.items():
        getattr(backend, name)(*args)
    remote = [match(*seen) for seen in recorder.seen]
    assert len(remote) == len(REMOTE_CALLS)
    for endpoint, values in remote:  # a name stays one segment, decoded as it was
        assert set(values.values()) <= {ODD, "team"}, (endpoint.name, values)
    assert [ODD] in [query.get("search") for _, _, query in recorder.seen]

    recorder.seen.clear()
    client = AdminClient(recorder.url, TOKEN)
    try:
        await client.poll(full=True)
        await client.trace(ODD)
    finally:
        await client.close()
    top = [match(*seen) for seen in recorder.seen]
    assert ("trace", {"request_id": ODD}) in [(e.name, v) for e, v in top]

    used = {e.name for e, _ in remote} | {e.name for e, _ in top}
    assert used == {e.name for e in ENDPOINTS}
