"""`gate serve --workers 2`: two processes on one port, one SQLite file."""

from __future__ import annotations

import asyncio
import signal
import time

import apsw
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


QUESTION = "How do I reset my password?"
# Not the same request (the exact cache would answer), the same question to the embedder
# (all-MiniLM-L6-v2 lowercases): each one is a semantic lookup that must find QUESTION's answer.
SAME_MEANING = [QUESTION.lower(), QUESTION.upper(), QUESTION + "!", QUESTION.rstrip("?"), "how do i reset my password",
                "HOW do I reset my password?", "How DO I reset my password?", "How do I RESET my password?",
                "How do I reset MY password?", "How do I reset my PASSWORD?", "how DO i RESET my PASSWORD?",
                "HOW do i reset MY password?"]


@pytest.fixture(scope="module")
def gate2_cache(tmp_path_factory, fake_upstream):
    server = Gate(tmp_path_factory.mktemp("gate-workers-cache"), live_config(fake_upstream.url, cache=True), workers=2)
    server.key = server.create_key("cache-app")
    server.start()
    yield server
    server.stop()


async def _ask(gate: Gate, text: str) -> tuple[str, str]:
    client = gate.async_client(gate.key)  # a new connection: either worker may take it
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model="ok", messages=[{"role": "user", "content": text}])
        return raw.headers["x-gate-cache"], raw.parse().choices[0].message.content
    finally:
        await client.close()


async def test_an_answer_kept_by_one_worker_is_found_by_both(gate2_cache):
    status, answer = await _ask(gate2_cache, QUESTION)
    assert status == "MISS"
    deadline = time.monotonic() + 15
    conn = apsw.Connection(str(gate2_cache.db_path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        while not conn.execute("SELECT count(*) FROM cache_entries WHERE bits IS NOT NULL").fetchone()[0]:
            assert time.monotonic() < deadline, "the answer was never kept"
            await asyncio.sleep(0.05)
    finally:
        conn.close()
    # Waves of three at once, on new connections, so both workers answer some (each follows
    # the other's writes through cache_log); three stay under a worker's waiting limit.
    results = []
    for start in range(0, len(SAME_MEANING), 3):
        results += await asyncio.wait_for(
            asyncio.gather(*(_ask(gate2_cache, t) for t in SAME_MEANING[start:start + 3])), 30)
    assert results == [("SEMANTIC_HIT", answer)] * len(SAME_MEANING), results
