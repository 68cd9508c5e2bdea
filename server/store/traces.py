"""Traces in the SQLite file: one row per request, its spans as JSON."""

from __future__ import annotations

import apsw
import msgspec


class Span(msgspec.Struct):
    name: str
    start_ms: float                 # from the request's start
    duration_ms: float
    status: str = "ok"              # ok | error
    attributes: dict[str, str | int | float | bool] = {}


class Trace(msgspec.Struct):
    request_id: str
    ts: float
    duration_ms: float
    status: int
    alias: str | None
    spans: list[Span]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(list[Span]).decode


def insert(conn: apsw.Connection, traces: list[Trace]) -> None:
    """Inside the caller's transaction (the ledger writer's)."""
    conn.executemany(
        "INSERT OR REPLACE INTO traces(request_id, ts, alias, status, duration_ms, data) VALUES (?, ?, ?, ?, ?, ?)",
        [(t.request_id, t.ts, t.alias, t.status, t.duration_ms, _encode(t.spans).decode()) for t in traces])


def get(conn: apsw.Connection, request_id: str) -> Trace | None:
    row = conn.execute("SELECT request_id, ts, duration_ms, status, alias, data FROM traces WHERE request_id = ?",
                       (request_id,)).fetchone()
    return Trace(*row[:5], _decode(row[5])) if row else None


def recent(conn: apsw.Connection, limit: int = 50, after: float | None = None) -> list[Trace]:
    rows = conn.execute("SELECT request_id, ts, duration_ms, status, alias, data FROM traces WHERE ts > ? "
                        "ORDER BY ts DESC LIMIT ?", (after or 0.0, limit))
    return [Trace(*r[:5], _decode(r[5])) for r in rows]


def prune(conn: apsw.Connection, before: float) -> int:
    conn.execute("DELETE FROM traces WHERE ts < ?", (before,))
    return conn.changes()
