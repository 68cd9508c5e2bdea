"""What a finished request leaves for its trace: one frozen record per request.

`server/pipeline/record.py` fills it once from the request's context when the request is
done (`record.snapshot`), and `telemetry.build` turns it into spans. Observation reads
only this record, never the context the stages share: nothing a stage changes later can
reach a trace, and this layer imports no stage.

Times are `perf_counter` readings, as the stages took them (`started` is the request's
start); the bodies, when the key keeps them, are already redacted and cut to BODY_LIMIT.
"""

from __future__ import annotations

import msgspec

# The longest body kept on a trace (characters, after redaction).
BODY_LIMIT = 8192

# (stage, start, end) and (target label, start, end, status, error type, server address).
StageMark = tuple[str, float, float]
AttemptMark = tuple[str, float, float, int, str | None, str | None]


class RequestRecord(msgspec.Struct, frozen=True, gc=False):
    """Every field is required: record.snapshot passes them by position, in this order
    (keywords would cost about a microsecond a request with this many fields). gc=False:
    the record holds only strings, numbers and tuples of them, so it can be in no cycle."""

    request_id: str
    ts: float                       # wall clock at the start (time.time)
    started: float                  # perf_counter at the start
    duration_ms: float
    op: str                         # chat | completions | embeddings
    alias: str | None
    stream: bool
    status: int
    error: str | None               # "<code or type>: <message>"
    input_tokens: int
    output_tokens: int
    usage_estimated: bool
    cost: float
    key: str | None                 # the key's name
    provider: str | None            # the target that answered: its provider's name,
    provider_kind: str | None       # its kind (openai | llamacpp)
    response_model: str | None      # and its name for the model
    cache: str | None               # the cache's verdict
    cache_note: str | None
    similarity: float | None        # of the cache hit the answer came from
    routing: str | None             # the routing notes, joined
    guard: str | None               # the guardrails' notes, joined
    marks: tuple[StageMark, ...]
    attempts: tuple[AttemptMark, ...]
    generation: tuple[float, float] | None  # a stream's first and last token
    input_body: str | None          # redacted; only for keys that keep bodies
    output_body: str | None
