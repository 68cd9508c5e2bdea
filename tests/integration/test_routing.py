"""Routing and failover against fake upstreams on loopback that fail in every way."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.conftest import make_key
from tests.fake_upstream import FakeUpstream
from tests.integration.test_proxy import events, ledger_rows

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def second():
    """A second upstream server, so that two targets can report different loads."""
    upstream = FakeUpstream().start_in_thread()
    yield upstream
    upstream.stop_thread()


@pytest.fixture
def config_extra(fake, second, monkeypatch) -> str:
    monkeypatch.setenv("CLOUD_TEST_KEY", "cloud-secret")
    return f"""
[routing]
retries = 1
backoff_base_ms = 10
backoff_max_ms = 40
max_retry_after_s = 2.0
breaker_failures = 3
breaker_cooldown_s = 0.5
health_interval_s = 0.1

[providers.fake2]
kind = "openai"
url = "{fake.url}"
[providers.second]
kind = "openai"
url = "{second.url}"
[providers.cloudy]
kind = "openai"
url = "{fake.url}"
locality = "cloud"
api_key = "env:CLOUD_TEST_KEY"
[providers.small]
kind = "openai"
url = "{fake.url}"
context_window = 64
[providers.hasty]
kind = "openai"
url = "{fake.url}"
first_byte_timeout_s = 0.3
[providers.watched]
kind = "openai"
url = "http://127.0.0.1:9/v1"
health_checks = true

