"""The group commit of ledger rows and settlements, on a real SQLite file."""

from __future__ import annotations

import asyncio

import apsw

from server.store import db
from server.store import ledger as ledger_store
from server.store.ledger import LedgerRow
from server.store.ledger_commit import LedgerCommit
from server.store.ledger_writer import LedgerWriter


def row(i: int) -> LedgerRow:
    return LedgerRow(request_id=f"req_{i}", ts=1_700_000_000.0 + i, key_id="k", endpoint="chat", cost=0.001)


def parts(path, busy_ms: int = 5000):
    conn = db.connect(path, busy_timeout_ms=busy_ms, checkpoints=False)
    writer = LedgerWriter(db.connect(path, migrate=False), flush_interval_ms=60_000, batch_size=1000)
    return conn, writer


def marker(name: str):
    """A settlement that writes a row of its own (to see that it ran in the commit)."""
    def settle(conn: apsw.Connection) -> list:
        conn.execute("INSERT INTO events(ts, kind, scope, owner_id, detail) VALUES (0, 'settled', 'key', ?, '')",
                     (name,))
        return [name]
    return settle


def broken(conn: apsw.Connection) -> list:
    conn.execute("INSERT INTO budget_spend(budget_id, bucket, usd, tokens) VALUES (999, 0, 1, 1)")  # no budget 999
    return ["never"]


async def test_requests_that_finish_in_one_loop_turn_share_one_commit(tmp_path):
    conn, writer = parts(tmp_path / "gate.db")
    published: list = []
    commit = LedgerCommit(conn, writer, published.extend)
    waits = [commit.add(row(i), None, marker(f"r{i}") if i % 2 else None) for i in range(50)]
    assert ledger_store.count_rows(conn) == 0  # nothing before the loop turn ends
    await asyncio.gather(*waits)
    assert ledger_store.count_rows(conn) == 50 and commit.commits == 1
    assert conn.execute("SELECT count(*) FROM events WHERE kind = 'settled'").fetchone()[0] == 25
    assert published == [f"r{i}" for i in range(1, 50, 2)]
    await commit.add(row(50), None, None)  # alone, it commits at once too
    assert ledger_store.count_rows(conn) == 51 and commit.commits == 2


async def test_a_settlement_that_fails_still_leaves_its_row_and_spares_the_others(tmp_path):
    conn, writer = parts(tmp_path / "gate.db")
    commit = LedgerCommit(conn, writer)
    await asyncio.gather(commit.add(row(1), None, marker("a")), commit.add(row(2), None, broken),
                         commit.add(row(3), None, marker("b")))
    assert ledger_store.count_rows(conn) == 3
    assert conn.execute("SELECT count(*) FROM events WHERE kind = 'settled'").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM budget_spend").fetchone()[0] == 0


async def test_a_locked_file_hands_rows_and_settlements_to_the_writer(tmp_path):
    conn, writer = parts(tmp_path / "gate.db", busy_ms=50)
    other = db.connect(tmp_path / "gate.db")
    commit = LedgerCommit(conn, writer)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock past the busy timeout
    await asyncio.wait_for(commit.add(row(1), None, marker("late")), 10)  # the answer is not held forever
    other.execute("ROLLBACK")
    assert ledger_store.count_rows(conn) == 0
    await writer.flush()  # the writer's thread writes the row and runs the settlement
    assert ledger_store.count_rows(conn) == 1
    assert conn.execute("SELECT count(*) FROM events WHERE kind = 'settled'").fetchone()[0] == 1
    await writer.close()
