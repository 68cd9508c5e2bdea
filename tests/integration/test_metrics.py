"""GET /metrics stays a valid exposition whatever keys, teams, models and upstream models are
called: newlines, quotes, backslashes and unicode in label values, parsed back exactly."""

from __future__ import annotations

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from server.store import db as store_db
from server.store import keys as key_store
from server.store import teams as team_store

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
# A model name a client may send (unknown: 404, but counted under the name it sent).
SENT = 'evil"}\nfake_metric{a="b"} 1\n# HELP x \\ Zürich ✓'
# An upstream model name in a route (no newline: the config refuses one; ASCII: it is echoed
# in the x-gate-upstream-model header, and non-ASCII there is another matter).
UPSTREAM = 'qu"o\\te} {x="y"}'
KEY = 'ops\n"night" \\ shift ✓'
TEAM = 'ml "core"\\\nZürich'


@pytest.fixture
def config_extra() -> str:
    route = UPSTREAM.replace("\\", "\\\\").replace('"', '\\"')
    return f'\n[models.odd]\nroute = ["fake:{route}"]\n'


async def _traffic(client, settings) -> None:
    conn = store_db.connect(settings.database.path)
    try:
        team = team_store.create_team(conn, TEAM)
    finally:
        conn.close()
    from server.admin import operations as admin_ops

    conn = store_db.connect(settings.database.path)
    try:
        # The admin API refuses such a name now; a file from before may still hold one.
        key = key_store.create_key(conn, KEY, team_id=team.id)
        admin_ops.set_budget(conn, settings, admin_ops.BudgetSpec(scope="key", owner=key.info.id, usd=5.0))
        admin_ops.set_budget(conn, settings, admin_ops.BudgetSpec(scope="team", owner=team.id, tokens=1000))
    finally:
        conn.close()
    for _ in range(2):
        assert (await client.post("/v1/chat/completions", json={"model": SENT, **CHAT})).status_code == 404
    assert (await client.post("/v1/chat/completions", json={"model": "odd", **CHAT})).status_code == 200


def _values(families: dict) -> dict:
    requests = {(s.labels["alias"], s.labels["code"]): s.value for s in families["gate_requests"].samples}
    attempts = {(s.labels["target"], s.labels["outcome"]): s.value
                for s in families["gate_upstream_attempts"].samples}
    owners = {s.labels["owner"]: s.value for s in families["gate_budget_remaining_usd"].samples}
    tokens = {s.labels["owner"]: s.value for s in families["gate_budget_remaining_tokens"].samples}
    counts = {s.labels["alias"]: s.value for s in families["gate_request_duration_seconds"].samples
              if s.name.endswith("_count")}
    return {"requests": requests, "attempts": attempts, "usd": owners, "tokens": tokens, "counts": counts}


def _check(values: dict) -> None:
    assert values["requests"][(SENT, "4xx")] == 2
    assert values["requests"][("odd", "2xx")] == 1
    assert values["attempts"][(f"fake:{UPSTREAM}", "ok")] == 1
    assert values["usd"][KEY] == pytest.approx(5.0)
    assert values["tokens"][TEAM] == 1000
    assert values["counts"][SENT] == 2 and values["counts"]["odd"] == 1


async def test_odd_names_parse_back_exactly(client, settings):
    await _traffic(client, settings)
    r = await client.get("/metrics")
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert "fake_metric" not in families  # a name cannot inject a sample
    _check(_values(families))
    assert families["gate_requests"].type == "counter" and families["gate_overhead_seconds"].type == "histogram"
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"  # one charset


async def test_openmetrics_when_the_scraper_asks_for_it(client, settings):
    await _traffic(client, settings)
    accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
              "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")  # what Prometheus sends
    r = await client.get("/metrics", headers={"Accept": accept})
    assert r.status_code == 200
    content_type = r.headers["content-type"]
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert content_type.count("charset") == 1 and r.text.endswith("# EOF\n")
    _check(_values({f.name: f for f in openmetrics_families(r.text)}))


async def test_histogram_buckets_are_cumulative(client, settings):
    for _ in range(3):
        await client.post("/v1/chat/completions", json={"model": "ok", **CHAT})
    text = (await client.get("/metrics")).text
    family = next(f for f in text_string_to_metric_families(text) if f.name == "gate_request_duration_seconds")
    buckets = [s for s in family.samples if s.name.endswith("_bucket") and s.labels["alias"] == "ok"]
    values = [s.value for s in buckets]
    assert values == sorted(values) and buckets[-1].labels["le"] == "+Inf" and values[-1] == 3
    total = next(s.value for s in family.samples if s.name.endswith("_sum") and s.labels["alias"] == "ok")
    assert total > 0
