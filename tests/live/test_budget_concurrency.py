"""Hundreds of concurrent requests from two worker processes against one small budget."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import apsw
import pytest

from tests.live.conftest import CHAT, Gate, live_config

BUDGET_TOKENS = 5000
N = 300


@pytest.fixture(scope="module")
def gate2(tmp_path_factory, fake_upstream):
    server = Gate(tmp_path_factory.mktemp("gate-budget"), live_config(fake_upstream.url), workers=2)
    created = server.cli_json("keys", "create", "--name", "burst", "--budget-tokens", str(BUDGET_TOKENS),
                              "--period", "daily")
    server.key = created["key"]
    server.start()
    yield server
    server.stop()


async def one(session: aiohttp.ClientSession, gate: Gate, i: int) -> tuple[int, int, dict]:
    stream = i % 2 == 0
    body = {"model": "slow", "max_tokens": 10, "messages": CHAT, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    async with session.post(gate.base_url + "/v1/chat/completions", json=body,
                            headers={"Authorization": f"Bearer {gate.key}"}) as resp:
        text = await resp.text()
        if resp.status != 200:
            return resp.status, 0, json.loads(text)["error"]
        if not stream:
            return 200, json.loads(text)["usage"]["total_tokens"], {}
        chunks = [json.loads(line[6:]) for line in text.splitlines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
        assert text.rstrip().endswith("data: [DONE]")
        return 200, chunks[-1]["usage"]["total_tokens"], {}


def spend_in_file(gate: Gate) -> tuple[int, int]:
    conn = apsw.Connection(str(gate.db_path))
    conn.setbusytimeout(5000)
    try:
        spent = conn.execute("SELECT coalesce(sum(tokens), 0) FROM budget_spend").fetchone()[0]
        held = conn.execute("SELECT count(*) FROM reservations").fetchone()[0]
        return spent, held
    finally:
        conn.close()


async def test_a_burst_never_overspends_and_the_books_balance(gate2):
    connector = aiohttp.TCPConnector(limit=N)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as s:
        results = await asyncio.gather(*(one(s, gate2, i) for i in range(N)))
        statuses = [r[0] for r in results]
        assert set(statuses) <= {200, 429}, [r for r in results if r[0] not in (200, 429)][:3]
        refused = [r[2] for r in results if r[0] == 429]
        # Every request's worst case (44 tokens) is held while it runs, so not all 300 fit at once...
        assert refused and all(e["code"] == "budget_exceeded" for e in refused)
        used = sum(r[1] for r in results)
        # ...but what was settled is exactly what the answers reported, and within the budget.
        spent, held = spend_in_file(gate2)
        assert held == 0
        assert spent == used <= BUDGET_TOKENS

        # Once the reservations have settled, the room left is usable again.
        later = await asyncio.gather(*(one(s, gate2, 2 * i + 1) for i in range(5)))
        assert [r[0] for r in later] == [200] * 5
        used += sum(r[1] for r in later)

    rows = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = gate2.ledger_rows()
        if len(rows) == N + 5:
            break
        await asyncio.sleep(0.05)
    assert len(rows) == N + 5
    assert sum(r["input_tokens"] + r["output_tokens"] for r in rows) == used == spend_in_file(gate2)[0]
    assert sum(r["status"] == 429 for r in rows) == len(refused)
