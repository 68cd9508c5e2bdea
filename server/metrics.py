"""Prometheus metrics for every worker at once.

Counters and histograms live in the SQLite file: the ledger writer adds each batch's
counts in the same transaction as its rows, so a scrape of any worker sees all of them.
Gauges (budget remaining, upstream health, cache size) are read at scrape time.
`gate_overhead_seconds` is measured per request: the time to the answer's first byte minus
the time spent waiting on upstream calls.
"""

from __future__ import annotations

import time
from collections import defaultdict

import apsw

from server.store.ledger import LedgerRow
from server.store.traces import Trace

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HISTOGRAMS = {
    "gate_request_duration_seconds": "Time from the request's arrival to its last byte.",
    "gate_upstream_duration_seconds": "Time spent waiting on upstream calls (every attempt).",
    "gate_overhead_seconds": "Gateway overhead: time to first byte minus time waiting on upstreams.",
    "gate_time_to_first_token_seconds": "Streams: time to the first byte of the answer.",
}
COUNTERS = {
    "gate_requests_total": "Requests, by model alias, status code class and cache result.",
    "gate_tokens_total": "Tokens used, by model alias and direction.",
    "gate_cost_usd_total": "Money spent, by model alias.",
    "gate_upstream_attempts_total": "Upstream calls, by target and outcome.",
}


def _labels(**kv: object) -> str:
    return ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                    for k, v in sorted(kv.items()))


class Batch:
    """The deltas of one ledger batch, written in its transaction."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], float] = defaultdict(float)

    def _observe(self, name: str, labels: dict, seconds: float) -> None:
        for le in BUCKETS:
            if seconds <= le:
                self.values[(f"{name}_bucket", _labels(**labels, le=le))] += 1
        self.values[(f"{name}_bucket", _labels(**labels, le="+Inf"))] += 1
        self.values[(f"{name}_sum", _labels(**labels))] += seconds
        self.values[(f"{name}_count", _labels(**labels))] += 1

    def add(self, row: LedgerRow, trace: Trace | None) -> None:
        alias = row.alias or "-"
        v = self.values
        v[("gate_requests_total", _labels(alias=alias, code=f"{row.status // 100}xx", cache=row.cache or "none"))] += 1
        v[("gate_tokens_total", _labels(alias=alias, direction="input"))] += row.input_tokens
        v[("gate_tokens_total", _labels(alias=alias, direction="output"))] += row.output_tokens
        v[("gate_cost_usd_total", _labels(alias=alias))] += row.cost
        self._observe("gate_request_duration_seconds", {"alias": alias}, row.latency_ms / 1000)
        if row.stream and row.ttfb_ms is not None:
            self._observe("gate_time_to_first_token_seconds", {"alias": alias}, row.ttfb_ms / 1000)
        if trace is None:
            return
        upstream = 0.0
        for span in trace.spans:
            target = span.attributes.get("gate.target")
            if target is None:
                continue
            upstream += span.duration_ms
            outcome = "ok" if span.status == "ok" else str(span.attributes.get("gate.status", "error"))
            v[("gate_upstream_attempts_total", _labels(target=target, outcome=outcome))] += 1
        if upstream:
            self._observe("gate_upstream_duration_seconds", {"alias": alias}, upstream / 1000)
        first_byte = row.ttfb_ms if row.ttfb_ms is not None else row.latency_ms
        self._observe("gate_overhead_seconds", {"alias": alias}, max(0.0, first_byte - upstream) / 1000)

    def write(self, conn: apsw.Connection) -> None:
        """Inside the caller's transaction."""
        conn.executemany(
            "INSERT INTO metrics(name, labels, value) VALUES (?, ?, ?) "
            "ON CONFLICT(name, labels) DO UPDATE SET value = value + excluded.value",
            [(name, labels, value) for (name, labels), value in self.values.items()])


def render(conn: apsw.Connection, gauges: list[tuple[str, str, str, float]]) -> str:
    """The exposition text: counters and histograms from the file, then `gauges`
    as (name, help, labels, value)."""
    out: list[str] = []
    rows = conn.execute("SELECT name, labels, value FROM metrics ORDER BY name, labels").fetchall()
    by_family: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for name, labels, value in rows:
        family = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") \
            if name.startswith(tuple(HISTOGRAMS)) else name
        by_family[family].append((name, labels, value))
    for family, text in {**COUNTERS, **HISTOGRAMS}.items():
        kind = "histogram" if family in HISTOGRAMS else "counter"
        out.append(f"# HELP {family} {text}")
        out.append(f"# TYPE {family} {kind}")
        for name, labels, value in by_family.get(family, []):
            out.append(f"{name}{{{labels}}} {value:g}" if labels else f"{name} {value:g}")
    grouped: dict[str, tuple[str, list[tuple[str, float]]]] = {}
    for name, help_text, labels, value in gauges:  # a family's samples must be contiguous
        grouped.setdefault(name, (help_text, []))[1].append((labels, value))
    for name, (help_text, samples) in grouped.items():
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} gauge")
        out.extend(f"{name}{{{labels}}} {value:g}" if labels else f"{name} {value:g}" for labels, value in samples)
    return "\n".join(out) + "\n"


def gauges(state) -> list[tuple[str, str, str, float]]:
    from server.cache import store as cache_store
    from server.store import budgets as budget_store

    now = time.time()
    out: list[tuple[str, str, str, float]] = []
    for b in budget_store.status(state.db, now):
        if b.limit_usd is not None:
            out.append(("gate_budget_remaining_usd", "USD left in the budget's current period.",
                        _labels(scope=b.scope, owner=b.owner, period=b.period),
                        b.limit_usd - b.spent_usd - b.reserved_usd))
        if b.limit_tokens is not None:
            out.append(("gate_budget_remaining_tokens", "Tokens left in the budget's current period.",
                        _labels(scope=b.scope, owner=b.owner, period=b.period),
                        b.limit_tokens - b.spent_tokens - b.reserved_tokens))
    for h in state.topology.health.values():
        out.append(("gate_upstream_up", "1 while the provider's circuit breaker is closed (this worker).",
                    _labels(provider=h.name), 1.0 if h.breaker.state == "closed" else 0.0))
        out.append(("gate_upstream_inflight", "Requests in flight to the provider (this worker).",
                    _labels(provider=h.name), float(h.inflight)))
        if h.load is not None:
            out.append(("gate_upstream_load", "Load the provider reports (waiting * 2 + running).",
                        _labels(provider=h.name), h.load))
    stats = cache_store.stats(state.db, now)
    out.append(("gate_cache_entries", "Answers in the cache.", "", float(stats.entries)))
    return out
