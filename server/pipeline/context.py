"""What one request carries through the stages."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.core.errors import GatewayError
from server.store.keys import Principal
from server.core.wire import Op, RawFields, Usage, View

if TYPE_CHECKING:
    import numpy as np

    from server.cache.policy import CachePlan
    from server.cache.entries import Entry
    from server.core.exchange import Incoming
    from server.guardrails.runtime import Guard, OutputGuard
    from server.pipeline.admit import RatePlan
    from server.providers.base import ChunkStream, Reply
    from server.routing.target import Target
    from server.routing.route import Route
    from server.store.budgets import Budget
    from server.store.ratelimits import Admission


@dataclass(slots=True)
class RequestContext:
    request: "Incoming"
    op: Op
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    ts: float = field(default_factory=time.time)
    principal: Principal | None = None
    fields: RawFields | None = None
    view: View | None = None
    alias: str | None = None
    stream: bool = False
    client_wants_usage: bool = False
    route: "Route | None" = None
    targets: list[Target] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    # Routing decisions (egress, context window) for the ledger row and the trace.
    route_notes: list[str] = field(default_factory=list)
    must_stay_local: bool = False
    # Guardrails: the policy, what the checks noted, the answer's restorer/redactor.
    guard: "Guard | None" = None
    guard_notes: list[str] = field(default_factory=list)
    output_guard: "OutputGuard | None" = None
    input_found: dict[str, int] | None = None  # kinds the input checks found; None: they did not run
    target: Target | None = None
    reply: Reply | None = None
    chunks: ChunkStream | None = None
    usage: Usage | None = None
    usage_estimated: bool = False
    output_text: list[str] = field(default_factory=list)
    status: int = 200
    error: str | None = None
    ttfb_ms: float | None = None  # streams: to the first text the client gets
    generation: tuple[float, float] | None = None  # streams: first token to last (perf_counter)
    # Timings for the trace: (stage, start, end) and (target, start, end, status, error, host).
    marks: list[tuple[str, float, float]] = field(default_factory=list)
    attempt_marks: list[tuple[str, float, float, int, str | None, str | None]] = field(default_factory=list)
    # Limits: the worst case charged at admission, and what was really used.
    worst_in: int | None = None
    worst_out: int = 0
    answers: int = 1            # answers the upstream makes: n (or best_of) per prompt
    held_out: int = 0           # output tokens held against the budgets (output_cap.held)
    reserved_usd: float = 0.0   # held against the budgets (the worst case, and any extension)
    reserved_tokens: int = 0
    collect: bool = False       # a JSON answer fetched upstream as a stream (output_cap)
    cut_at: int | None = None   # output_cap cut the answer: the bytes it had counted
    out_bytes: int = 0          # what output_cap has counted so far (its bound of the output's tokens)
    rate_plan: "RatePlan | None" = None
    rate: "Admission | None" = None
    budgets: "list[Budget]" = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    finish_reason: str | None = None
    # The cache: what it decided, the hit if any, the query's vector for the write.
    cache_status: str | None = None     # HIT | SEMANTIC_HIT | MISS | BYPASS
    cache_note: str | None = None
    cache_plan: "CachePlan | None" = None
    cache_hit: "Entry | None" = None    # the hit the answer came from (once admitted)
    cache_found: "tuple[str, Entry] | None" = None  # (HIT | SEMANTIC_HIT, entry), for admit
    cache_vector: "np.ndarray | None" = None

    def fail(self, error: GatewayError) -> None:
        self.status = error.status
        self.error = f"{error.code or error.type}: {error.message}"[:500]

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000
