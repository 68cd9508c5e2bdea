"""Live numbers for `gate top`: computed from the ledger, so every worker's requests count."""

from __future__ import annotations

import time

import apsw
import numpy as np


from server.core.names import CacheStatus

def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(np.asarray(values, dtype=np.float64), [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3)}


def window_stats(conn: apsw.Connection, window_s: int, started_at: float, now: float | None = None) -> dict:
    now = now or time.time()
    since = now - window_s
    rows = conn.execute("SELECT ts, status, latency_ms, ttfb_ms, cache, input_tokens, output_tokens, cost "
                        "FROM ledger WHERE ts >= ?", (since,)).fetchall()
    latencies = [r[2] for r in rows if r[1] < 400]
    ttfbs = [r[3] for r in rows if r[3] is not None and r[1] < 400]
    errors = sum(1 for r in rows if r[1] >= 400)
    caches = [r[4] for r in rows]
    hits, semantic, misses = caches.count(CacheStatus.HIT), caches.count(CacheStatus.SEMANTIC_HIT), caches.count(CacheStatus.MISS)
    looked = hits + semantic + misses
    first = int(since) + 1
    counts = np.zeros(window_s, dtype=np.int64)
    errs = np.zeros(window_s, dtype=np.int64)
    for r in rows:
        i = int(r[0]) - first
        if 0 <= i < window_s:
            counts[i] += 1
            if r[1] >= 400:
                errs[i] += 1
    return {
        "now": now, "window_s": window_s, "uptime_s": round(now - started_at, 1),
        "requests": len(rows), "rps": round(len(rows) / window_s, 3), "errors": errors,
        "error_rate": round(errors / len(rows), 4) if rows else 0.0,
        "latency_ms": _percentiles(latencies), "ttfb_ms": _percentiles(ttfbs),
        "cache": {"hits": hits, "semantic_hits": semantic, "misses": misses,
                  "hit_rate": round((hits + semantic) / looked, 4) if looked else None},
        "tokens": {"input": int(sum(r[5] for r in rows)), "output": int(sum(r[6] for r in rows))},
        "cost": float(sum(r[7] for r in rows)),
        "series": [{"t": first + i, "requests": int(counts[i]), "errors": int(errs[i])} for i in range(window_s)],
    }
