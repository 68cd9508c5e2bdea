"""Upstreams that echo the gateway's credentials, or redirect it elsewhere (issue 13, items 4, 5).

An upstream's 401/403 is a provider failure: the next target serves, nothing it said is
kept. Every other error text is scrubbed of the configured secrets. No redirect is followed:
`trap`, the address the redirects point to, must receive nothing at all.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets

import msgspec
import pytest

from server.admin import operations as admin_ops
from server.core.settings import parse_settings
from server.store import db as store_db
from tests.conftest import make_key
from tests.fake_upstream import FakeUpstream, assert_no_fragment
from tests.integration.test_proxy import events, ledger_rows

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
KEY = "sk-" + secrets.token_urlsafe(30)
HEADER = base64.b64encode(secrets.token_bytes(24)).decode()  # has + / = to encode
ADMIN = {"Authorization": "Bearer test-admin-token"}


def assert_clean(text: str) -> None:
    assert_no_fragment("answer", text, KEY, HEADER)


@pytest.fixture
def trap():
    """Where every redirect points: it must never be reached."""
    upstream = FakeUpstream().start_in_thread()
    yield upstream
    upstream.stop_thread()


@pytest.fixture
def mover(trap):
    """A third upstream whose health and metrics endpoints redirect to the trap."""
    upstream = FakeUpstream(redirect_to=f"http://127.0.0.1:{trap.port}").start_in_thread()
    yield upstream
    upstream.stop_thread()


@pytest.fixture
def config_extra(fake, trap, mover, monkeypatch) -> str:
    monkeypatch.setenv("HOSTILE_KEY", KEY)
    monkeypatch.setenv("HOSTILE_HEADER", HEADER)
    fake.redirect_to = f"http://127.0.0.1:{trap.port}"
    redirects = "".join(f'[models.r{s}]\nroute = ["keyed:redirect{s}", "backup:ok"]\n'
                        for s in (301, 302, 307, 308))
    return f"""
[routing]
retries = 1
backoff_base_ms = 10
backoff_max_ms = 40
breaker_failures = 3
breaker_cooldown_s = 30
health_interval_s = 0.1

[providers.keyed]
kind = "openai"
url = "{fake.url}"
api_key = "env:HOSTILE_KEY"
headers = {{ "api-key" = "env:HOSTILE_HEADER" }}
[providers.backup]
kind = "openai"
url = "{fake.url}"
[providers.moved]
kind = "openai"
url = "{mover.url}"
api_key = "env:HOSTILE_KEY"
health_checks = true

