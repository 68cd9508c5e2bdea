"""Kind `openai`: any OpenAI-compatible server over the worker's pooled aiohttp session."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import urlsplit

import aiohttp
import msgspec

from server.core.errors import (
    GatewayError,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from server.providers.base import ALL_OPS, Health, Probe, Reply, UpstreamCall
from server.providers.embeddings import as_requested
from server.providers.scrub import MAX_TEXT, Scrubber
from server.core.settings import OpenAIProvider as OpenAISettings
from server.core.settings import resolve_secret
from server.core.sse import DONE, SSEDecoder
from server.core.wire import PATHS, EmbeddingView, decode_reply, decode_shape, decode_upstream_error, encode

_RETRYABLE = {408, 409, 429, 500, 502, 503, 504}
_RETRY_AFTER = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,3})?|[A-Za-z]{3}, [0-9A-Za-z :]{1,30}")  # seconds or HTTP date


def _translate(exc: BaseException, name: str) -> GatewayError:
    """aiohttp and asyncio errors become gateway errors here, where they enter."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return UpstreamTimeout(f"upstream '{name}' timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamUnavailable(f"upstream '{name}' is unreachable (connection failed)")
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                        aiohttp.ClientOSError, ConnectionError)):
        return UpstreamUnavailable(f"upstream '{name}' closed the connection")
    if isinstance(exc, aiohttp.ClientError):
        return UpstreamUnavailable(f"upstream '{name}' failed: {type(exc).__name__}")
    raise exc


def upstream_error(name: str, status: int, body: bytes, headers: dict[str, str],
                   scrubber: Scrubber) -> GatewayError:
    """An upstream's error answer, its status kept, its message in the OpenAI envelope.

    Everything the upstream said goes through the scrubber first: it may echo the
    credentials the gateway sent. A 401 or 403 means the upstream refused the gateway's own
    credentials, not the client's: a provider failure, so the next target is tried at once,
    and nothing of what the upstream said is kept."""
    if status in (401, 403):
        return UpstreamUnavailable(
            f"upstream '{name}' refused the gateway's credentials (HTTP {status}); "
            f"check providers.{name}.api_key and headers", code="upstream_auth_failed")
    message, etype, param, code = "", None, None, None
    try:
        env = decode_upstream_error(body)
        if isinstance(env.error, str):
            message = env.error
        elif env.error is not None:
            message, etype, param = env.error.message, env.error.type, env.error.param
            code = str(env.error.code) if env.error.code is not None else None
        message = message or env.message or ""
    except (msgspec.DecodeError, msgspec.ValidationError):
        message = body[:300].decode("utf-8", "replace").strip()

    def clean(text: str, limit: int) -> str:
        return scrubber.scrub(text[:limit])[:limit]

    out_headers = {}
    after = headers.get("Retry-After")
    if after is not None and _RETRY_AFTER.fullmatch(after):
        out_headers["Retry-After"] = after
    return UpstreamError(
        status if 400 <= status <= 599 else 502,
        f"upstream '{name}' returned {status}: {clean(message, MAX_TEXT) or 'no message'}",
        error_type=clean(etype, 100) if etype else ("invalid_request_error" if status < 500 else "upstream_error"),
        param=clean(param, 100) if param else None,
        code=clean(code, 100) if code else None,
        retryable=status in _RETRYABLE,
        headers=out_headers,
    )


def redirected(name: str, status: int) -> UpstreamUnavailable:
    """A 3xx: never followed (its target may be any host), so a provider failure."""
    return UpstreamUnavailable(f"upstream '{name}' answered {status} (a redirect); the gateway follows "
                               f"no redirects: set providers.{name}.url to the final address",
                               code="upstream_redirect")


