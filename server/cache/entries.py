"""The cache's tables: exact lookups, the bit-vector search, writes, housekeeping."""

from __future__ import annotations

import time
from dataclasses import dataclass

import apsw
import msgspec
import numpy as np

from server.cache.bitindex import quantize, trim_log
from server.core.names import CacheStatus
from server.store.db import immediate

CANDIDATES = 16  # bit-vector neighbours rescored with the float vectors


@dataclass(slots=True)
class Entry:
    id: int
    query: str
    answer: str
    finish_reason: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    similarity: float = 1.0


_ENTRY = "id, query, answer, finish_reason, model, input_tokens, output_tokens"


def exact(conn: apsw.Connection, key: bytes, now: float) -> Entry | None:
    row = conn.execute(f"SELECT {_ENTRY} FROM cache_entries WHERE exact = ? AND expires_at > ?",
                       (key, now)).fetchone()
    return Entry(*row) if row else None


def nearest(conn: apsw.Connection, partition: str, vector: np.ndarray, now: float) -> Entry | None:
    """The closest live entry of the partition, searched with sqlite-vec: bit vectors, then floats."""
    ids = [r[0] for r in conn.execute(
        "SELECT rowid FROM cache_bits WHERE embedding MATCH vec_quantize_binary(?) AND k = ? AND partition = ?",
        (vector.tobytes(), CANDIDATES, partition))]
    return rescore(conn, ids, vector, now)


def rescore(conn: apsw.Connection, ids: list[int], vector: np.ndarray, now: float) -> Entry | None:
    """The live entry among ids whose float vector is closest to vector (cosine), or None."""
    if not ids:
        return None
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT {_ENTRY}, embedding FROM cache_entries WHERE id IN ({marks}) "
                        "AND expires_at > ? AND embedding IS NOT NULL", (*ids, now)).fetchall()
    if not rows:
        return None
    matrix = np.frombuffer(b"".join(r[-1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    scores = matrix @ vector
    best = int(np.argmax(scores))
    entry = Entry(*rows[best][:-1])
    entry.similarity = float(scores[best])
    return entry


def touch(conn: apsw.Connection, entry_id: int, now: float) -> None:
    conn.execute("UPDATE cache_entries SET hits = hits + 1, last_hit = ? WHERE id = ?", (now, entry_id))


class NewEntry(msgspec.Struct):
    partition: str
    exact: bytes
    scope: str
    alias: str
    op: str
    query: str
    answer: str
    finish_reason: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    created_at: float
    expires_at: float


def put(conn: apsw.Connection, e: NewEntry, vector: np.ndarray | None) -> int:
    """Keep an entry. Its question text is kept only beside an embedding, for the semantic
    stage's verifier; an exact-only entry is found by its hash and keeps no question ('')."""
    query = e.query if vector is not None else ""
    with immediate(conn):
        old = conn.execute("SELECT id FROM cache_entries WHERE exact = ?", (e.exact,)).fetchone()
        if old:
            _delete(conn, [old[0]])
        conn.execute(
            "INSERT INTO cache_entries(partition, exact, scope, alias, op, query, answer, finish_reason, model, "
            "input_tokens, output_tokens, embedding, bits, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (e.partition, e.exact, e.scope, e.alias, e.op, query, e.answer, e.finish_reason, e.model,
             e.input_tokens, e.output_tokens, None if vector is None else vector.tobytes(),
             None if vector is None else quantize(vector), e.created_at, e.expires_at))
        entry_id = conn.last_insert_rowid()
        if vector is not None:
            conn.execute("INSERT INTO cache_bits(rowid, partition, embedding) VALUES (?, ?, vec_quantize_binary(?))",
                         (entry_id, e.partition, vector.tobytes()))
    return entry_id


def _delete(conn: apsw.Connection, ids: list[int]) -> None:
    if not ids:
        return
    marks = ",".join("?" * len(ids))
    conn.execute(f"DELETE FROM cache_bits WHERE rowid IN ({marks})", ids)
    conn.execute(f"DELETE FROM cache_entries WHERE id IN ({marks})", ids)


def prune(conn: apsw.Connection, now: float, max_entries: int) -> int:
    """Drop expired entries, then the least recently used beyond max_entries."""
    with immediate(conn):
        expired = [r[0] for r in conn.execute("SELECT id FROM cache_entries WHERE expires_at <= ?", (now,))]
        _delete(conn, expired)
        count = conn.execute("SELECT count(*) FROM cache_entries").fetchone()[0]
        over = [r[0] for r in conn.execute(
            "SELECT id FROM cache_entries ORDER BY coalesce(last_hit, created_at) LIMIT ?",
            (max(0, count - max_entries),))]
        _delete(conn, over)
        trim_log(conn)
    return len(expired) + len(over)


def clear(conn: apsw.Connection, alias: str | None = None) -> int:
    with immediate(conn):
        where, args = ("WHERE alias = ?", (alias,)) if alias else ("", ())
        ids = [r[0] for r in conn.execute(f"SELECT id FROM cache_entries {where}", args)]
        _delete(conn, ids)
    return len(ids)


class CacheStats(msgspec.Struct):
    entries: int
    semantic_entries: int
    expired: int
    hits: int
    bytes: int
    by_alias: dict[str, int]
    ledger_hits: int
    ledger_semantic_hits: int
    ledger_misses: int
    hit_rate: float | None


def stats(conn: apsw.Connection, now: float | None = None) -> CacheStats:
    now = now or time.time()
    entries, semantic, expired, hits, size = conn.execute(
        "SELECT count(*), count(embedding), coalesce(sum(expires_at <= ?), 0), coalesce(sum(hits), 0), "
        "coalesce(sum(length(answer) + length(query) + coalesce(length(embedding), 0)), 0) FROM cache_entries",
        (now,)).fetchone()
    by_alias = dict(conn.execute("SELECT alias, count(*) FROM cache_entries GROUP BY alias"))
    counts = dict(conn.execute("SELECT cache, count(*) FROM ledger WHERE cache IS NOT NULL GROUP BY cache"))
    h, s, m = counts.get(CacheStatus.HIT, 0), counts.get(CacheStatus.SEMANTIC_HIT, 0), counts.get(CacheStatus.MISS, 0)
    rate = (h + s) / (h + s + m) if h + s + m else None
    return CacheStats(entries, semantic, expired, hits, size, by_alias, h, s, m, rate)


class EntryInfo(msgspec.Struct):
    id: int
    alias: str
    scope: str
    query: str
    answer: str
    hits: int
    created_at: float
    expires_at: float
    semantic: bool


def inspect(conn: apsw.Connection, search: str | None = None, limit: int = 20) -> list[EntryInfo]:
    where, args = ("WHERE query LIKE ?", (f"%{search}%",)) if search else ("", ())
    rows = conn.execute(
        f"SELECT id, alias, scope, query, answer, hits, created_at, expires_at, embedding IS NOT NULL "
        f"FROM cache_entries {where} ORDER BY id DESC LIMIT ?", (*args, limit))
    return [EntryInfo(*r[:-1], bool(r[-1])) for r in rows]
