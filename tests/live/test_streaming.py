"""Streams over the real server: a cut upstream, and a client that goes away mid-stream."""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid

import openai
import pytest

from tests.live.conftest import CHAT

DEADLINE_S = 15.0


def _post(gate, key: str, body: dict) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=DEADLINE_S)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    return conn.getresponse()


def _events(raw: bytes) -> list[str]:
    """The data payloads of an SSE body, in order (the gateway writes one data line per event)."""
    text = raw.decode("utf-8")
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        if data:
            events.append("\n".join(data))
    return events


def test_cut_stream_ends_with_an_error_event_and_no_done(gate, key):
    resp = _post(gate, key, {"model": "cut", "stream": True, "messages": CHAT})
    assert resp.status == 200
    assert resp.getheader("content-type", "").startswith("text/event-stream")
    rid = resp.getheader("x-gate-request-id")
    raw = resp.read()  # http.client decodes the chunked body; the socket has a deadline
    events = _events(raw)
    assert "[DONE]" not in events and b"[DONE]" not in raw
    # The two pieces that arrived are all delivered (the output guard streams whole words and
    # hands over what it held back before the error event).
    texts = [json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1]]
    assert "".join(texts) == "Hello from"
    last = json.loads(events[-1])
    assert set(last) == {"error"}
    assert last["error"]["code"] == "upstream_unavailable"
    assert last["error"]["type"] == "upstream_error"
    assert raw.endswith(b"\n\n")
    rows = gate.wait_for_rows([rid])
    assert len(rows) == 1
    assert rows[0]["status"] == 502 and rows[0]["stream"] == 1
    assert "closed the connection" in rows[0]["error"]
    assert rows[0]["output_tokens"] > 0  # what was relayed before the cut is counted


def test_cut_stream_raises_in_the_sdk(client):
    stream = client.chat.completions.create(model="cut", messages=CHAT, stream=True)
    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "Hello from"
    assert info.value.body["code"] == "upstream_unavailable"


def test_complete_stream_ends_with_done(gate, key):
    resp = _post(gate, key, {"model": "ok", "stream": True, "messages": CHAT})
    events = _events(resp.read())
    assert events[-1] == "[DONE]"
    assert events.count("[DONE]") == 1
    assert not any('"error"' in e for e in events)


def _open_stream(gate, key: str, body: dict) -> socket.socket:
    payload = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", gate.port), timeout=DEADLINE_S)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Authorization: Bearer " + key.encode() + b"\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
    return sock


def _read_until(sock: socket.socket, predicate) -> bytes:
    deadline = time.monotonic() + DEADLINE_S
    buf = b""
    while not predicate(buf):
        assert time.monotonic() < deadline, f"no expected data within {DEADLINE_S} s: {buf[-500:]!r}"
        data = sock.recv(65536)
        assert data, f"the server closed the stream early: {buf[-500:]!r}"
        buf += data
    return buf


def _request_id(head: bytes) -> str:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-gate-request-id":
            return value.strip().decode()
    raise AssertionError(f"no x-gate-request-id in {head[:500]!r}")


@pytest.mark.model
def test_client_disconnect_mid_stream_on_the_local_model(gate, key, client):
    sock = _open_stream(gate, key, {"model": "local", "stream": True, "max_tokens": 128, "temperature": 0,
                                    "messages": [{"role": "user", "content": "Tell me a long story about a cat."}]})
    try:
        # Wait for a chunk with real text (after the role chunk), then hang up.
        buf = _read_until(sock, lambda b: b"\r\n\r\n" in b and b'"content":"' in b.replace(b'"content":""', b""))
    finally:
        sock.close()
    assert buf.startswith(b"HTTP/1.1 200")
    rid = _request_id(buf.split(b"\r\n\r\n", 1)[0])
    rows = gate.wait_for_rows([rid])
    assert len(rows) == 1, f"no ledger row for the abandoned stream {rid}"
    row = rows[0]
    assert row["status"] == 499, row
    assert row["error"] == "client closed the connection"
    assert row["stream"] == 1 and row["alias"] == "local"
    assert row["output_tokens"] >= 1 and row["usage_estimated"] == 1
    # The model thread is free again: the next local answer arrives.
    reply = client.chat.completions.create(model="local", messages=CHAT, max_tokens=4, temperature=0)
    assert reply.usage.completion_tokens >= 1
    assert gate.alive


def test_client_disconnect_before_the_first_byte(gate, key, client, fake_upstream):
    """The client hangs up while the upstream ("slow") is still thinking: the server stays up
    and the request still gets exactly one ledger row."""
    before = len([r for r in gate.ledger_rows() if r["alias"] == "slow"])
    marker = uuid.uuid4().hex
    sock = _open_stream(gate, key, {"model": "slow", "stream": True, "messages": CHAT, "x_live_marker": marker})
    deadline = time.monotonic() + DEADLINE_S
    try:  # hang up once the request has reached the upstream (the fake waits 1 s to answer)
        while not any(r.body.get("x_live_marker") == marker for r in fake_upstream.requests):
            assert time.monotonic() < deadline, "the request never reached the upstream"
            time.sleep(0.01)
    finally:
        sock.close()
    rows = []
    while time.monotonic() < deadline:
        rows = [r for r in gate.ledger_rows() if r["alias"] == "slow"]
        if len(rows) > before:
            break
        time.sleep(0.05)
    assert len(rows) == before + 1
    assert rows[-1]["status"] in (200, 499)
    assert client.chat.completions.create(model="ok", messages=CHAT).choices[0].message.content
    assert gate.alive
