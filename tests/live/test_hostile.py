"""Hostile clients against a real `gate serve` (fake upstream on 127.0.0.1), over raw sockets.

- A slow input check (a site pattern that backtracks) neither stalls other requests nor
  runs past the policy's `scan_timeout_s`.
- HTTP-level refusals. granian answers malformed HTTP itself, before the gateway sees the
  request, with an empty body: a NUL or 0xFF in a header name, a 1 MB header, 3,000 headers,
  a 100 KB URL, a bad request line. Those cannot be shaped as OpenAI errors; what is
  promised is "never a 5xx: a 4xx (400, 414, 431) or the connection closed".
- Content-Length with Transfer-Encoding: granian (hyper) drops the Content-Length, reads the
  body as chunked and closes the connection after the answer (RFC 9112 6.1), so the app never
  sees both headers and a request pipelined behind it is never read: nothing can be smuggled.
- A Hypothesis fuzz pass (tests/live/fuzz_requests.py) over /v1 and /admin.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request

import aiohttp
import pytest

from tests.live.conftest import ADMIN_TOKEN, Gate, live_config

SLOW_POLICY = """
[guardrails]
scan_timeout_s = 3
custom = { slowpoke = "(x+x+)+y" }
"""


@pytest.fixture(scope="module")
def slow_gate(tmp_path_factory, fake_upstream):
    server = Gate(tmp_path_factory.mktemp("gate-slowcheck"), live_config(fake_upstream.url, SLOW_POLICY))
    server.key = server.create_key("hostile")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hostile_gate(tmp_path_factory, fake_upstream):
    server = Gate(tmp_path_factory.mktemp("gate-hostile"), live_config(fake_upstream.url, cache="semantic = false"))
    server.key = server.create_key("hostile")
    server.start()
    yield server
    server.stop()


def chat(text: str) -> dict:
    return {"model": "ok", "messages": [{"role": "user", "content": text}]}


async def test_a_slow_input_check_neither_stalls_other_requests_nor_runs_forever(slow_gate):
    # 26 x's make `(x+x+)+y` backtrack for seconds; the padding sends the text to the helper.
    slow_text = "x" * 26 + " " * 20_000
    auth = {"Authorization": f"Bearer {slow_gate.key}"}
    url = slow_gate.base_url + "/v1/chat/completions"
    async with aiohttp.ClientSession(headers=auth) as http:
        async def post(body: dict) -> tuple[int, dict]:
            async with http.post(url, json=body) as r:
                return r.status, await r.json()

        slow = asyncio.ensure_future(post(chat(slow_text)))
        await asyncio.sleep(0.5)  # it is being checked now (before the fix, the gateway was stuck in it)
        for _ in range(3):
            status, body = await post(chat("What are the office hours?"))
            assert status == 200, body
        assert not slow.done()  # answered while the slow check ran: the event loop was free
        status, body = await slow
    assert status == 503, body
    assert body["error"]["code"] == "guardrail_failed"
    # The stuck helper was stopped; the next large text gets a fresh one.
    with urllib.request.urlopen(urllib.request.Request(
            url, data=json.dumps(chat("hello " * 4000)).encode(), headers=auth), timeout=30) as r:
        assert r.status == 200


# -- HTTP-level refusals -----------------------------------------------------------------------

def exchange(port: int, raw: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes (or stops sending)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(raw)
        except OSError:
            pass  # the server may close before it has read everything
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
    return out


def statuses(reply: bytes) -> list[int]:
    return [int(line.split(b" ")[1]) for line in reply.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


HOST = b"Host: 127.0.0.1\r\nConnection: close\r\n"
REFUSED_BY_GRANIAN = {
    "nul in a header": b"GET /health/live HTTP/1.1\r\n" + HOST + b"X-A: a\x00b\r\n\r\n",
    "0xff in a header name": b"GET /health/live HTTP/1.1\r\n" + HOST + b"X-\xff: a\r\n\r\n",
    "1 MB header": b"GET /health/live HTTP/1.1\r\n" + HOST + b"X-A: " + b"a" * 1_000_000 + b"\r\n\r\n",
    "3000 headers": b"GET /health/live HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: a\r\n" % i for i in range(3000))
                    + b"\r\n",
    "100 KB URL": b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
    "bad request line": b"GARBAGE\r\n\r\n",
    "bad version": b"GET /health/live HTTP/7.0\r\n" + HOST + b"\r\n",
    "two content lengths": b"POST /v1/chat/completions HTTP/1.1\r\n" + HOST
                           + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
}


@pytest.mark.parametrize("name", sorted(REFUSED_BY_GRANIAN))
def test_malformed_http_is_refused_without_a_5xx(hostile_gate, name):
    reply = exchange(hostile_gate.port, REFUSED_BY_GRANIAN[name])
    codes = statuses(reply)
    assert codes in ([], [400], [414], [431]), (name, reply[:300])


def test_0xff_in_a_header_value_reaches_the_gateway_and_gets_an_openai_error(hostile_gate):
    raw = (b"POST /v1/chat/completions HTTP/1.1\r\n" + HOST + b"Authorization: Bearer sk-gate-\xff\xff\r\n"
           b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    reply = exchange(hostile_gate.port, raw)
    assert statuses(reply) == [401], reply[:300]
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert set(body["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/admin/keys"])
@pytest.mark.parametrize("chunk", [b"zz\r\nhello\r\n0\r\n\r\n", b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
                                   b"3\r\nhello\r\n0\r\n\r\n"])
def test_invalid_chunk_sizes_get_no_5xx(hostile_gate, path, chunk):
    token = hostile_gate.key if path.startswith("/v1") else ADMIN_TOKEN
    raw = (b"POST " + path.encode() + b" HTTP/1.1\r\n" + HOST + b"Authorization: Bearer " + token.encode()
           + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk)
    reply = exchange(hostile_gate.port, raw)
    codes = statuses(reply)
    assert codes in ([], [400]), reply[:300]
    if codes:
        assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]["type"] == "invalid_request_error"


def test_content_length_with_transfer_encoding_cannot_smuggle_a_request(hostile_gate):
    body = json.dumps(chat("hi")).encode()
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    smuggled = b"GET /admin/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n\r\n"
    for order in (b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                  b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"):
        raw = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
               + hostile_gate.key.encode() + b"\r\n" + order + b"\r\n" + chunked + smuggled)
        reply = exchange(hostile_gate.port, raw)
        codes = statuses(reply)
        assert len(codes) == 1 and codes[0] < 500, reply[:400]  # one answer; the second request is never read
        assert b"connection: close" in reply.lower()
        assert b'"prefix"' not in reply  # nothing of /admin/keys


def test_the_gateway_still_answers(hostile_gate):
    with urllib.request.urlopen(hostile_gate.base_url + "/health/live", timeout=10) as r:
        assert r.status == 200
