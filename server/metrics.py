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
import numpy as np

from server.store.ledger import LedgerRow
from server.store.traces import Trace

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HISTOGRAMS = {
    "gate_request_duration_seconds": "Time from the request's arrival to its last byte.",
    "gate_upstream_duration_seconds": "Time spent waiting on upstream calls (every attempt).",
    "gate_overhead_seconds": "Gateway overhead: time to first byte minus time waiting on upstreams.",
    "gate_time_to_first_token_seconds": "Streams: time to the first text the client gets.",
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
    """The counts of one ledger batch, added in its transaction.

    Per row only tuples are counted and seconds appended (a few microseconds: this runs on
    the writer thread, which shares the interpreter with the event loop); label strings
    and histogram buckets are made once per batch, in write().
    """

    def __init__(self) -> None:
        self.counts: dict[tuple, float] = defaultdict(float)
        self.seconds: dict[tuple[str, str], list[float]] = defaultdict(list)

    def add(self, row: LedgerRow, trace: Trace | None) -> None:
        alias = row.alias or "-"
        c = self.counts
        c[("gate_requests_total", alias, row.status // 100, row.cache or "none")] += 1
        c[("gate_tokens_total", alias, "input")] += row.input_tokens
        c[("gate_tokens_total", alias, "output")] += row.output_tokens
        c[("gate_cost_usd_total", alias)] += row.cost
        self.seconds[("gate_request_duration_seconds", alias)].append(row.latency_ms / 1000)
        if row.stream and row.ttfb_ms is not None:
            self.seconds[("gate_time_to_first_token_seconds", alias)].append(row.ttfb_ms / 1000)
        if trace is None:
            return
        upstream = 0.0
        for span in trace.spans:
            target = span.attributes.get("gate.target") if span.attributes else None
            if target is None:
                continue
            upstream += span.duration_ms
            outcome = "ok" if span.status == "ok" else str(span.attributes.get("gate.status", "error"))
            c[("gate_upstream_attempts_total", target, outcome)] += 1
        if upstream:
            self.seconds[("gate_upstream_duration_seconds", alias)].append(upstream / 1000)
        first_byte = row.ttfb_ms if row.ttfb_ms is not None else row.latency_ms
        self.seconds[("gate_overhead_seconds", alias)].append(max(0.0, first_byte - upstream) / 1000)

    def rows(self) -> list[tuple[str, str, float]]:
        out = []
        for key, value in self.counts.items():
            name = key[0]
            if name == "gate_requests_total":
                labels = _labels(alias=key[1], code=f"{key[2]}xx", cache=key[3])
            elif name == "gate_tokens_total":
                labels = _labels(alias=key[1], direction=key[2])
            elif name == "gate_upstream_attempts_total":
                labels = _labels(target=key[1], outcome=key[2])
            else:
                labels = _labels(alias=key[1])
            out.append((name, labels, value))
        edges = np.asarray(BUCKETS)
        for (name, alias), values in self.seconds.items():
            v = np.asarray(values)
            # Per bucket (not cumulative): render() sums them up.
            per = np.bincount(np.searchsorted(edges, v, side="left"), minlength=len(BUCKETS) + 1)
            for i, n in enumerate(per):
                if n:
                    le = "+Inf" if i == len(BUCKETS) else f"{BUCKETS[i]:g}"
                    out.append((f"{name}_bucket", _labels(alias=alias, le=le), float(n)))
            out.append((f"{name}_sum", _labels(alias=alias), float(v.sum())))
            out.append((f"{name}_count", _labels(alias=alias), float(len(v))))
        return out

    def write(self, conn: apsw.Connection) -> None:
        """Inside the caller's transaction."""
        conn.executemany(
            "INSERT INTO metrics(name, labels, value) VALUES (?, ?, ?) "
            "ON CONFLICT(name, labels) DO UPDATE SET value = value + excluded.value", self.rows())


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
        samples = by_family.get(family, [])
        if kind == "histogram":
            samples = _cumulative(samples)
        for name, labels, value in samples:
            out.append(f"{name}{{{labels}}} {value:g}" if labels else f"{name} {value:g}")
    grouped: dict[str, tuple[str, list[tuple[str, float]]]] = {}
    for name, help_text, labels, value in gauges:  # a family's samples must be contiguous
        grouped.setdefault(name, (help_text, []))[1].append((labels, value))
    for name, (help_text, samples) in grouped.items():
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} gauge")
        out.extend(f"{name}{{{labels}}} {value:g}" if labels else f"{name} {value:g}" for labels, value in samples)
    return "\n".join(out) + "\n"


def _cumulative(samples: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    """Buckets are stored per bucket; Prometheus wants every `le` bucket counting all below."""
    per: dict[str, dict[str, float]] = defaultdict(dict)
    rest = []
    for name, labels, value in samples:
        if name.endswith("_bucket"):
            base, _, le = labels.rpartition('le="')
            per[(name, base)][le.rstrip('"')] = value  # type: ignore[index]
        else:
            rest.append((name, labels, value))
    out = []
    for (name, base), counts in per.items():  # type: ignore[misc]
        total = 0.0
        for le in [*(f"{b:g}" for b in BUCKETS), "+Inf"]:
            total += counts.get(le, 0.0)
            out.append((name, f'{base}le="{le}"', total))
    return out + rest


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
