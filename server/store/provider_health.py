"""Each worker's view of its providers, published to the file for `gate providers list`."""

from __future__ import annotations

import time

import apsw

from server.store.db import immediate

STALE_S = 120.0


def publish(conn: apsw.Connection, worker: int, snapshots: list[dict], now: float) -> None:
    with immediate(conn):
        conn.execute("DELETE FROM provider_health WHERE worker = ? OR updated_at < ?", (worker, now - STALE_S))
        conn.executemany(
            "INSERT INTO provider_health(worker, name, breaker, failures, inflight, load, served, failed, "
            "last_error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(worker, s["name"], s["breaker"], s["failures"], s["inflight"], s["load"], s["served"],
              s["failed"], s["last_error"], now) for s in snapshots])


def latest(conn: apsw.Connection, now: float | None = None) -> dict[str, dict]:
    """Per provider, over the live workers: the worst breaker state, summed counters."""
    now = now or time.time()
    rank = {"closed": 0, "half_open": 1, "open": 2}
    out: dict[str, dict] = {}
    for name, breaker, failures, inflight, load, served, failed, error in conn.execute(
            "SELECT name, breaker, failures, inflight, load, served, failed, last_error FROM provider_health "
            "WHERE updated_at >= ?", (now - STALE_S,)):
        cur = out.setdefault(name, {"breaker": "closed", "inflight": 0, "served": 0, "failed": 0,
                                    "load": None, "last_error": None, "workers": 0})
        if rank.get(breaker, 0) > rank.get(cur["breaker"], 0):
            cur["breaker"] = breaker
        cur["inflight"] += inflight
        cur["served"] += served
        cur["failed"] += failed
        cur["workers"] += 1
        cur["load"] = load if load is not None else cur["load"]
        cur["last_error"] = error or cur["last_error"]
    return out