[models.refused]
route = ["keyed:echo401", "backup:ok"]
[models.forbidden]
route = ["keyed:echo403", "backup:ok"]
[models.refusedonly]
route = ["keyed:echo401"]
[models.errorevent]
route = ["keyed:echoevent"]
[models.echotype]
route = ["keyed:echotype"]
[models.redirectonly]
route = ["keyed:redirect307"]
{redirects}"""


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model, behaviour", [("refused", "echo401"), ("forbidden", "echo403")])
async def test_a_refused_credential_moves_on_to_the_next_target_and_echoes_nothing(
        client, fake, settings, model, behaviour, stream):
    r = await client.post("/v1/chat/completions", json={"model": model, "stream": stream, **CHAT})
    assert r.status_code == 200, r.text
    assert r.headers["x-gate-provider"] == "backup" and r.headers["x-gate-fallback"] == "true"
    assert_clean(r.text)
    assert fake.counts[behaviour] == 1  # not retried on the same target
    sent = {k.lower(): v for k, v in fake.requests[0].headers.items()}
    assert sent["authorization"] == f"Bearer {KEY}" and sent["api-key"] == HEADER  # it did get them
    (row,) = await ledger_rows(client, settings, 1)
    assert row.attempts == f"keyed:{behaviour}=502,backup:ok=ok"


async def test_refusals_count_toward_the_breaker(client, fake, settings):
    for _ in range(3):  # breaker_failures = 3
        assert (await client.post("/v1/chat/completions", json={"model": "refused", **CHAT})).status_code == 200
    r = await client.post("/v1/chat/completions", json={"model": "refused", **CHAT})
    assert r.status_code == 200 and fake.counts["echo401"] == 3
    rows = await ledger_rows(client, settings, 4)
    assert rows[-1].attempts == "keyed:echo401=open,backup:ok=ok"
    providers = (await client.get("/admin/providers", headers=ADMIN)).json()
    keyed = next(p for p in providers if p["name"] == "keyed")
    assert keyed["breaker"] == "open" and "refused the gateway's credentials" in keyed["last_error"]
    assert_clean(json.dumps(providers))


@pytest.mark.parametrize("stream", [False, True])
async def test_the_last_refusal_says_what_happened_without_the_credentials(client, settings, stream):
    r = await client.post("/v1/chat/completions", json={"model": "refusedonly", "stream": stream, **CHAT})
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["code"] == "upstream_auth_failed" and error["type"] == "upstream_error"
    assert error["message"].startswith("upstream 'keyed' refused the gateway's credentials (HTTP 401)")
    assert_clean(r.text)
    (row,) = await ledger_rows(client, settings, 1)
    assert "refused the gateway's credentials" in row.error
    assert_clean(msgspec.json.encode(row).decode())


async def test_other_error_text_and_stream_error_events_are_scrubbed(client, fake, settings):
    fake_error = await client.post("/v1/chat/completions", json={"model": "errorevent", "stream": True, **CHAT})
    last = json.loads(events(fake_error.text)[-1])
    assert "Incorrect API key provided" in last["error"]["message"] and "[REDACTED]" in last["error"]["message"]
    assert_clean(fake_error.text)
    rows = await ledger_rows(client, settings, 1)
    assert rows[-1].error.startswith("upstream error event") and "[REDACTED]" in rows[-1].error
    assert_clean(msgspec.json.encode(rows[-1]).decode())


async def test_an_unexpected_content_type_is_scrubbed_too(client, settings):
    r = await client.post("/v1/chat/completions", json={"model": "echotype", "stream": True, **CHAT})
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_bad_response"
    assert "answered a stream request with 'application/json; key=Bearer [REDACTED]'" in r.text
    assert_clean(r.text)
    (row,) = await ledger_rows(client, settings, 1)
    assert_clean(msgspec.json.encode(row).decode())


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_never_followed_and_the_next_target_serves(client, trap, settings, status, stream):
    r = await client.post("/v1/chat/completions", json={"model": f"r{status}", "stream": stream, **CHAT})
    assert r.status_code == 200, r.text
    assert r.headers["x-gate-provider"] == "backup"
    assert trap.hits == []
    (row,) = await ledger_rows(client, settings, 1)
    assert row.attempts == f"keyed:redirect{status}=502,backup:ok=ok"


async def test_a_redirect_with_no_other_target_is_a_clear_502(client, trap):
    r = await client.post("/v1/chat/completions", json={"model": "redirectonly", **CHAT})
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["code"] == "upstream_redirect"
    assert "answered 307 (a redirect); the gateway follows no redirects" in error["message"]
    r = await client.post("/v1/embeddings", json={"model": "redirectonly", "input": "hi"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_redirect"
    assert trap.hits == []


async def test_health_checks_and_metrics_scrapes_follow_no_redirect(client, mover, trap):
    mover.redirect_paths = {"/metrics": 307}
    for _ in range(50):  # health rounds every 0.1 s: wait until a few scrapes were redirected
        if mover.hits.count("GET /metrics") >= 2:
            break
        await asyncio.sleep(0.05)
    assert mover.hits.count("GET /metrics") >= 2
    mover.redirect_paths = {"/v1/models": 302}
    providers = (await client.get("/admin/providers", headers=ADMIN)).json()
    moved = next(p for p in providers if p["name"] == "moved")
    assert moved["ok"] is False and moved["detail"] == "GET /models returned 302 (a redirect, not followed)"
    assert trap.hits == []


async def test_the_budget_webhook_follows_no_redirect(client, settings, fake, trap):
    fake.redirect_paths = {"/hook": 307}
    key = make_key(settings.database.path, "alerting")
    conn = store_db.connect(settings.database.path)
    admin_ops.set_budget(conn, parse_settings(""), admin_ops.BudgetSpec("key", "alerting", tokens=200,
                                                                        soft_pct=0.05))
    conn.close()
    r = await client.post("/v1/chat/completions", json={"model": "ok", "max_tokens": 6, **CHAT},
                          headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    for _ in range(100):
        if "POST /hook" in fake.hits:
            break
        await asyncio.sleep(0.02)
    assert "POST /hook" in fake.hits
    await asyncio.sleep(0.2)  # a followed redirect would have reached the trap by now
    assert trap.hits == []


async def test_the_otlp_exporter_follows_no_redirect(tmp_path, fake, mover, trap, admin_token, monkeypatch):
    from litestar.testing import AsyncTestClient

    from server.web.app import create_app
    from server.core.settings import load_settings
    from tests.conftest import gateway_toml

    mover.redirect_paths = {"/v1/traces": 307}
    path = tmp_path / "otlp.toml"
    path.write_text(gateway_toml(fake.url, f'\n[telemetry]\notlp_endpoint = "http://127.0.0.1:{mover.port}"\n'))
    monkeypatch.delenv("GATE_DB", raising=False)
    settings = load_settings(path)
    key = make_key(settings.database.path)
    async with AsyncTestClient(app=create_app(settings), base_url="http://127.0.0.1") as c:
        r = await c.post("/v1/chat/completions", json={"model": "ok", **CHAT},
                         headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
    # Shutting the gateway down flushes the batch exporter.
    for _ in range(100):
        if "POST /v1/traces" in mover.hits:
            break
        await asyncio.sleep(0.05)
    assert "POST /v1/traces" in mover.hits
    assert trap.hits == []
