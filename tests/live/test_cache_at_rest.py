"""The issue's case end to end: guardrails on, the built-in model answers a question holding
personal data or a secret locally through `gate serve`, and none of it is in the SQLite
file or its WAL, while the server runs and after it stops."""

from __future__ import annotations

import time

import pytest

from tests.live.conftest import BUILTIN, Gate, live_config

pytestmark = pytest.mark.model

VALUES = {
    "email": "jane.roe@example.org",
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "secret": "sk-proj-Q7b2Xk9LmN4pR8sT1vW3yZ6aC0dE5fGh",
}
CLEAN = "Name three colours of the rainbow."


def at_rest(server: Gate) -> bytes:
    raw = server.db_path.read_bytes()
    wal = server.db_path.with_name(server.db_path.name + "-wal")
    return raw + (wal.read_bytes() if wal.exists() else b"")


def test_personal_data_answered_by_the_built_in_model_is_not_at_rest(tmp_path, fake_upstream):
    server = Gate(tmp_path / "gate", live_config(fake_upstream.url, BUILTIN, cache=True))
    key = server.create_key("at-rest")
    server.start()
    try:
        client = server.client(key, timeout=120.0)
        replies = [client.chat.completions.with_raw_response.create(
            model="local", max_tokens=8, temperature=0,
            messages=[{"role": "user", "content": f"Repeat this back to me: {value}"}]) for value in VALUES.values()]
        ids = [r.headers["x-gate-request-id"] for r in replies]
        control = client.chat.completions.with_raw_response.create(
            model="local", max_tokens=8, temperature=0, messages=[{"role": "user", "content": CLEAN}])
        assert control.headers["x-gate-cache"] == "MISS"
        server.wait_for_rows([*ids, control.headers["x-gate-request-id"]])
        deadline = time.monotonic() + 20  # the cache writes on its own thread
        while CLEAN.encode() not in at_rest(server):
            assert time.monotonic() < deadline, "the control question was never written"
            time.sleep(0.1)
        running = at_rest(server)
        assert server.db_path.with_name("gate.db-wal").exists()
    finally:
        server.stop()
    stopped = at_rest(server)
    for kind, value in VALUES.items():
        for form in {value.encode(), value.replace(" ", "").encode()}:
            assert form not in running, f"{kind} at rest while running"
            assert form not in stopped, f"{kind} at rest after the stop"
    # Answered locally, and the cache was bypassed for each.
    assert [(r.headers["x-gate-provider"], r.headers["x-gate-cache"]) for r in replies] == [("builtin", "BYPASS")] * 4
