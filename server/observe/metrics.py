"""Prometheus metrics for every worker at once.

Counters and histograms live in the SQLite file: the ledger writer adds each batch's
counts in the same transaction as its rows, so a scrape of any worker sees all of them.
Gauges (budget remaining, upstream health, cache size) are read at scrape time, and the
exposition text is written then by prometheus_client (escaping, format, content type).
`gate_overhead_seconds` is measured per request: the time to the answer's first byte minus
the time spent waiting on upstream calls.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict

import apsw
import numpy as np
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from server.store.ledger import LedgerRow
from server.core.names import ATTR_STATUS, ATTR_TARGET
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
    """The stored form of a sample's labels (the metrics table's key): name="value" pairs,
    sorted, with backslashes and quotes escaped, so _parse_labels() reads them back exactly."""
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
            target = span.attributes.get(ATTR_TARGET) if span.attributes else None
            if target is None:
                continue
            upstream += span.duration_ms
            outcome = "ok" if span.status == "ok" else str(span.attributes.get(ATTR_STATUS, "error"))
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


def write_batch(conn: apsw.Connection, rows: list[LedgerRow], traces: list[Trace | None]) -> None:
    """The ledger writer's hook: one batch's counts, inside the batch's transaction."""
    counts = Batch()
    for row, trace in zip(rows, traces, strict=True):
        counts.add(row, trace)
    counts.write(conn)


_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"', re.S)
_UNESCAPE = re.compile(r"\\(.)", re.S)


def _parse_labels(text: str) -> dict[str, str]:
    """The inverse of _labels(): the stored label string back to names and values."""
    return {k: _UNESCAPE.sub(r"\1", v) for k, v in _LABEL.findall(text)}


# Label names of each family, in the order they are given to prometheus_client.
_LABEL_NAMES = {
    "gate_requests_total": ("alias", "code", "cache"),
    "gate_tokens_total": ("alias", "direction"),
    "gate_upstream_attempts_total": ("target", "outcome"),
}


class Exposition:
    """A prometheus_client collector over one scrape: counters and histograms from the
    file, then the gauges read now (as (name, help, labels, value)).

    prometheus_client writes the text (escaping every label value, whatever a key or an
    alias is called); nothing here runs on the request path."""

    def __init__(self, conn: apsw.Connection, gauges: list[tuple[str, str, dict[str, str], float]]) -> None:
        self.rows = conn.execute("SELECT name, labels, value FROM metrics ORDER BY name, labels").fetchall()
        self.gauges = gauges

    def collect(self):
        by_family: dict[str, list[tuple[str, dict[str, str], float]]] = defaultdict(list)
        for name, labels, value in self.rows:
            family = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") \
                if name.startswith(tuple(HISTOGRAMS)) else name
            by_family[family].append((name, _parse_labels(labels), value))
        for family, text in COUNTERS.items():
            names = _LABEL_NAMES.get(family, ("alias",))
            counter = CounterMetricFamily(family, text, labels=names)
            for _, labels, value in by_family.get(family, []):
                counter.add_metric([labels.get(n, "") for n in names], value)
            yield counter
        for family, text in HISTOGRAMS.items():
            yield _histogram(family, text, by_family.get(family, []))
        grouped: dict[str, GaugeMetricFamily] = {}
        for name, help_text, labels, value in self.gauges:
            if name not in grouped:
                grouped[name] = GaugeMetricFamily(name, help_text, labels=tuple(labels))
            grouped[name].add_metric(list(labels.values()), value)
        yield from grouped.values()

    def encode(self, accept: str = "") -> tuple[bytes, str]:
        """(body, content type) in the format the scraper's Accept header asks for (Prometheus
        text 0.0.4 unless it asks for OpenMetrics). Reads no database: fit for a thread."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self), content_type


def _histogram(family: str, text: str, samples: list[tuple[str, dict[str, str], float]]) -> HistogramMetricFamily:
    """Buckets are stored per bucket; Prometheus wants every `le` bucket counting all below."""
    per: dict[str, dict[str, float]] = defaultdict(dict)
    sums: dict[str, float] = {}
    for name, labels, value in samples:
        alias = labels.get("alias", "")
        if name.endswith("_bucket"):
            per[alias][labels.get("le", "+Inf")] = value
        elif name.endswith("_sum"):
            sums[alias] = value
    out = HistogramMetricFamily(family, text, labels=("alias",))
    for alias, counts in per.items():
        total, buckets = 0.0, []
        for le in [*(f"{b:g}" for b in BUCKETS), "+Inf"]:
            total += counts.get(le, 0.0)
            buckets.append((le, total))
        out.add_metric([alias], buckets, sums.get(alias, 0.0))
    return out


def gauges(state) -> list[tuple[str, str, dict[str, str], float]]:
    from server.cache import entries as cache_store
    from server.store import budgets as budget_store

    now = time.time()
    out: list[tuple[str, str, dict[str, str], float]] = []
    for b in budget_store.status(state.db, now):
        if b.limit_usd is not None:
            out.append(("gate_budget_remaining_usd", "USD left in the budget's current period.",
                        {"scope": b.scope, "owner": b.owner, "period": b.period},
                        b.limit_usd - b.spent_usd - b.reserved_usd))
        if b.limit_tokens is not None:
            out.append(("gate_budget_remaining_tokens", "Tokens left in the budget's current period.",
                        {"scope": b.scope, "owner": b.owner, "period": b.period},
                        b.limit_tokens - b.spent_tokens - b.reserved_tokens))
    for h in state.topology.health.values():
        out.append(("gate_upstream_up", "1 while the provider's circuit breaker is closed (this worker).",
                    {"provider": h.name}, 1.0 if h.breaker.state == "closed" else 0.0))
        out.append(("gate_upstream_inflight", "Requests in flight to the provider (this worker).",
                    {"provider": h.name}, float(h.inflight)))
        if h.load is not None:
            out.append(("gate_upstream_load", "Load the provider reports (waiting * 2 + running).",
                        {"provider": h.name}, h.load))
    stats = cache_store.stats(state.db, now)
    out.append(("gate_cache_entries", "Answers in the cache.", {}, float(stats.entries)))
    return out
