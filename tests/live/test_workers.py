"""`gate serve --workers 2`: two processes on one port, one SQLite file."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.live.conftest import CHAT, Gate, live_config

N = 50
HELLO = "Hello from the fake upstream."


@pytest.fixture(scope="module")
def gate2(tmp_path_factory, fake_upstream):
    server = Gate(tmp_path_factory.mktemp("gate-workers"), live_config(fake_upstream.url), workers=2)
    server.key = server.create_key("workers-app")
    server.start()
    yield server
    server.stop()


async def _one(client, i: int) -> tuple[str, str]:
    if i % 2:
        raw = await client.chat.completions.with_raw_response.create(model="ok", messages=CHAT)
        return raw.headers["x-gate-request-id"], raw.parse().choices[0].message.content
    raw = await client.chat.completions.with_raw_response.create(model="ok", messages=CHAT, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
    return raw.headers["x-gate-request-id"], text


async def test_fifty_concurrent_requests_on_two_workers(gate2):
    client = gate2.async_client(gate2.key)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(_one(client, i) for i in range(N)), return_exceptions=True), 30)
    finally:
        await client.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    assert [text for _, text in results] == [HELLO] * N
    ids = [rid for rid, _ in results]
    assert len(set(ids)) == N

    rows = gate2.wait_for_rows(ids, 15)
    assert len(rows) == N
    assert all(r["status"] == 200 for r in rows)
    assert sum(r["stream"] for r in rows) == N // 2

    deadline = time.monotonic() + 15
    while True:
        spend = {line["group"]: line for line in gate2.cli_json("spend", "--by", "model")}
        if spend.get("ok", {}).get("requests") == N:
            break
        assert time.monotonic() < deadline, f"spend never showed {N} requests: {spend}"
        time.sleep(0.05)
    assert spend["ok"]["errors"] == 0
    assert spend["ok"]["input_tokens"] == 7 * N and spend["ok"]["output_tokens"] == 6 * N

    assert gate2.stop(signal.SIGINT) == 0, gate2.stderr()
    assert gate2.stopped_by == signal.SIGINT
    assert len(gate2.ledger_rows()) == N  # a clean stop of both workers adds and loses nothing
