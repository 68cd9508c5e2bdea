"""Fixed admin-API answers for the snapshot tests: what a busy gateway shows, always the same."""

from __future__ import annotations

from cli.tui.model import Snapshot

NOW = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC


def _row(i: int, **fields) -> dict:
    row = {"request_id": f"req_{i:020d}", "ts": NOW - 2 * i, "key_id": "key_a", "endpoint": "chat",
           "alias": "chat", "provider": "vllm", "upstream_model": "llama-3.1-8b", "stream": i % 2 == 0,
           "status": 200, "input_tokens": 120 + i, "output_tokens": 40 + i, "usage_estimated": False,
           "cost": 0.0004, "latency_ms": 180.0 + 10 * i, "ttfb_ms": 35.0 + i, "attempts": "vllm:llama-3.1-8b=ok",
           "team_id": "team_r", "route": None, "cache": "MISS", "similarity": None, "error": None}
    row.update(fields)
    return row


REQUESTS = [
    _row(0),
    _row(1, key_id="key_b", team_id=None, alias="fast", attempts="vllm:llama-3.1-8b=503,llama:qwen=ok",
         provider="llama", upstream_model="qwen", route="egress: local only (pii)", latency_ms=912.4),
    _row(2, cache="HIT", provider=None, upstream_model="llama-3.1-8b", attempts=None, cost=0.0,
         latency_ms=3.1, ttfb_ms=2.9),
    _row(3, cache="SEMANTIC_HIT", similarity=0.962, provider=None, attempts=None, cost=0.0, latency_ms=14.0),
    _row(4, key_id="key_c", status=429, provider=None, upstream_model=None, attempts=None, input_tokens=0,
         output_tokens=0, cost=0.0, latency_ms=0.8, ttfb_ms=None,
         error="budget_exceeded: Budget of key 'batch' cannot cover this request"),
    _row(5, status=502, attempts="vllm:llama-3.1-8b=502,cloud:gpt-4o=open", provider=None,
         upstream_model=None, input_tokens=0, output_tokens=0, cost=0.0, latency_ms=30012.0, ttfb_ms=None,
         error="all upstreams failed"),
    _row(6, usage_estimated=True, provider="llama", upstream_model="qwen", attempts="llama:qwen=ok"),
] + [_row(i) for i in range(7, 14)]

SERIES = [{"t": int(NOW) - 59 + i, "requests": (i * 7) % 11 + (8 if 40 < i < 50 else 0),
           "errors": 1 if i % 13 == 0 else 0} for i in range(60)]

STATS = {"now": NOW, "window_s": 60, "uptime_s": 7384.0, "requests": 412, "rps": 6.87, "errors": 9,
         "error_rate": 0.0218, "latency_ms": {"p50": 182.5, "p95": 910.0, "p99": 2400.0},
         "ttfb_ms": {"p50": 38.2, "p95": 120.0, "p99": 380.5},
         "cache": {"hits": 51, "semantic_hits": 12, "misses": 210, "hit_rate": 0.2308},
         "tokens": {"input": 51200, "output": 18400}, "cost": 0.1642, "series": SERIES}

BUDGETS = [
    {"scope": "key", "owner": "alice", "period": "monthly", "limit_usd": 50.0, "limit_tokens": None,
     "spent_usd": 41.2, "spent_tokens": 812000, "reserved_usd": 1.3, "reserved_tokens": 0, "soft_pct": 0.8,
     "resets_at": NOW + 86400},
    {"scope": "key", "owner": "batch", "period": "daily", "limit_usd": 5.0, "limit_tokens": None,
     "spent_usd": 5.0, "spent_tokens": 100000, "reserved_usd": 0.0, "reserved_tokens": 0, "soft_pct": 0.8,
     "resets_at": NOW + 3600},
    {"scope": "team", "owner": "research", "period": "monthly", "limit_usd": None, "limit_tokens": 10_000_000,
     "spent_usd": 60.0, "spent_tokens": 2_900_000, "reserved_usd": 0.0, "reserved_tokens": 0,
     "soft_pct": 0.8, "resets_at": NOW + 86400},
]