[models.balanced]
route = [["fake:ok", "second:ok"]]
[models.weighted]
route = [["fake:ok", "second:ok"]]
balance = "weighted"
weights = {{ "fake:ok" = 1, "second:ok" = 1 }}
[models.flaky]
route = ["fake:flaky", "fake2:ok"]
[models.breaking]
route = ["fake:fail500", "fake2:ok"]
[models.retryafter]
route = ["fake:busy429", "fake2:ok"]
[models.cloudonly]
route = ["cloudy:ok"]
[models.hybrid]
route = ["cloudy:ok", "fake:ok"]
[models.windowed]
route = ["small:ok", "fake:ok"]
[models.ttft]
route = ["hasty:slowstream", "fake:ok"]
[models.slowjson]
route = ["hasty:slow", "fake:ok"]
[models.probed]
route = ["watched:x", "fake:ok"]
[models.slow]
route = ["fake:slow"]
[models.resetting]
route = ["fake:reset", "fake2:ok"]
[models.halfbody]
route = ["fake:halfbody", "fake2:ok"]
[models.malformed2]
route = ["fake:malformed", "fake2:ok"]
[models.cutting]
route = ["fake:cut", "fake2:ok"]
"""


def body(model: str, **extra) -> dict:
    return {"model": model, **CHAT, **extra}


async def test_zero_client_errors_when_the_primary_fails_half_its_requests(client, fake):
    async def one(i: int) -> int:
        r = await client.post("/v1/chat/completions", json=body("flaky", stream=bool(i % 2)))
        return r.status_code
    statuses = await asyncio.gather(*(one(i) for i in range(100)))
    assert statuses == [200] * 100
    assert fake.counts.get("flaky", 0) > 0


async def test_retry_after_is_honoured_then_the_next_target_serves(client, fake, settings):
    started = time.monotonic()
    r = await client.post("/v1/chat/completions", json=body("retryafter"))
    assert r.status_code == 200 and r.headers["x-gate-provider"] == "fake2"
    assert time.monotonic() - started >= 1.0  # waited the upstream's Retry-After: 1
    assert fake.counts["busy429"] == 2
    (row,) = await ledger_rows(client, settings, 1)
    assert row.attempts == "fake:busy429=429,fake:busy429=429,fake2:ok=ok"


async def test_the_breaker_opens_then_probes_after_its_cooldown(client, fake, settings):
    for _ in range(2):  # 2 requests x 2 tries = 4 failures >= breaker_failures 3
        assert (await client.post("/v1/chat/completions", json=body("breaking"))).status_code == 200
    calls = fake.counts["fail500"]
    r = await client.post("/v1/chat/completions", json=body("breaking"))
    assert r.status_code == 200 and fake.counts["fail500"] == calls  # skipped while open
    rows = await ledger_rows(client, settings, 3)
    assert rows[-1].attempts == "fake:fail500=open,fake2:ok=ok"
    await asyncio.sleep(0.6)  # the cooldown: one probe goes through, fails, opens again
    assert (await client.post("/v1/chat/completions", json=body("breaking"))).status_code == 200
    assert fake.counts["fail500"] == calls + 1
    admin = await client.get("/admin/providers", headers={"Authorization": "Bearer test-admin-token"})
    states = {p["name"]: p for p in admin.json()}
    assert states["fake"]["breaker"] == "open" and states["fake2"]["breaker"] == "closed"


async def test_health_checks_open_the_breaker_of_a_dead_server(client, settings):
    await asyncio.sleep(0.3)  # a few health rounds
    r = await client.post("/v1/chat/completions", json=body("probed"))
    assert r.status_code == 200
    (row,) = await ledger_rows(client, settings, 1)
    assert row.attempts == "watched:x=open,fake:ok=ok"


async def test_least_busy_follows_the_load_the_servers_report(client, fake, second):
    fake.metrics = 'vllm:num_requests_waiting{model_name="ok"} 12\nvllm:num_requests_running 4\n'
    second.metrics = 'vllm:num_requests_waiting{model_name="ok"} 0\nvllm:num_requests_running 1\n'
    await asyncio.sleep(0.3)
    providers = [(await client.post("/v1/chat/completions", json=body("balanced"))).headers["x-gate-provider"]
                 for _ in range(10)]
    assert providers == ["second"] * 10
    fake.metrics, second.metrics = second.metrics, fake.metrics
    await asyncio.sleep(0.3)
    r = await client.post("/v1/chat/completions", json=body("balanced"))
    assert r.headers["x-gate-provider"] == "fake"


async def test_weighted_balance_spreads_the_load(client):
    providers = [(await client.post("/v1/chat/completions", json=body("weighted"))).headers["x-gate-provider"]
                 for _ in range(60)]
    assert 10 < providers.count("fake") < 50 and providers.count("fake") + providers.count("second") == 60


async def test_cloud_targets_need_the_site_and_the_key_to_allow_them(client, settings):
    r = await client.post("/v1/chat/completions", json=body("cloudonly"))
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "egress_forbidden"
    assert "allow_cloud = false" in r.json()["error"]["message"]
    r = await client.post("/v1/chat/completions", json=body("hybrid"))
    assert r.status_code == 200 and r.headers["x-gate-provider"] == "fake"
    rows = await ledger_rows(client, settings, 2)
    assert "cloudy:ok: skipped, cloud egress is off" in rows[-1].route


async def test_egress_follows_a_live_reload_and_key_and_request_policy(client, settings, config_file):
    text = config_file.read_text()
    config_file.write_text(text + "\n[egress]\nallow_cloud = true\nkeys_default = true\n")
    for _ in range(60):
        r = await client.post("/v1/chat/completions", json=body("cloudonly"))
        if r.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert r.status_code == 200 and r.headers["x-gate-provider"] == "cloudy"
    local_only = await client.post("/v1/chat/completions", json=body("hybrid"),
                                   headers={"x-gate-local-only": "true"})
    assert local_only.headers["x-gate-provider"] == "fake"
    restricted = make_key(settings.database.path, "no-cloud", allow_cloud=False)
    r = await client.post("/v1/chat/completions", json=body("cloudonly"),
                          headers={"Authorization": f"Bearer {restricted}"})
    assert r.status_code == 503 and "may not use cloud targets" in r.json()["error"]["message"]


async def test_an_invalid_reload_keeps_the_running_configuration(client, config_file, caplog):
    config_file.write_text(config_file.read_text() + "\n[server]\nbogus = 1\n")
    await asyncio.sleep(1.5)
    assert (await client.post("/v1/chat/completions", json=body("ok"))).status_code == 200
    assert any("invalid" in r.message for r in caplog.records)


async def test_a_guardrail_pattern_that_does_not_compile_keeps_the_running_configuration(client, config_file,
                                                                                         caplog):
    # The runtime compiles the policies where it builds the topology: a reload with a bad
    # pattern is refused whole, with the key, like any invalid file.
    config_file.write_text(config_file.read_text() + '\n[models.fresh]\nroute = ["fake:ok"]\n'
                           '\n[guardrails.policies.broken]\ncustom = { ticket = "(unclosed" }\n')
    for _ in range(40):
        if any("guardrails.policies.broken" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.1)
    refused = [r.getMessage() for r in caplog.records if "guardrails.policies.broken" in r.getMessage()]
    assert refused and "invalid regex" in refused[0] and "keeping the running configuration" in refused[0]
    assert (await client.post("/v1/chat/completions", json=body("ok"))).status_code == 200
    assert (await client.post("/v1/chat/completions", json=body("fresh"))).status_code != 200


async def test_a_request_in_flight_survives_a_reload(client, config_file, fake):
    fake.slow_seconds = 1.5
    pending = asyncio.ensure_future(client.post("/v1/chat/completions", json=body("slow")))
    await asyncio.sleep(0.2)
    config_file.write_text(config_file.read_text().replace('[models.slow]', '[models.renamed]')
                           + '\n[models.fresh]\nroute = ["fake:ok"]\n')
    await asyncio.sleep(1.3)
    assert (await client.post("/v1/chat/completions", json=body("fresh"))).status_code == 200
    r = await pending
    assert r.status_code == 200


async def test_context_windows_skip_targets_that_cannot_fit(client, settings):
    short = await client.post("/v1/chat/completions", json=body("windowed", max_tokens=10))
    assert short.headers["x-gate-provider"] == "small"
    long = await client.post("/v1/chat/completions", json=body("windowed", max_tokens=200))
    assert long.status_code == 200 and long.headers["x-gate-provider"] == "fake"
    rows = await ledger_rows(client, settings, 2)
    assert "context window 64" in rows[-1].route


async def test_first_byte_and_first_token_timeouts_fail_over(client, fake):
    fake.slow_seconds = 1.0
    started = time.monotonic()
    r = await client.post("/v1/chat/completions", json=body("slowjson"))
    assert r.status_code == 200 and r.headers["x-gate-provider"] == "fake"
    s = await client.post("/v1/chat/completions", json=body("ttft", stream=True))
    assert s.headers["x-gate-provider"] == "fake" and events(s.text)[-1] == "[DONE]"
    assert time.monotonic() - started < 3.0  # 2 x (0.3 s + retry 0.3 s), not 2 x 1 s x 2


@pytest.mark.parametrize("model", ["resetting", "halfbody", "malformed2"])
async def test_resets_and_malformed_answers_fail_over(client, model):
    r = await client.post("/v1/chat/completions", json=body(model))
    assert r.status_code == 200 and r.headers["x-gate-provider"] == "fake2"
    assert r.headers["x-gate-fallback"] == "true"


async def test_a_stream_cut_after_the_first_event_does_not_fail_over(client, fake):
    r = await client.post("/v1/chat/completions", json=body("cutting", stream=True))
    data = events(r.text)
    assert "[DONE]" not in data and "error" in json.loads(data[-1])
    assert r.headers["x-gate-provider"] == "fake"
    assert fake.counts.get("ok", 0) == 0  # nothing was sent twice


async def test_breaker_state_is_published_to_the_file(client, settings):
    from server.store import db as store_db
    from server.store import provider_health

    for _ in range(2):
        await client.post("/v1/chat/completions", json=body("breaking"))
    conn = store_db.connect(settings.database.path)
    try:
        for _ in range(40):  # published every 2 s
            known = provider_health.latest(conn)
            if known.get("fake", {}).get("breaker") == "open":
                break
            await asyncio.sleep(0.1)
        assert known["fake"]["breaker"] == "open" and known["fake"]["failed"] == 3  # opened at 3
        assert known["fake2"]["breaker"] == "closed" and known["fake2"]["served"] >= 2
    finally:
        conn.close()
