"""collect: a budgeted JSON answer, fetched upstream as a stream so its output can be capped.

An upstream that ignores `max_tokens` in a JSON answer has generated (and billed) all of it
before the first byte arrives: nothing can be cut any more. So a budgeted request that is
not streamed goes to an `openai`-kind upstream as a stream (asking for usage), is counted by
`output_cap` like any stream, and is put back together here into the JSON answer the client
asked for: the choices' deltas merged as OpenAI's SDKs merge them (strings appended, lists
of indexed objects merged by index, other lists extended, anything else replaced), the
top-level fields of the chunks kept, the usage chunk's usage. In-process models honour the
limit themselves and are called as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from server.core.errors import UpstreamBadResponse, UpstreamError, UpstreamUnavailable
from server.pipeline.context import RequestContext
from server.pipeline import output_cap
from server.pipeline.output_cap import OutputCap
from server.providers.base import Reply
from server.core.wire import Usage, encode

if TYPE_CHECKING:
    from server.runtime.state import GatewayState

REPLACED = frozenset({"index", "type", "role", "id", "finish_reason"})
_decode = msgspec.json.Decoder(dict[str, Any]).decode


def applies(ctx: RequestContext, state: "GatewayState") -> bool:
    """A budgeted JSON request to the target dispatch is trying (ctx.target)."""
    return not ctx.stream and ctx.op != "embeddings" and output_cap.applies(ctx, state)


def merge(into: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    for key, value in delta.items():
        old = into.get(key)
        if old is None or value is None or key in REPLACED:
            if value is not None or key not in into:
                into[key] = value
        elif isinstance(old, str) and isinstance(value, str):
            into[key] = old + value
        elif isinstance(old, dict) and isinstance(value, dict):
            merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            _merge_list(old, value)
        else:
            into[key] = value
    return into


def _merge_list(old: list[Any], new: list[Any]) -> None:
    for item in new:
        if isinstance(item, dict) and isinstance(item.get("index"), int):
            match = next((o for o in old if isinstance(o, dict) and o.get("index") == item["index"]), None)
            if match is not None:
                merge(match, item)
                continue
        old.append(item)


def _choice(chunk_choice: dict[str, Any], chat: bool) -> dict[str, Any]:
    out = dict(chunk_choice)
    if chat:
        out["message"] = out.pop("delta", None) or {}
    return out


def assemble(chunks: list[dict[str, Any]], chat: bool) -> tuple[dict[str, Any], Usage | None]:
    top: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    for chunk in chunks:
        for key, value in chunk.items():
            if key == "choices":
                for c in value or []:
                    if not isinstance(c, dict):
                        continue
                    index = c.get("index", 0) if isinstance(c.get("index", 0), int) else 0
                    piece = _choice(c, chat)
                    choices[index] = merge(choices[index], piece) if index in choices else piece
            elif key == "usage" and value is not None:
                top[key] = value
                usage = msgspec.convert(value, Usage)
            elif value is not None or key not in top:
                top[key] = value
    for c in choices.values():
        c.setdefault("finish_reason", None)
        if chat:
            c["message"].setdefault("role", "assistant")
            c["message"].setdefault("content", None)
    top["object"] = "chat.completion" if chat else "text_completion"
    top["choices"] = [choices[i] for i in sorted(choices)]
    return top, usage


async def stage(ctx: RequestContext, state: "GatewayState") -> None:
    """Read the upstream stream to its end (or its cut) and make ctx.reply of it."""
    stream = ctx.chunks
    assert stream is not None and ctx.target is not None
    name = ctx.target.provider.name
    cap = OutputCap(ctx, state)
    chunks: list[dict[str, Any]] = []
    finished = False
    try:
        async for data in stream:
            try:
                chunk = _decode(data)
                if chunk.get("usage") is not None:
                    ctx.usage = msgspec.convert(chunk["usage"], Usage)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise UpstreamBadResponse(f"upstream '{name}' sent a malformed stream chunk") from None
            if chunk.get("error") is not None:
                raise UpstreamError(502, f"upstream '{name}' sent an error event: {str(chunk['error'])[:300]}")
            choices = chunk.get("choices") or []
            for c in choices:
                if isinstance(c, dict):
                    delta = c.get("delta") if isinstance(c.get("delta"), dict) else {}
                    text = delta.get("content") if "delta" in c else c.get("text")
                    if isinstance(text, str) and text:
                        ctx.output_text.append(text)
                    finished = finished or bool(c.get("finish_reason"))
            if choices:
                cap.add(data)
            chunks.append(chunk)
            if cap.stop is not None:
                raise cap.stop
        if not (stream.done or finished):
            raise UpstreamUnavailable(f"upstream '{name}' ended the stream early")
    finally:
        await stream.aclose()
    body, usage = assemble(chunks, ctx.op == "chat")
    ctx.reply = Reply(body=encode(body), usage=usage, model=body.get("model"), status=200)
