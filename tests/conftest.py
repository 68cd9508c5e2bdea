"""Shared fixtures: config files in tmp_path, a fake upstream, the app in process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from server.core.settings import load_settings
from server.store import db as store_db
from server.store import keys as key_store
from tests.fake_upstream import FakeUpstream

ROOT = Path(__file__).resolve().parent.parent


def gateway_toml(upstream_url: str, extra: str = "", cache: bool | str = False) -> str:
    """A config routing aliases to the fake upstream's behaviours (see fake_upstream.py).

    The cache is off unless asked for: most tests send the same request more than once.
    `cache` as a string turns it on with those lines added to [cache]."""
    cache_lines = f"enabled = {str(bool(cache)).lower()}"
    if isinstance(cache, str):
        cache_lines += "\n        " + cache  # indented like the template, for dedent
    return textwrap.dedent(f"""
        [server]
        max_body_bytes = 65536

        [cache]
        {cache_lines}

        [admin]
        token = "env:GATE_TEST_ADMIN"

        [ledger]
        flush_interval_ms = 20

        [budgets]
        default_max_tokens = 50
        webhook = "{upstream_url.removesuffix('/v1')}/hook"

        [providers.fake]
        kind = "openai"
        url = "{upstream_url}"
        price_in = 1.0
        price_out = 2.0

        [providers.down]
        kind = "openai"
        url = "http://127.0.0.1:9/v1"
        connect_timeout_s = 1.0
        health_checks = false

        [models.ok]
        route = ["fake:ok"]
        [models.nousage]
        route = ["fake:nousage"]
        [models.echo]
        route = ["fake:echo"]
        [models.fail500]
        route = ["fake:fail500"]
        [models.busy429]
        route = ["fake:busy429"]
        [models.bad400]
        route = ["fake:bad400"]
        [models.reset]
        route = ["fake:reset"]
        [models.cut]
        route = ["fake:cut"]
        [models.malformed]
        route = ["fake:malformed"]
        [models.failover]
        route = ["down:x", "fake:fail500", "fake:ok"]
        [models.nofailover]
        route = ["fake:bad400", "fake:ok"]
        [models.alldown]
        route = ["down:x"]
        """) + textwrap.dedent(extra)


@pytest.fixture
def admin_token(monkeypatch) -> str:
    monkeypatch.setenv("GATE_TEST_ADMIN", "test-admin-token")
    return "test-admin-token"


def make_key(db_path: str, name: str = "app", models: list[str] | None = None,
             expires_at: float | None = None, settings=None, **limits) -> str:
    """A key; `limits` are KeySpec fields (rpm, tpm, team, budget_usd, budget_tokens, period,
    sensitive, guardrails: pass `settings` when the spec names a policy)."""
    conn = store_db.connect(db_path)
    try:
        if not limits:
            return key_store.create_key(conn, name, models=models, expires_at=expires_at).key
        from server.admin import operations as admin_ops
        from server.core.settings import parse_settings

        spec = admin_ops.KeySpec(name=name, models=models, expires_at=expires_at, **limits)
        return admin_ops.create_key(conn, settings or parse_settings(""), spec).key
    finally:
        conn.close()


@pytest.fixture
def fake() -> FakeUpstream:
    """On a thread of its own: the in-process test client runs the app on another loop."""
    upstream = FakeUpstream(slow_seconds=3.0).start_in_thread()
    yield upstream
    upstream.stop_thread()


@pytest.fixture
def config_extra(fake) -> str:
    """More gateway.toml for a test module: override this fixture to add providers/models."""
    return ""


@pytest.fixture
def config_cache() -> bool:
    """Override to turn the cache on for a test module (a string: lines added to [cache])."""
    return False


@pytest.fixture
def config_file(tmp_path, fake, admin_token, config_extra, config_cache) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(gateway_toml(fake.url, config_extra, config_cache))
    return path


@pytest.fixture
def settings(config_file, monkeypatch):
    monkeypatch.delenv("GATE_DB", raising=False)
    monkeypatch.delenv("GATE_ADMIN_TOKEN", raising=False)
    return load_settings(config_file)


@pytest.fixture
async def client(settings):
    """The app in process (Litestar's test client); yields (client, a valid key)."""
    from litestar.testing import AsyncTestClient

    from server.web.app import create_app

    key = make_key(settings.database.path)
    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1") as c:
        c.headers["Authorization"] = f"Bearer {key}"
        yield c
