"""A clean shutdown (SIGINT) writes every ledger row still waiting in memory."""

from __future__ import annotations

import signal

import openai
import pytest

from tests.live.conftest import CHAT, Gate, live_config


@pytest.fixture(scope="module")
def patient_gate(tmp_path_factory, fake_upstream):
    """A server whose ledger would not flush on its own for a minute: only shutdown writes it."""
    server = Gate(tmp_path_factory.mktemp("gate-shutdown"),
                  live_config(fake_upstream.url, flush_interval_ms=60_000))
    server.key = server.create_key("shutdown-app")
    server.start()
    yield server
    server.stop()


def test_sigint_flushes_every_ledger_row(patient_gate):
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

    # The precondition that makes this test mean something: nothing was written yet.
    assert gate.ledger_rows(list(expected)) == [], "rows were flushed before shutdown"

    code = gate.stop(signal.SIGINT)
    assert gate.stopped_by == signal.SIGINT, "SIGINT did not stop the server in time"
    assert code == 0, f"gate serve exited {code} on SIGINT\n{gate.stderr()}"
    rows = gate.ledger_rows()
    assert {r["request_id"]: r["status"] for r in rows} == expected
    assert len(rows) == len(expected)  # and nothing twice
