"""The gateway's own thin HTTP layer for the hot path: raw ASGI in, raw ASGI out.

The OpenAI POST endpoints skip the web framework (measured: Litestar's routing, argument
parsing and response building cost about 145 µs a request, a fifth of the gateway's
overhead); Litestar still serves everything else (models, health, admin, 404s) and runs the
lifespan. Both paths render errors with the same envelope.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from server.core.errors import InternalError
from server.core.exchange import ClientGone, Incoming, JsonOut, Scope, StreamOut, error_out, unreadable_body

__all__ = ["ClientGone", "Incoming", "JsonOut", "Scope", "StreamOut", "error_out", "internal_error",
           "send_json", "send_stream", "unreadable_body"]

log = logging.getLogger("gate")

def _raw_headers(headers: dict[str, str], content_type: bytes) -> list[tuple[bytes, bytes]]:
    out = [(b"content-type", content_type)]
    out.extend((k.lower().encode("ascii"), _header_value(v)) for k, v in headers.items())
    return out


def _header_value(value: str) -> bytes:
    """Printable ASCII as it is; anything else (an upstream model named in another script, a
    control character) percent-encoded, so no name can break the answer or add a header."""
    if value.isascii() and value.isprintable():
        return value.encode("ascii")
    return urllib.parse.quote(value, safe=" !\"#$&'()*+,-./:;<=>?@[]^_`{|}~").encode("ascii")


async def send_json(send, out: JsonOut) -> None:
    headers = _raw_headers(out.headers, b"application/json")
    headers.append((b"content-length", str(len(out.body)).encode()))
    await send({"type": "http.response.start", "status": out.status, "headers": headers})
    await send({"type": "http.response.body", "body": out.body})


async def send_stream(send, receive, out: StreamOut) -> None:
    """Relay the events; when the client goes away, the relay is cancelled (and settles).

    The first event is taken before the headers go out, so the relay has started (and will
    settle) whatever happens to the connection; it is ready (the upstream's first event
    arrived before the answer started) and goes out straight after the headers, before the
    pump and watcher tasks exist.
    """
    events = out.events.__aiter__()
    try:
        first = await events.__anext__()
    except StopAsyncIteration:
        first = None

    async def pump() -> None:
        async for event in events:
            await send({"type": "http.response.body", "body": event, "more_body": True})

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    relay = watcher = None
    try:
        await send({"type": "http.response.start", "status": 200,
                    "headers": _raw_headers(out.headers, b"text/event-stream")})
        if first is not None:
            await send({"type": "http.response.body", "body": first, "more_body": True})
        relay = asyncio.ensure_future(pump())
        watcher = asyncio.ensure_future(watch())
        await asyncio.wait({relay, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except OSError:
        return  # the client left while we were sending
    finally:
        tasks = [t for t in (relay, watcher) if t is not None]
        if watcher is not None:
            watcher.cancel()
        if relay is not None and not relay.done():
            relay.cancel()  # the client left: the relay's finally records it
        await asyncio.gather(*tasks, return_exceptions=True)
        await out.events.aclose()  # type: ignore[attr-defined]
    if relay.cancelled():
        return  # the client is gone: nothing more can be sent
    failure = relay.exception()
    if failure is not None:
        if not isinstance(failure, OSError):
            log.error("stream relay failed: %s", type(failure).__name__, exc_info=failure)
        return
    try:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:
        pass  # the client left right at the end


def internal_error(exc: BaseException, request_id: str) -> JsonOut:
    log.error("request %s failed: %s", request_id, type(exc).__name__, exc_info=exc)
    return error_out(InternalError(
        f"The gateway failed on this request; its log has the details under {request_id}."), request_id)
