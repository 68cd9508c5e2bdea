"""What passes between the HTTP entry and the pipeline: the request as a stage sees it
(`Incoming`), and the answer a stage hands back (`JsonOut`, `StreamOut`), with nothing of
ASGI's sending in it (that is server/web/http.py), so the stages import no web code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from server.core.errors import BodyTooLarge, GateError, GatewayError, InvalidRequest, render
from server.core.names import REQUEST_ID_HEADER

Scope = dict[str, Any]


class ClientGone(GateError):
    """The client closed the connection before the whole body arrived (granian says the same
    of a malformed chunked body)."""


def unreadable_body() -> InvalidRequest:
    return InvalidRequest("The request body could not be read: its chunked encoding is malformed "
                          "or the connection closed before it ended.", code="body_unreadable")


class Incoming:
    """What a stage may know of the HTTP request: headers and the body."""

    __slots__ = ("scope", "_receive", "_headers")

    def __init__(self, scope: Scope, receive) -> None:
        self.scope = scope
        self._receive = receive
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope["headers"]}
        return self._headers

    async def body(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


@dataclass(slots=True)
class JsonOut:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # settle and record: awaited before the answer is sent, so no answer escapes the ledger.
    finish: Callable[[], Awaitable[None] | None] = lambda: None


@dataclass(slots=True)
class StreamOut:
    # Settles and records itself, before its last event or when it is cut off; so it must be
    # started (send_stream starts it before anything else can fail).
    events: AsyncIterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)


def error_out(error: GatewayError, request_id: str) -> JsonOut:
    return JsonOut(render(error), error.status, {**error.headers, REQUEST_ID_HEADER: request_id})
