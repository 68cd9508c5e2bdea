"""A fast fake OpenAI upstream for scripts/bench: raw asyncio Protocols on uvloop.

HTTP/1.1 keep-alive only, just enough to answer:

    POST /v1/chat/completions   a fixed chat.completion JSON with usage, or, when the body
                                asks for "stream": true, a short SSE stream (chunked) that
                                ends with a usage chunk and [DONE]
    GET  /v1/models             one model
    GET  /health                ok

It costs far less per request than the gateway, so the difference between a direct request
and one through the gateway is the gateway's own overhead. Streams are paced like a model
decoding: --stream-interval-ms between events (0: only a loop turn between writes).

    python scripts/bench_upstream.py --port PORT [--stream-interval-ms 1]
prints "ready PORT" on stdout once it listens (PORT 0 picks a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import socket
import sys
import time

MODEL = "bench-model"
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_CLEN = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
WORDS = ["Hello", " from", " the", " fast", " fake", " upstream", "."]


def _completion_body() -> bytes:
    return json.dumps({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "".join(WORDS)},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 12, "completion_tokens": len(WORDS), "total_tokens": 12 + len(WORDS)},
    }, separators=(",", ":")).encode()


def _sse_chunks() -> list[bytes]:
    """Each SSE event as one HTTP chunk (written separately, as a real server streams)."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": MODEL}
    events = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                   "finish_reason": None}])]
    for word in WORDS:
        events.append(dict(base, choices=[{"index": 0, "delta": {"content": word}, "finish_reason": None}]))
    events.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    events.append(dict(base, choices=[], usage={"prompt_tokens": 12, "completion_tokens": len(WORDS),
                                                "total_tokens": 12 + len(WORDS)}))
    payloads = [b"data: " + json.dumps(e, separators=(",", ":")).encode() + b"\n\n" for e in events]
    payloads.append(b"data: [DONE]\n\n")
    chunks = [b"%x\r\n%s\r\n" % (len(p), p) for p in payloads]
    chunks[-1] += b"0\r\n\r\n"  # [DONE] and the end of the body in one write
    return chunks


def _response(status: str, body: bytes, ctype: bytes = b"application/json") -> bytes:
    return (b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: " + ctype +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


COMPLETION = _response("200 OK", _completion_body())
MODELS = _response("200 OK", json.dumps({"object": "list", "data": [
    {"id": MODEL, "object": "model", "created": 0, "owned_by": "bench"}]}).encode())
HEALTH = _response("200 OK", b'{"status":"ok"}')
NOT_FOUND = _response("404 Not Found", b'{"error":{"message":"not found","type":"invalid_request_error"}}')
BAD = _response("400 Bad Request", b'{"error":{"message":"bad request","type":"invalid_request_error"}}')
STREAM_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
STREAM_CHUNKS = _sse_chunks()


class Upstream(asyncio.Protocol):
    __slots__ = ("buf", "busy", "transport")
    interval = 0.0  # seconds between streamed events

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.busy = False  # a stream is being written: later requests wait in buf

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._serve()

    def _serve(self) -> None:
        while self.transport is not None and not self.busy:
            buf = self.buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = buf[:end]
            match = _CLEN.search(head)
            length = int(match.group(1)) if match else 0
            if _CHUNKED.search(head):  # not used by the gateway's client; refuse plainly
                self.transport.write(BAD)
                self.transport.close()
                return
            if len(buf) < end + 4 + length:
                return
            body = buf[end + 4:end + 4 + length]
            self.buf = buf[end + 4 + length:]
            close = _CLOSE.search(head) is not None
            line = head[:head.find(b"\r\n")] if b"\r\n" in head else head
            method, _, rest = line.partition(b" ")
            path = rest.partition(b" ")[0].partition(b"?")[0]
            if method == b"POST" and path in (b"/v1/chat/completions", b"/chat/completions"):
                if _STREAM.search(body):
                    self.busy = True
                    asyncio.ensure_future(self._stream(close))
                    return
                self.transport.write(COMPLETION)
            elif method == b"GET" and path in (b"/v1/models", b"/models"):
                self.transport.write(MODELS)
            elif method == b"GET" and path == b"/health":
                self.transport.write(HEALTH)
            else:
                self.transport.write(NOT_FOUND)
            if close:
                self.transport.close()
                return

    async def _stream(self, close: bool) -> None:
        """Head and the first event at once, then one event per write, `interval` apart."""
        transport = self.transport
        if transport is None:
            return
        transport.write(STREAM_HEAD + STREAM_CHUNKS[0])
        for chunk in STREAM_CHUNKS[1:]:
            await asyncio.sleep(self.interval)
            if self.transport is None:
                return
            transport.write(chunk)
        self.busy = False
        if close:
            transport.close()
            return
        self._serve()


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=4096, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"ready {bound}\n")
    sys.stdout.flush()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    await stop
    server.close()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stream-interval-ms", type=float, default=1.0)
    args = parser.parse_args()
    Upstream.interval = max(0.0, args.stream_interval_ms / 1000)
    try:
        import uvloop
    except ImportError:  # plain asyncio still works, only slower
        asyncio.run(main(args.port))
    else:
        uvloop.run(main(args.port))


if __name__ == "__main__":
    run()
