"""The one Protocol every upstream kind implements, and what a call carries. (Where an
alias is served, `Target`, is routing's: server/routing/target.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from server.core.wire import Op, RawFields, Usage, View

ALL_OPS: frozenset[str] = frozenset(("chat", "completions", "embeddings"))
OP_NAMES = {"chat": "chat completions", "completions": "completions", "embeddings": "embeddings"}


@dataclass(slots=True)
class UpstreamCall:
    op: Op
    fields: RawFields          # the client's body, with the upstream model name set
    view: View                 # the parsed fields the gateway needs
    upstream_model: str
    stream: bool
    request_id: str


@dataclass(slots=True)
class Reply:
    """A complete (non-streamed) 2xx answer."""

    body: bytes
    usage: Usage | None
    model: str | None = None
    status: int = 200


class ChunkStream(Protocol):
    """An upstream stream that has started: yields each event's data payload (JSON bytes).

    `[DONE]` is not yielded. A failure mid-way raises a GatewayError from the iterator.
    `done` is True once the upstream marked the end of the stream ([DONE]).
    """

    done: bool

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class Probe:
    """A health check's result: alive or not, and how loaded the server says it is."""

    ok: bool
    detail: str
    load: float | None = None  # waiting * 2 + running, as the server reports them


@dataclass(slots=True)
class Health:
    ok: bool
    detail: str
    latency_ms: float | None = None
    models: list[str] = field(default_factory=list)


class Provider(Protocol):
    name: str
    kind: str
    locality: str
    context_window: int | None  # tokens (prompt + output) it takes, if known
    health_checks: bool         # whether the health monitor should poll it
    address: str | None         # the upstream host (server.address), None in process
    ops: frozenset[str]         # the operations it serves (server.core.wire.Op): checked before dispatch

    async def start(self) -> None:
        """Acquire resources (sessions, models). Called in the lifespan."""

    async def close(self) -> None: ...

    @property
    def ready(self) -> bool: ...

    async def send(self, call: UpstreamCall) -> Reply:
        """A non-streamed call. Raises GatewayError subclasses on failure."""

    async def open_stream(self, call: UpstreamCall) -> ChunkStream:
        """Start a stream; returns once the upstream accepted it (before any chunk is sent
        to the client), so the caller may still fail over."""

    def count_tokens(self, text: str) -> int | None:
        """Exact token count with this upstream's own tokenizer, or None if unknown."""

    async def check(self) -> Health:
        """A live check for `gate providers list` and readiness."""

    async def probe(self) -> Probe:
        """A periodic health and load check (cheap; no generation)."""

