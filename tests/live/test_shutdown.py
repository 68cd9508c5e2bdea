"""Every answer is in the ledger before it ends; a clean shutdown (SIGINT) writes every
trace still waiting in memory."""

from __future__ import annotations

import signal

import apsw
import openai
import pytest

from tests.live.conftest import CHAT, Gate, live_config


@pytest.fixture(scope="module")
def patient_gate(tmp_path_factory, fake_upstream):
    """A server whose traces would not flush on its own for a minute: only shutdown writes them."""
    server = Gate(tmp_path_factory.mktemp("gate-shutdown"),
                  live_config(fake_upstream.url, flush_interval_ms=60_000))
    server.key = server.create_key("shutdown-app")
    server.start()
    yield server
    server.stop()


def traces(gate: Gate) -> set[str]:
    conn = apsw.Connection(str(gate.db_path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return {r[0] for r in conn.execute("SELECT request_id FROM traces")}
    finally:
        conn.close()


def test_rows_before_the_answers_and_sigint_flushes_every_trace(patient_gate):
    gate = patient_gate
    client = gate.client(gate.key)
    expected: dict[str, int] = {}
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(model="ok", messages=CHAT)
        expected[raw.headers["x-gate-request-id"]] = 200
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(model="ok", messages=CHAT, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        expected[raw.headers["x-gate-request-id"]] = 200
    raw = client.completions.with_raw_response.create(model="ok", prompt="hi")
    expected[raw.headers["x-gate-request-id"]] = 200
    raw = client.embeddings.with_raw_response.create(model="ok", input="hi")
    expected[raw.headers["x-gate-request-id"]] = 200
    raw = client.chat.completions.with_raw_response.create(model="cut", messages=CHAT, stream=True)
    with pytest.raises(openai.APIError):
        list(raw.parse())
    expected[raw.headers["x-gate-request-id"]] = 502
    for call, status in ((lambda: client.chat.completions.create(model="nope", messages=CHAT), 404),
                         (lambda: client.chat.completions.create(model="ok", messages=[]), 400),
                         (lambda: gate.client("sk-gate-wrong").chat.completions.create(model="ok", messages=CHAT), 401)):
        with pytest.raises(openai.APIStatusError) as info:
            call()
        assert info.value.status_code == status
        expected[info.value.response.headers["x-gate-request-id"]] = status
    client.close()
    assert len(expected) == 11

    # Each row was written before its answer ended, not by a batch that may never come.
    assert {r["request_id"]: r["status"] for r in gate.ledger_rows()} == expected
    # The precondition that makes the rest mean something: no trace was written yet.
    assert traces(gate) == set(), "traces were flushed before shutdown"

    code = gate.stop(signal.SIGINT)
    assert gate.stopped_by == signal.SIGINT, "SIGINT did not stop the server in time"
    assert code == 0, f"gate serve exited {code} on SIGINT\n{gate.stderr()}"
    rows = gate.ledger_rows()
    assert {r["request_id"]: r["status"] for r in rows} == expected
    assert len(rows) == len(expected)  # and nothing twice
    assert traces(gate) == set(expected)
