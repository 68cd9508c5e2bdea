"""A fake OpenAI-compatible upstream: a real aiohttp server on 127.0.0.1.

What it does is chosen by the upstream model name the gateway sends, so one server can
play every failure:

    ok          a normal answer (JSON or SSE, with usage when asked)
    nousage     like ok, but never reports usage (as llama.cpp's server does in streams)
    fail500     HTTP 500 with an OpenAI error body
    busy429     HTTP 429 with Retry-After: 1
    bad400      HTTP 400 with an OpenAI error body (a client error: never retried)
    slow        waits `slow_seconds` before answering
    reset       closes the connection without answering
    cut         streams two chunks, then drops the connection (no [DONE])
    malformed   answers 200 with a body that is not JSON
    echo        answers with the request body it received as the message content
    flaky       fails every other request with HTTP 503
    slowstream  answers a stream at once, then waits `slow_seconds` before the first event
    halfbody    starts a JSON answer (Content-Length 1000), sends 20 bytes, resets the connection
    leak        an answer with an e-mail address and a phone number in it (split across chunks)
    jsonok      the JSON {"name": "Ada", "age": 36};  jsonbad: {"name": "Ada"} (no age)
    echo401     HTTP 401 whose OpenAI error message echoes every header it got, in full,
                masked (first 8 and last 4 characters), URL-encoded and base64-encoded
    echo403     the same text as a plain-text (not JSON) HTTP 403
    echoevent   a 200 stream whose first event is an error event with the same text
    echotype    a 200 JSON answer whose Content-Type header echoes the Authorization header
    redirect301, redirect302, redirect307, redirect308
                that redirect to `redirect_to` + the request's path
    maxbill     keeps to the output limit but bills the most an upstream may: every answer
                (n or best_of, per prompt of a batch) `limit` tokens of 4 bytes, and a prompt
                counted by `max_prompt_tokens` (one token per byte of everything it could
                render, as verbose as a template may be)
    endless     ignores max_tokens: streams 1-byte tokens, 64 a chunk, until the client goes
                (a JSON request: a 2 MB answer billed at one token per byte)
    liar        a normal short answer whose usage claims a million output tokens

`billed` keeps what maxbill, endless and liar billed, by request, for assertions.

`redirect_paths` ({"/metrics": 307}, ...) redirects any request to those paths the same way
(health checks, /metrics, webhooks, OTLP exports). Every request's
body and headers are kept in `requests` for assertions, and every request of any kind, even
to an unknown path, in `hits` ("METHOD /path").
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from dataclasses import dataclass, field

from urllib.parse import quote

from aiohttp import web

from tests.fake_billing import max_prompt_tokens, prompts_of

WORDS = ["Hello", " from", " the", " fake", " upstream", "."]
ANSWERS = {
    "leak": ["Contact ", "jane.", "doe@exam", "ple.com", " or call ", "+1 415 ", "555 0132", "."],
    "jsonok": ['{"name": ', '"Ada", "age": 36}'],
    "jsonbad": ['{"name": ', '"Ada"}'],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Seen:
    path: str
    body: dict
    headers: dict


@dataclass
class FakeUpstream:
    port: int = field(default_factory=free_port)
    slow_seconds: float = 2.0
    requests: list[Seen] = field(default_factory=list)
    hooks: list[dict] = field(default_factory=list)  # what was posted to /hook (alert webhooks)
    counts: dict[str, int] = field(default_factory=dict)  # requests per upstream model
    metrics: str | None = None  # served at GET /metrics (Prometheus text), as vLLM does
    redirect_to: str | None = None  # where the redirect behaviours point (an origin, no path)
    redirect_paths: dict[str, int] = field(default_factory=dict)  # path -> 3xx status
    hits: list[str] = field(default_factory=list)  # every request: "METHOD /path"
    billed: list[dict] = field(default_factory=list)  # maxbill / endless / liar: their usage
    endless_pause_s: float = 0.001  # between endless's chunks: 64,000 tokens a second, faster than any model

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- answers -----------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._record])
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.chat)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/hook", self.hook)
        app.router.add_get("/metrics", self.prometheus)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler) -> web.StreamResponse:
        self.hits.append(f"{request.method} {request.path}")
        if request.path in self.redirect_paths:
            return self._redirect(request, self.redirect_paths[request.path])
        return await handler(request)

    def _redirect(self, request: web.Request, status: int) -> web.Response:
        assert self.redirect_to is not None, "set redirect_to"
        return web.Response(status=status, headers={"Location": self.redirect_to + request.path_qs})

    @staticmethod
    def echoed(request: web.Request) -> str:
        """What a careless upstream says about the credentials it got, in every form."""
        parts = []
        for name, value in request.headers.items():
            secret = value.removeprefix("Bearer ")
            parts.append(f"{name}: {value} (masked {secret[:8]}****{secret[-4:]}, "
                         f"url {quote(value, safe='')}, b64 {base64.b64encode(value.encode()).decode()})")
        return "Incorrect API key provided. You sent " + "; ".join(parts)

    async def prometheus(self, request: web.Request) -> web.Response:
        if self.metrics is None:
            return web.Response(status=404)
        return web.Response(text=self.metrics)

    async def hook(self, request: web.Request) -> web.Response:
        self.hooks.append(await request.json())
        return web.Response(status=204)

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "ok", "object": "model"}]})

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(Seen(request.path, body, dict(request.headers)))
        failure = await self._failure(request, body.get("model"))
        if failure is not None:
            return failure
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), 0.2, 0.3]}
                for i in range(len(inputs))]
        n = sum(len(str(x).split()) for x in inputs)
        return web.json_response({"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": n, "total_tokens": n}})

    async def _failure(self, request: web.Request, model: str | None) -> web.StreamResponse | None:
        self.counts[model or ""] = self.counts.get(model or "", 0) + 1
        if model == "flaky" and self.counts["flaky"] % 2:
            return web.json_response({"error": {"message": "flaky", "type": "server_error"}}, status=503)
        if model == "fail500":
            return web.json_response({"error": {"message": "boom", "type": "server_error"}}, status=500)
        if model == "busy429":
            return web.json_response({"error": {"message": "slow down", "type": "rate_limit"}},
                                     status=429, headers={"Retry-After": "1"})
        if model == "bad400":
            return web.json_response({"error": {"message": "bad temperature", "type": "invalid_request_error",
                                                "param": "temperature", "code": "bad_param"}}, status=400)
        if model == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()  # never sent: the connection is gone
        if model == "slow":
            await asyncio.sleep(self.slow_seconds)
        if model == "halfbody":
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.content_length = 1000
            await resp.prepare(request)
            await resp.write(b'{"id": "fake-1", "ob')
            await asyncio.sleep(0.05)
            assert request.transport is not None
            request.transport.abort()
            return resp
        if model == "malformed":
            return web.Response(body=b"<html>not json", content_type="application/json")
        if model == "echo401":
            return web.json_response({"error": {"message": self.echoed(request), "type": "invalid_request_error",
                                                "param": None, "code": "invalid_api_key"}}, status=401)
        if model == "echo403":
            return web.Response(status=403, text=self.echoed(request))
        if model == "echotype":
            auth = request.headers.get("Authorization", "")
            return web.Response(body=b"{}", headers={"Content-Type": f"application/json; key={auth}"})
        if model in ("redirect301", "redirect302", "redirect307", "redirect308"):
            return self._redirect(request, int(model[-3:]))
        return None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(Seen(request.path, body, dict(request.headers)))
        model = body.get("model")
        failure = await self._failure(request, model)
        if failure is not None:
            return failure
        chat = request.path.endswith("/chat/completions")
        if model in ("maxbill", "endless"):
            return await self._hostile(request, body, chat)
        words = ANSWERS.get(model, [json.dumps(body)] if model == "echo" else WORDS)
        usage = {"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 7 + len(words)}
        if not body.get("stream"):
            choice = ({"index": 0, "message": {"role": "assistant", "content": "".join(words)},
                       "finish_reason": "stop"} if chat else
                      {"index": 0, "text": "".join(words), "finish_reason": "stop"})
            reply = {"id": "fake-1", "object": "chat.completion" if chat else "text_completion",
                     "model": model, "choices": [choice], "upstream_extra": {"kept": True}}
            if model == "liar":
                usage = self._bill({"prompt_tokens": 7, "completion_tokens": 1_000_000}, model)
            if model != "nousage":
                reply["usage"] = usage
            return web.json_response(reply)
        return await self._stream(request, body, words, usage, chat)

    async def _stream(self, request: web.Request, body: dict, words: list[str], usage: dict,
                      chat: bool) -> web.StreamResponse:
        model = body.get("model")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if model == "slowstream":
            await asyncio.sleep(self.slow_seconds)
        if model == "echoevent":
            error = {"error": {"message": self.echoed(request), "type": "server_error"}}
            await resp.write(b"data: " + json.dumps(error).encode() + b"\n\n")
            return resp

        def chunk(text: str | None, finish: str | None) -> bytes:
            if chat:
                choice = {"index": 0, "delta": {} if text is None else {"content": text},
                          "finish_reason": finish}
            else:
                choice = {"index": 0, "text": text or "", "finish_reason": finish}
            return b"data: " + json.dumps({"id": "fake-1", "object": "chunk", "model": model,
                                           "choices": [choice]}).encode() + b"\n\n"

        for i, word in enumerate(words):
            await resp.write(chunk(word, None))
            if model == "cut" and i == 1:
                await asyncio.sleep(0.05)
                assert request.transport is not None
                request.transport.abort()
                return resp
        await resp.write(chunk(None, "stop"))
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if model == "liar":
            usage = self._bill({"prompt_tokens": 7, "completion_tokens": 1_000_000}, model)
        if wants_usage and model != "nousage":
            await resp.write(b"data: " + json.dumps({"id": "fake-1", "choices": [], "usage": usage}).encode()
                             + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp

    def _bill(self, usage: dict, model: str) -> dict:
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        self.billed.append({**usage, "model": model})
        return usage

    async def _hostile(self, request: web.Request, body: dict, chat: bool) -> web.StreamResponse:
        """maxbill and endless (see the module's docstring)."""
        model = body["model"]
        limits = [v for v in (body.get("max_tokens"), body.get("max_completion_tokens")) if v is not None]
        limit = min(max(limits) if limits else 16, 100_000)  # what got past the gateway is small
        answers = max(body.get("n") or 1, body.get("best_of") or 1) * len(prompts_of(body))
        usage = {"prompt_tokens": max_prompt_tokens(body), "completion_tokens": 0}
        endless = model == "endless"

        def choice(i: int, text: str | None, finish: str | None, whole: bool = False) -> dict:
            if whole:
                if chat:
                    return {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                return {"index": i, "text": text, "finish_reason": finish}
            if chat:
                return {"index": i, "delta": {} if text is None else {"content": text}, "finish_reason": finish}
            return {"index": i, "text": text or "", "finish_reason": finish}

        if not body.get("stream"):
            text = "a" * 2_000_000 if endless else " abc" * limit
            usage["completion_tokens"] = len(text) if endless else limit * answers
            shown = min(answers, 128)  # the bill counts every answer (best_of); the body shows n
            return web.json_response({
                "id": "fake-h", "object": "chat.completion" if chat else "text_completion", "model": model,
                "choices": [choice(i, text, "length", True) for i in range(shown)], "usage": self._bill(usage, model)})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(payload: dict) -> None:
            await resp.write(b"data: " + json.dumps(payload).encode() + b"\n\n")

        try:
            if endless:
                for _ in range(40_000):  # 2.5 MB at most, should nothing cut it
                    await send({"id": "fake-h", "model": model, "choices": [choice(0, "a" * 64, None)]})
                    usage["completion_tokens"] += 64
                    await asyncio.sleep(self.endless_pause_s)
            else:
                for i in range(answers):
                    for _ in range(limit):
                        await send({"id": "fake-h", "model": model, "choices": [choice(i, " abc", None)]})
                    await send({"id": "fake-h", "model": model, "choices": [choice(i, None, "length")]})
                usage["completion_tokens"] = limit * answers
            if (body.get("stream_options") or {}).get("include_usage"):
                await send({"id": "fake-h", "model": model, "choices": [], "usage": self._bill(usage, model)})
            else:
                self._bill(usage, model)
            await resp.write(b"data: [DONE]\n\n")
        except (ConnectionResetError, RuntimeError):  # the client (the gateway) cut the stream
            self._bill(usage, model)
        return resp

    # -- running -----------------------------------------------------------------
    async def start(self) -> FakeUpstream:
        """Run on the current event loop (integration tests)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()

    def start_in_thread(self) -> FakeUpstream:
        """Run on a loop of its own in a daemon thread (live tests, benchmarks)."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, name="fake-upstream", daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    def stop_thread(self) -> None:
        loop = self._loop
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)


def echoed_fragments(*secrets: str) -> list[str]:
    """What of each secret must appear nowhere once the gateway has scrubbed an echo of it
    (FakeUpstream.echoed's forms): the secret, its ends, its URL-encoded and base64 forms, the
    masked echo."""
    out = []
    for s in secrets:
        out += [s, s[:8], s[3:11], s[-8:], "****" + s[-4:], quote(s, safe=""),
                base64.b64encode(("Bearer " + s).encode()).decode()[12:24]]
    return out


def assert_no_fragment(where: str, text: str | bytes, *secrets: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    leaked = [n for n in echoed_fragments(*secrets) if n.encode() in data]
    assert not leaked, f"{where}: secret fragments {leaked} in: {data[:2000]!r}"
