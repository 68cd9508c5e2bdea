"""Kind `llamacpp`: a GGUF model run in this process by llama-cpp-python.

The model is not thread-safe, so every call runs on the provider's own single thread, off
the event loop. Token counts come from the model's own tokenizer, so usage is exact.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from server.core.errors import (
    GatewayError,
    InvalidRequest,
    ServiceUnavailable,
    Unsupported,
    UpstreamUnavailable,
)
from server.core.paths import models_dir
from server.providers.base import Health, Probe, Reply, UpstreamCall
from server.providers.chat_templates import TEMPLATES
from server.providers.embeddings import encoded
from server.core.settings import LlamaCppProvider as LlamaSettings
from server.core.wire import ChatView, CompletionView, EmbeddingView, Usage, encode


def resolve_model_path(model: str) -> Path:
    """A .gguf path, or `pypi:PACKAGE` assembled from a model package already installed."""
    if not model.startswith("pypi:"):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist")
        return path
    package = model[5:].replace("-", "_")
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise FileNotFoundError(f"model package '{model[5:]}' is not installed") from None
    return Path(module.assemble(module.default_output_path(models_dir())))


class LlamaCpp:
    kind = "llamacpp"

    def __init__(self, name: str, settings: LlamaSettings) -> None:
        self.name = name
        self.settings = settings
        self.locality = "local"
        self.context_window = settings.n_ctx
        self.health_checks = False  # in process: it is as alive as the gateway
        self.address = None  # in process
        # An embedding model makes vectors only; a text model never makes vectors.
        self.ops = frozenset(("embeddings",) if settings.embedding else ("chat", "completions"))
        self._template = TEMPLATES[settings.chat_format]
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gate-llama-{name}")
        self._llm: Any = None
        self._load: asyncio.Future | None = None
        self._error: str | None = None
        self.model_path: Path | None = None

    @property
    def ready(self) -> bool:
        return self._llm is not None

    async def start(self) -> None:
        self._load = asyncio.get_running_loop().run_in_executor(self._pool, self._load_model)

    def _load_model(self) -> None:
        try:
            from server.core.llama_runtime import llama_cpp

            Llama = llama_cpp().Llama
            self.model_path = resolve_model_path(self.settings.model)
            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self.settings.n_ctx,
                n_threads=self.settings.n_threads or max(1, min(4, os.cpu_count() or 1)),
                embedding=self.settings.embedding,
                verbose=False,
            )
        except (OSError, ValueError, RuntimeError, ImportError) as exc:
            self._error = f"cannot load model for provider '{self.name}': {exc}"
            raise

    async def wait_ready(self) -> None:
        if self._llm is not None:
            return
        if self._load is None:
            raise ServiceUnavailable(f"provider '{self.name}' is not started")
        try:
            await asyncio.shield(self._load)
        except (OSError, ValueError, RuntimeError, ImportError):
            raise ServiceUnavailable(self._error or f"provider '{self.name}' failed to load") from None

    async def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def count_tokens(self, text: str) -> int | None:
        if self._llm is None:
            return None
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    # -- the calls ---------------------------------------------------------------

    async def _run(self, fn, *args):
        """fn on the model's thread; llama.cpp's own failures become gateway errors here."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except GatewayError:
            raise
        except (RuntimeError, ValueError, AssertionError) as exc:
            raise UpstreamUnavailable(f"provider '{self.name}' failed: {type(exc).__name__}") from None

    def _params(self, view: ChatView | CompletionView, prompt_tokens: int) -> dict[str, Any]:
        if view.n not in (None, 1):
            raise Unsupported("this model answers one choice at a time (n must be 1)", param="n")
        room = self.settings.n_ctx - prompt_tokens
        if room <= 0:
            raise InvalidRequest(
                f"the prompt has {prompt_tokens} tokens; this model's context is "
                f"{self.settings.n_ctx}", param="messages", code="context_length_exceeded")
        wanted = view.output_limit() or self.settings.max_tokens
        stop = [view.stop] if isinstance(view.stop, str) else list(view.stop or [])
        params: dict[str, Any] = {
            "max_tokens": min(wanted, room),
            "temperature": 0.8 if view.temperature is None else view.temperature,
            "top_p": 0.95 if view.top_p is None else view.top_p,
            "stop": stop,
            "presence_penalty": view.presence_penalty or 0.0,
            "frequency_penalty": view.frequency_penalty or 0.0,
        }
        if view.seed is not None:
            params["seed"] = view.seed
        return params

    def _prompt(self, call: UpstreamCall) -> tuple[str, list[str]]:
        view = call.view
        if isinstance(view, ChatView):
            return self._template(view.messages)
        if isinstance(view, CompletionView):
            if isinstance(view.prompt, str):
                return view.prompt, []
            if isinstance(view.prompt, list) and len(view.prompt) == 1 and isinstance(view.prompt[0], str):
                return view.prompt[0], []
            raise Unsupported("this model takes one prompt string", param="prompt")
        raise Unsupported(f"provider '{self.name}' does not serve this operation")

    def _prepare(self, call: UpstreamCall) -> tuple[str, int, dict[str, Any]]:
        prompt, stop = self._prompt(call)
        prompt_tokens = len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        params = self._params(call.view, prompt_tokens)  # type: ignore[arg-type]
        params["stop"] = params["stop"] + stop
        return prompt, prompt_tokens, params

    async def send(self, call: UpstreamCall) -> Reply:
        await self.wait_ready()
        if isinstance(call.view, EmbeddingView):
            return await self._embed(call)
        prompt, prompt_tokens, params = await self._run(self._prepare, call)
        result = await self._run(lambda: self._llm.create_completion(prompt, **params))
        choice = result["choices"][0]
        completion_tokens = result["usage"]["completion_tokens"]
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        created = int(time.time())
        if call.op == "chat":
            body = {"id": "chatcmpl-" + secrets.token_hex(12), "object": "chat.completion",
                    "created": created, "model": call.upstream_model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": choice["text"]},
                                 "logprobs": None, "finish_reason": choice["finish_reason"]}],
                    "usage": usage}
        else:
            body = {"id": "cmpl-" + secrets.token_hex(12), "object": "text_completion",
                    "created": created, "model": call.upstream_model,
                    "choices": [{"index": 0, "text": choice["text"], "logprobs": None,
                                 "finish_reason": choice["finish_reason"]}],
                    "usage": usage}
        return Reply(body=encode(body), usage=Usage(**usage), model=call.upstream_model)

    async def _embed(self, call: UpstreamCall) -> Reply:
        if not self.settings.embedding:
            raise Unsupported(f"model served by '{self.name}' does not make embeddings "
                              "(set embedding = true on an embedding model)", param="model")
        view = call.view
        texts = [view.input] if isinstance(view.input, str) else view.input
        if not texts or not all(isinstance(t, str) for t in texts):
            raise Unsupported("this model embeds strings only", param="input")

        def run() -> tuple[list[list[float]], int]:
            tokens = sum(len(self._llm.tokenize(t.encode(), add_bos=True)) for t in texts)
            return self._llm.embed(texts, normalize=True), tokens

        vectors, tokens = await self._run(run)
        body = {"object": "list", "model": call.upstream_model,
                "data": [{"object": "embedding", "index": i, "embedding": encoded(v, view.encoding_format)}
                         for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return Reply(body=encode(body), usage=Usage(tokens, 0, tokens), model=call.upstream_model)

    async def open_stream(self, call: UpstreamCall) -> LocalStream:
        await self.wait_ready()
        if isinstance(call.view, EmbeddingView):
            raise InvalidRequest("embeddings cannot be streamed", param="stream")
        loop = asyncio.get_running_loop()
        prompt, prompt_tokens, params = await self._run(self._prepare, call)
        stream = LocalStream(self, call, prompt_tokens)
        loop.run_in_executor(self._pool, stream.produce, loop, prompt, params)
        await stream.prefetch()  # accepted once the first token is there, as other upstreams
        return stream

    async def probe(self) -> Probe:
        health = await self.check()
        return Probe(health.ok, health.detail)

    async def check(self) -> Health:
        if self._llm is not None:
            return Health(True, f"loaded {self.model_path.name if self.model_path else ''}".strip())
        if self._error:
            return Health(False, self._error)
        try:
            path = await asyncio.to_thread(resolve_model_path, self.settings.model)
        except (OSError, ValueError) as exc:
            return Health(False, str(exc))
        return Health(True, f"model file present: {path.name} (not loaded)")


class LocalStream:
    """Chunks generated on the model's thread, handed to the event loop through a queue."""

    def __init__(self, provider: LlamaCpp, call: UpstreamCall, prompt_tokens: int) -> None:
        self._provider = provider
        self._call = call
        self._prompt_tokens = prompt_tokens
        self._queue: asyncio.Queue = asyncio.Queue()
        self._cancel = threading.Event()
        self._id = ("chatcmpl-" if call.op == "chat" else "cmpl-") + secrets.token_hex(12)
        self._created = int(time.time())
        self._first: tuple | None = None
        self.done = False
        # perf_counter() on the model's thread when the first and the last token came out.
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None

    async def prefetch(self) -> None:
        """Wait for the model's first piece (prompt processing and the first token), so the
        upstream attempt covers them and a failure before it may still fail over."""
        try:
            self._first = await self._queue.get()
        except BaseException:  # the request is cancelled: stop the generation
            self._cancel.set()
            raise
        if self._first[0] == "error":
            raise UpstreamUnavailable(f"provider '{self._provider.name}' failed: {self._first[1]}")

    def produce(self, loop: asyncio.AbstractEventLoop, prompt: str, params: dict[str, Any]) -> None:
        def put(item: tuple) -> None:
            try:
                loop.call_soon_threadsafe(self._queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                self._cancel.set()

        llm = self._provider._llm
        text: list[str] = []
        finish = "stop"
        try:
            for part in llm.create_completion(prompt, stream=True, **params):
                if self._cancel.is_set():
                    finish = "cancelled"
                    break
                choice = part["choices"][0]
                if choice.get("text"):
                    self.last_token_at = time.perf_counter()
                    if self.first_token_at is None:
                        self.first_token_at = self.last_token_at
                    text.append(choice["text"])
                    put(("text", choice["text"]))
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            completion = len(llm.tokenize("".join(text).encode("utf-8"), add_bos=False, special=False))
            put(("end", finish, completion))
        except (RuntimeError, ValueError) as exc:
            put(("error", str(exc)))

    def _chunk(self, text: str | None, finish: str | None, role: bool = False) -> bytes:
        if self._call.op == "chat":
            delta: dict[str, Any] = {"role": "assistant"} if role else {}
            if text is not None:
                delta["content"] = text
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            obj = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            obj = "text_completion"
        return encode({"id": self._id, "object": obj, "created": self._created,
                       "model": self._call.upstream_model, "choices": [choice]})

    async def __aiter__(self):
        if self._call.op == "chat":
            yield self._chunk("", None, role=True)
        while True:
            if self._first is not None:
                item, self._first = self._first, None
            else:
                item = await self._queue.get()
            if item[0] == "text":
                yield self._chunk(item[1], None)
            elif item[0] == "end":
                _, finish, completion = item
                yield self._chunk(None, finish)
                usage = {"prompt_tokens": self._prompt_tokens, "completion_tokens": completion,
                         "total_tokens": self._prompt_tokens + completion}
                yield encode({"id": self._id, "object": self._chunk_object(), "created": self._created,
                              "model": self._call.upstream_model, "choices": [], "usage": usage})
                self.done = True
                return
            else:
                raise UpstreamUnavailable(f"provider '{self._provider.name}' failed: {item[1]}")

    def _chunk_object(self) -> str:
        return "chat.completion.chunk" if self._call.op == "chat" else "text_completion"

    async def aclose(self) -> None:
        self._cancel.set()