SPEND_KEY = [{"group": "alice", "requests": 9120, "errors": 40, "input_tokens": 1, "output_tokens": 1,
              "cost": 212.5, "estimated": 0},
             {"group": "bob", "requests": 310, "errors": 2, "input_tokens": 1, "output_tokens": 1,
              "cost": 3.75, "estimated": 0},
             {"group": "batch", "requests": 2100, "errors": 300, "input_tokens": 1, "output_tokens": 1,
              "cost": 88.0, "estimated": 0}]
SPEND_TEAM = [{"group": "research", "requests": 9120, "errors": 40, "input_tokens": 1, "output_tokens": 1,
               "cost": 212.5, "estimated": 0}]

PROVIDERS = [
    {"name": "vllm", "kind": "openai", "locality": "local", "ok": True, "detail": "reachable",
     "latency_ms": 4.2, "breaker": "closed", "inflight": 3, "served": 18234, "failed": 12, "load": None,
     "last_error": None},
    {"name": "llama", "kind": "llamacpp", "locality": "local", "ok": True, "detail": "loaded",
     "latency_ms": None, "breaker": "half_open", "inflight": 0, "served": 905, "failed": 31, "load": None,
     "last_error": "timed out"},
    {"name": "cloud", "kind": "openai", "locality": "cloud", "ok": False,
     "detail": "upstream 'cloud' is unreachable (connection failed)", "latency_ms": None,
     "breaker": "open", "inflight": 0, "served": 0, "failed": 5, "load": None, "last_error": "refused"},
]

TRACE = {"request_id": REQUESTS[1]["request_id"], "ts": REQUESTS[1]["ts"], "duration_ms": 912.4,
         "status": 200, "alias": "fast", "spans": [
             {"name": "chat fast", "start_ms": 0.0, "duration_ms": 912.4, "status": "ok",
              "attributes": {"gen_ai.operation.name": "chat", "gen_ai.request.model": "fast",
                             "gen_ai.response.model": "qwen", "gate.key": "bob"}},
             {"name": "gate.authenticate", "start_ms": 0.01, "duration_ms": 0.12, "status": "ok", "attributes": {}},
             {"name": "gate.parse", "start_ms": 0.13, "duration_ms": 0.4, "status": "ok", "attributes": {}},
             {"name": "gate.guard_input", "start_ms": 0.53, "duration_ms": 6.1, "status": "ok",
              "attributes": {"gate.pii": "email"}},
             {"name": "gate.resolve", "start_ms": 6.7, "duration_ms": 0.05, "status": "ok", "attributes": {}},
             {"name": "gate.dispatch", "start_ms": 7.0, "duration_ms": 905.0, "status": "ok", "attributes": {}},
             {"name": "chat llama-3.1-8b", "start_ms": 7.1, "duration_ms": 600.0, "status": "error",
              "attributes": {"gate.target": "vllm:llama-3.1-8b", "gate.status": 503, "error.type": "UpstreamError"}},
             {"name": "chat qwen", "start_ms": 650.0, "duration_ms": 262.0, "status": "ok",
              "attributes": {"gate.target": "llama:qwen", "gate.status": 200}},
         ]}


def snapshot() -> Snapshot:
    return Snapshot(at=NOW, stats=STATS, requests=REQUESTS, budgets=BUDGETS, providers=PROVIDERS,
                    spend_key=SPEND_KEY, spend_team=SPEND_TEAM, cache={"entries": 120},
                    key_names={"key_a": "alice", "key_b": "bob", "key_c": "batch"},
                    team_names={"team_r": "research"})


class CannedClient:
    """Stands in for AdminClient: the same answers on every poll."""

    async def poll(self, full: bool = False) -> Snapshot:
        return snapshot()

    async def trace(self, request_id: str) -> dict | None:
        return TRACE if request_id == TRACE["request_id"] else None

    async def close(self) -> None:
        pass
