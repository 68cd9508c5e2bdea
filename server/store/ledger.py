"""The spend ledger: one row per request, written in batches; reports for `gate spend`."""

from __future__ import annotations

import apsw
import msgspec


class LedgerRow(msgspec.Struct, kw_only=True):
    request_id: str
    ts: float
    key_id: str | None
    endpoint: str
    alias: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    stream: bool = False
    status: int = 200
    input_tokens: int = 0
    output_tokens: int = 0
    usage_estimated: bool = False
    cost: float = 0.0
    latency_ms: float = 0.0
    ttfb_ms: float | None = None
    attempts: str | None = None
    team_id: str | None = None
    route: str | None = None
    cache: str | None = None
    similarity: float | None = None
    guard: str | None = None
    error: str | None = None


_FIELDS = tuple(LedgerRow.__struct_fields__)
_INSERT = f"INSERT INTO ledger({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})"


def insert_rows(conn: apsw.Connection, rows: list[LedgerRow]) -> None:
    """Write many rows (one transaction: the caller's, or a savepoint of its own)."""
    with conn:
        conn.executemany(_INSERT, [msgspec.structs.astuple(r) for r in rows])


def insert_row(conn: apsw.Connection, row: LedgerRow) -> None:
    """Write one row inside the caller's transaction (the request path's)."""
    conn.execute(_INSERT, msgspec.structs.astuple(row))


def fetch_rows(conn: apsw.Connection, *, since: float | None = None, limit: int = 100) -> list[LedgerRow]:
    sql = f"SELECT {', '.join(_FIELDS)} FROM ledger WHERE ts >= ? ORDER BY id DESC LIMIT ?"
    out = []
    for values in conn.execute(sql, (since or 0.0, limit)):
        row = dict(zip(_FIELDS, values, strict=True))
        row["stream"] = bool(row["stream"])
        row["usage_estimated"] = bool(row["usage_estimated"])
        out.append(LedgerRow(**row))
    return out


class SpendLine(msgspec.Struct):
    group: str
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost: float
    estimated: int  # rows whose usage was counted locally, not reported upstream


GROUPS = {
    "key": "coalesce(k.name, l.key_id, '-')",
    "team": "coalesce(t.name, l.team_id, '-')",
    "model": "coalesce(l.alias, '-')",
    "provider": "coalesce(l.provider, '-')",
    "day": "date(l.ts, 'unixepoch')",
}


def spend(conn: apsw.Connection, by: str = "key", since: float | None = None) -> list[SpendLine]:
    if by not in GROUPS:
        raise ValueError(f"cannot group by '{by}' (choose one of: {', '.join(GROUPS)})")
    group = GROUPS[by]
    sql = (
        f"SELECT {group} AS g, count(*), sum(l.status >= 400), sum(l.input_tokens), "
        "sum(l.output_tokens), sum(l.cost), sum(l.usage_estimated) "
        "FROM ledger l LEFT JOIN keys k ON k.id = l.key_id LEFT JOIN teams t ON t.id = l.team_id "
        "WHERE l.ts >= ? "
        "GROUP BY g ORDER BY sum(l.cost) DESC, count(*) DESC, g"
    )
    return [SpendLine(*row) for row in conn.execute(sql, (since or 0.0,))]


def count_rows(conn: apsw.Connection) -> int:
    return conn.execute("SELECT count(*) FROM ledger").fetchone()[0]
