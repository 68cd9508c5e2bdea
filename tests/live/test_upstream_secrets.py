"""An upstream that echoes the gateway's credentials, against `gate serve` as a real process.

The fake upstream's `echo401`/`echo403`/`echoevent` answers repeat every header it got (the
provider's api_key and a custom header secret) in full, masked, URL-encoded and base64. No
fragment of either secret may reach a client, the server's stdout/stderr, the SQLite file or
its WAL, the admin API, `gate providers list --json` or the traces; the second target serves.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.request

import apsw
import openai
import pytest

from tests.fake_upstream import assert_no_fragment
from tests.live.conftest import ADMIN_TOKEN, CHAT, Gate, live_config

KEY = "sk-" + secrets.token_urlsafe(30)
HEADER = base64.b64encode(secrets.token_bytes(24)).decode()  # has + / = to encode

EXTRA = """
[routing]
breaker_failures = 100  # every request of the scenario reaches the echoing upstream

[providers.keyed]
kind = "openai"
url = "{url}"
api_key = "env:LIVE_HOSTILE_KEY"
headers = {{ "api-key" = "env:LIVE_HOSTILE_HEADER" }}

[models.refused]
route = ["keyed:echo401", "fake:ok"]
[models.forbidden]
route = ["keyed:echo403", "fake:ok"]
[models.refusedonly]
route = ["keyed:echo401"]
[models.errorevent]
route = ["keyed:echoevent"]
"""


def assert_clean(where: str, text: str | bytes) -> None:
    assert_no_fragment(where, text, KEY, HEADER)


class KeyedGate(Gate):
    def serve_env(self):
        cwd, env = super().serve_env()
        env.update(LIVE_HOSTILE_KEY=KEY, LIVE_HOSTILE_HEADER=HEADER)
        return cwd, env


def admin(gate: Gate, path: str) -> str:
    request = urllib.request.Request(gate.base_url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return resp.read().decode()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, fake_upstream):
    text = live_config(fake_upstream.url, EXTRA.format(url=fake_upstream.url))
    server = KeyedGate(tmp_path_factory.mktemp("gate-hostile"), text)
    server.key = server.create_key("hostile-app")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def seen(hostile, fake_upstream) -> list[str]:
    """Every request of the scenario made once; what the client saw of each."""
    client = hostile.client(hostile.key)
    out = []
    for model in ("refused", "forbidden"):
        raw = client.chat.completions.with_raw_response.create(model=model, messages=CHAT)
        assert raw.headers["x-gate-provider"] == "fake" and raw.headers["x-gate-fallback"] == "true"
        out.append(raw.text)
        chunks = list(client.chat.completions.create(model=model, messages=CHAT, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
            "Hello from the fake upstream."
        out.append(json.dumps([c.model_dump() for c in chunks]))
    out.append(client.embeddings.create(model="refused", input="hi").model_dump_json())
    for stream in (False, True):
        with pytest.raises(openai.InternalServerError) as refused:
            client.chat.completions.create(model="refusedonly", messages=CHAT, stream=stream)
        assert refused.value.status_code == 502
        assert "refused the gateway's credentials (HTTP 401)" in refused.value.message
        out += [str(refused.value), refused.value.response.text]
    with pytest.raises(openai.APIError) as event:
        list(client.chat.completions.create(model="errorevent", messages=CHAT, stream=True))
    assert "Incorrect API key provided" in event.value.message and "[REDACTED]" in event.value.message
    out += [str(event.value), json.dumps(event.value.body)]
    client.close()
    # The upstream did get the secrets, so there was something to leak.
    got = [{k.lower(): v for k, v in r.headers.items()} for r in fake_upstream.requests
           if r.body.get("model") == "echo401"]
    assert got and got[-1]["authorization"] == f"Bearer {KEY}" and got[-1]["api-key"] == HEADER
    return out


def test_clients_get_the_second_targets_answer_or_a_clean_error(seen):
    for i, text in enumerate(seen):
        assert_clean(f"client answer {i}", text)


def test_the_admin_api_and_the_cli_show_no_secret(hostile, seen):
    requests = admin(hostile, "/admin/requests?limit=100")
    assert "refused the gateway's credentials" in requests and "[REDACTED]" in requests
    assert_clean("/admin/requests", requests)
    providers = admin(hostile, "/admin/providers")
    keyed = next(p for p in json.loads(providers) if p["name"] == "keyed")
    assert keyed["failed"] >= 1 and keyed["last_error"]
    assert_clean("/admin/providers", providers)
    traces = json.loads(admin(hostile, "/admin/traces?limit=100"))
    assert len(traces) >= 8  # one per request of the scenario
    assert_clean("/admin/traces", json.dumps(traces))
    for t in traces:
        assert_clean(f"/admin/traces/{t['request_id']}", admin(hostile, f"/admin/traces/{t['request_id']}"))
    assert_clean("gate traces --json", hostile.cli("traces", "--limit", "100", "--json").stdout)
    deadline = time.monotonic() + 15  # provider_health is published every 2 s
    while True:
        listed = hostile.cli("providers", "list", "--json").stdout
        row = next(p for p in json.loads(listed) if p["name"] == "keyed")
        if row["last_error"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "refused the gateway's credentials" in row["last_error"]
    assert_clean("gate providers list --json", listed)


def test_the_log_and_the_database_files_hold_no_secret(hostile, seen):
    def files() -> dict[str, bytes]:
        found = {p.name: p.read_bytes() for p in hostile.dir.glob("gate.db*")}
        assert "gate.db" in found
        return found

    running = files()  # the WAL holds the latest writes while the server runs
    assert "gate.db-wal" in running
    hostile.stop()
    stopped = files()
    for name, data in [*running.items(), *stopped.items()]:
        assert_clean(name, data)
    conn = apsw.Connection(str(hostile.db_path))
    try:
        errors = [r[0] for r in conn.execute("SELECT error FROM ledger WHERE error IS NOT NULL")]
        health = [r[0] for r in conn.execute("SELECT last_error FROM provider_health")]
    finally:
        conn.close()
    assert any("refused the gateway's credentials" in e for e in errors)
    assert any("[REDACTED]" in e for e in errors)  # the stream's error event, scrubbed
    assert_clean("ledger.error", "\n".join(errors) + "\n".join(h or "" for h in health))
    for name in ("serve.stdout", "serve.stderr"):
        assert_clean(name, (hostile.dir / name).read_bytes())
