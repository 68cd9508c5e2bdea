"""Every row of the admin endpoint table is served by `gate serve` over HTTP, with the method
the table gives it and no other; refusals keep their statuses and codes."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from server.admin.endpoints import ENDPOINT, ENDPOINTS, PREFIX
from tests.live.conftest import ADMIN_TOKEN

KEY = "table-key"
TEAM = "table-team"

# One call per endpoint, in an order where each succeeds: (name, path and query values, body).
CALLS: list[tuple[str, dict, dict | None]] = [
    ("create_key", {}, {"name": KEY, "models": ["ok"]}),
    ("list_keys", {}, None),
    ("show_key", {"ref": KEY}, None),
    ("key_limits", {"ref": KEY}, {"rpm": 100, "tpm": None}),
    ("create_team", {}, {"name": TEAM}),
    ("list_teams", {}, None),
    ("set_budget", {}, {"scope": "key", "owner": KEY, "tokens": 1000}),
    ("budgets", {}, None),
    ("remove_budget", {"kind": "key", "ref": KEY}, None),
    ("events", {"limit": 5}, None),
    ("spend", {"by": "model", "since": 0}, None),
    ("recent", {"limit": 5}, None),
    ("providers", {}, None),
    ("stats", {"window": 60}, None),
    ("traces", {"limit": 5, "after": 1}, None),
    ("trace", {"request_id": None}, None),  # filled in with a real request's id
    ("cache_stats", {}, None),
    ("cache_entries", {"limit": 5, "search": "nothing like it"}, None),
    ("cache_clear", {"alias": "no-such-model"}, None),
    ("rotate_key", {"ref": KEY}, None),
    ("revoke_key", {"ref": KEY}, None),
]


def send(gate, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
    request = urllib.request.Request(gate.base_url + PREFIX + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_calls_cover_the_table():
    assert sorted(name for name, _, _ in CALLS) == sorted(e.name for e in ENDPOINTS)


def test_every_endpoint_answers_its_method(gate, client):
    answer = client.chat.completions.with_raw_response.create(
        model="ok", messages=[{"role": "user", "content": "for the trace"}])
    request_id = answer.headers["x-gate-request-id"]
    for name, values, body in CALLS:
        endpoint = ENDPOINT[name]
        if name == "trace":
            values = {"request_id": request_id}
        status, data = send(gate, endpoint.method, endpoint.url(**values), body)
        assert status == endpoint.status, (name, status, data)
        assert not (isinstance(data, dict) and "error" in data), (name, data)


# Every path of the table with each method it does not serve.
UNSERVED = sorted({(e.path, method) for e in ENDPOINTS for method in ("GET", "POST", "DELETE")}
                  - {(e.path, e.method) for e in ENDPOINTS})


@pytest.mark.parametrize(("template", "method"), UNSERVED)
def test_other_methods_are_not_allowed(gate, template, method):
    path = re.sub(r"\{\w+\}", "x", template)
    status, data = send(gate, method, path, {} if method == "POST" else None)
    assert status == 405, (method, path, status, data)
    assert data["error"]["code"] == "method_not_allowed"


def test_refusals_keep_their_status_and_code(gate):
    create = ENDPOINT["create_team"]
    assert send(gate, "POST", create.url(), {"name": "twice"})[0] == 201
    status, data = send(gate, "POST", create.url(), {"name": "twice"})
    assert status == 409, data
    assert data["error"]["type"] == "invalid_request_error" and data["error"]["code"] == "invalid_request"
    assert "already exists" in data["error"]["message"]

    status, data = send(gate, "POST", ENDPOINT["remove_budget"].url(kind="team", ref="twice"))
    assert (status, data["error"]["code"]) == (404, "not_found"), data
    status, data = send(gate, "GET", ENDPOINT["show_key"].url(ref="no such key"))
    assert (status, data["error"]["code"]) == (404, "key_not_found"), data
    status, data = send(gate, "GET", ENDPOINT["trace"].url(request_id="no-such-request"))
    assert (status, data["error"]["code"]) == (404, "trace_not_found"), data
    status, data = send(gate, "GET", ENDPOINT["spend"].url(by="colour"))
    assert (status, data["error"]["param"]) == (400, "by"), data
    status, data = send(gate, "GET", ENDPOINT["events"].url(limit=0))
    assert (status, data["error"]["param"]) == (400, "limit"), data