class OpenAICompatible:
    kind = "openai"

    def __init__(self, name: str, settings: OpenAISettings, session: aiohttp.ClientSession,
                 *, default_timeout_s: float, source: str = "", scrubber: Scrubber | None = None) -> None:
        self.name = name
        self.settings = settings
        self.locality = settings.locality
        self.context_window = settings.context_window
        self.health_checks = (settings.locality == "local") if settings.health_checks is None \
            else settings.health_checks
        self._first_byte = settings.first_byte_timeout_s
        self._session = session
        self._base = settings.url.rstrip("/")
        self._root = self._base.removesuffix("/v1")
        self.address = urlsplit(self._base).hostname
        self.ops = ALL_OPS  # an OpenAI-compatible server says what it cannot do itself
        headers = {"Content-Type": "application/json"}
        secrets = []
        if settings.api_key:
            secrets.append(resolve_secret(settings.api_key, source, f"providers.{name}.api_key").reveal())
            headers["Authorization"] = f"Bearer {secrets[-1]}"
        for header, ref in settings.headers.items():
            secrets.append(resolve_secret(ref, source, f"providers.{name}.headers").reveal())
            headers[header] = secrets[-1]
        self._headers = headers
        # Every configured secret (the registry passes it); else at least this provider's own.
        self.scrubber = scrubber or Scrubber(secrets)
        self._timeout = aiohttp.ClientTimeout(
            total=settings.timeout_s or default_timeout_s, sock_connect=settings.connect_timeout_s
        )

    @property
    def ready(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None  # the session belongs to the gateway state

    def count_tokens(self, text: str) -> int | None:
        return None

    async def _post(self, call: UpstreamCall) -> aiohttp.ClientResponse:
        try:
            resp = await asyncio.wait_for(self._session.post(
                self._base + PATHS[call.op], data=encode(call.fields),
                headers=self._headers, timeout=self._timeout, allow_redirects=False,
            ), self._first_byte)
        except TimeoutError:
            raise UpstreamTimeout(f"upstream '{self.name}' sent nothing within "
                                  f"{self._first_byte:g} s (first_byte_timeout_s)") from None
        except BaseException as exc:  # translated, or re-raised if foreign to the network
            raise _translate(exc, self.name) from None
        if resp.status >= 400:
            try:
                body = await resp.read()
            except BaseException as exc:
                raise _translate(exc, self.name) from None
            finally:
                resp.release()
            raise upstream_error(self.name, resp.status, body, dict(resp.headers), self.scrubber)
        if resp.status >= 300:
            resp.release()
            raise redirected(self.name, resp.status)
        return resp

    async def send(self, call: UpstreamCall) -> Reply:
        resp = await self._post(call)
        try:
            body = await resp.read()
        except BaseException as exc:
            raise _translate(exc, self.name) from None
        finally:
            resp.release()
        try:
            view, shape = decode_reply(body), decode_shape(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise UpstreamBadResponse(f"upstream '{self.name}' sent a malformed answer") from None
        wanted = "data" if isinstance(call.view, EmbeddingView) else "choices"
        if not len(getattr(shape, wanted)):
            if bytes(shape.error) != b"null":  # an error object sent as a 200: scrubbed like any
                raise upstream_error(self.name, 502, body, dict(resp.headers), self.scrubber)
            raise UpstreamBadResponse(f"upstream '{self.name}' answered 200 without '{wanted}'")
        if isinstance(call.view, EmbeddingView):  # an upstream may ignore encoding_format
            body = as_requested(body, call.view.encoding_format)
        return Reply(body=body, usage=view.usage, model=view.model, status=resp.status)

    async def open_stream(self, call: UpstreamCall) -> _SSEStream:
        resp = await self._post(call)
        ctype = resp.headers.get("Content-Type", "")
        if "text/event-stream" not in ctype:
            resp.release()
            raise UpstreamBadResponse(f"upstream '{self.name}' answered a stream request with "
                                      f"'{self.scrubber.scrub(ctype[:100]) or 'no type'}'")
        stream = _SSEStream(resp, self.name, self.scrubber)
        await stream.prefetch(self._first_byte)
        return stream

    async def probe(self) -> Probe:
        health = await self.check()
        if not health.ok:
            return Probe(False, health.detail)
        return Probe(True, health.detail, await self._load())

    async def _load(self) -> float | None:
        """vLLM's and llama.cpp server's Prometheus metrics: queue depth and busy slots."""
        try:
            async with self._session.get(self._root + "/metrics", headers=self._headers,
                                         timeout=aiohttp.ClientTimeout(total=3),
                                         allow_redirects=False) as resp:
                if resp.status != 200:
                    return None
                text = await resp.text()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, UnicodeDecodeError):
            return None
        return load_from_metrics(text)

    async def check(self) -> Health:
        started = time.perf_counter()
        try:
            async with self._session.get(
                self._base + "/models", headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=5, sock_connect=self.settings.connect_timeout_s),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Health(False, _translate(exc, self.name).message)
        ms = (time.perf_counter() - started) * 1000
        if resp.status != 200:
            why = {401: " (credentials refused)", 403: " (credentials refused)"}.get(
                resp.status, " (a redirect, not followed)" if 300 <= resp.status < 400 else "")
            return Health(False, f"GET /models returned {resp.status}{why}", ms)
        try:
            data = msgspec.json.decode(body)
            models = [m["id"] for m in data.get("data", []) if isinstance(m, dict) and "id" in m]
        except (msgspec.DecodeError, AttributeError, TypeError):
            models = []
        return Health(True, "reachable", ms, models)


_WAITING = ("vllm:num_requests_waiting", "llamacpp:requests_deferred")
_RUNNING = ("vllm:num_requests_running", "llamacpp:requests_processing")


def load_from_metrics(text: str) -> float | None:
    """waiting * 2 + running, summed over label sets; None when the server reports neither."""
    waiting = running = 0.0
    seen = False
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in _WAITING or name in _RUNNING:
            try:
                value = float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                continue
            seen = True
            if name in _WAITING:
                waiting += value
            else:
                running += value
    return waiting * 2 + running if seen else None


class _SSEStream:
    """Data payloads of an upstream SSE response; mid-stream failures become gateway errors.

    An event that reports an error (it has an "error" key) is scrubbed before it goes on:
    it is relayed to the client and its text kept in the ledger."""

    def __init__(self, resp: aiohttp.ClientResponse, name: str, scrubber: Scrubber) -> None:
        self._resp = resp
        self._name = name
        self._scrub = scrubber.scrub_event
        self.done = False  # [DONE] arrived; without it only a finish_reason proves an end
        self._events = self._read()
        self._first: bytes | None = None

    async def prefetch(self, timeout: float) -> None:
        """Wait for the first event (time to first token), so the caller may still fail over."""
        try:
            async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
                self._first = await anext(self._events)
        except StopAsyncIteration:
            self._first = None
        except TimeoutError:
            self._resp.close()
            raise UpstreamTimeout(f"upstream '{self._name}' sent no first token within {timeout:g} s "
                                  "(first_byte_timeout_s)") from None
        except BaseException:
            self._resp.close()
            raise

    async def __aiter__(self):
        if self._first is not None:
            yield self._first
        async for data in self._events:
            yield data

    async def _read(self):
        decoder = SSEDecoder()
        try:
            async for chunk in self._resp.content.iter_any():
                for data in decoder.feed(chunk):
                    if data == DONE:
                        self.done = True
                        return
                    yield self._scrub(data) if b'"error"' in data else data
            for data in decoder.finish():
                if data == DONE:
                    self.done = True
                    return
                yield self._scrub(data) if b'"error"' in data else data
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _translate(exc, self._name) from None

    async def aclose(self) -> None:
        self._resp.close()
