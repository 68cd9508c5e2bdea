"""guard_output: answers (cache hits included) get the request's redacted values back,
leaked personal data redacted, and JSON-schema answers checked against the schema.

JSON answers are rewritten whole. Streams are filtered delta by delta through a sliding
window (OutputGuard), so a value split across chunks is still caught and the SSE framing
stays intact; the held-back tail goes out with the finishing chunk.
"""

from __future__ import annotations

from typing import Any

import msgspec

from server.core.errors import UpstreamBadResponse
from server.guardrails.schema import problem, requested_schema
from server.pipeline.context import RequestContext
from server.core.wire import encode


def schema_of(ctx: RequestContext) -> dict | None:
    guard = ctx.guard
    if guard is None or not guard.policy.validate_json or ctx.fields is None:
        return None
    raw = ctx.fields.get("response_format")
    return requested_schema(msgspec.json.decode(raw)) if raw is not None else None


class SchemaMismatch(UpstreamBadResponse):
    code = "response_schema_mismatch"


def check_schema(schema: dict, text: str) -> None:
    found = problem(text, schema)
    if found:
        raise SchemaMismatch(f"The model's answer does not conform to the requested JSON schema: {found}.")


def needed(ctx: RequestContext) -> bool:
    return ctx.output_guard is not None or schema_of(ctx) is not None


def json_body(ctx: RequestContext, body: bytes) -> bytes:
    """A whole JSON answer, checked and rewritten."""
    guard, schema = ctx.output_guard, schema_of(ctx)
    if guard is None and schema is None:
        return body
    reply: Any = msgspec.json.decode(body)
    for choice in reply.get("choices") or []:
        holder, key = (choice.get("message"), "content") if "message" in choice else (choice, "text")
        text = holder.get(key) if isinstance(holder, dict) else None
        if not isinstance(text, str):
            continue
        if guard is not None:
            holder[key] = text = guard.text(text)
        if schema is not None:
            check_schema(schema, text)
    note(ctx)
    return encode(reply)


class StreamFilter:
    """Per chunk of a stream: the delta's text through the output guard."""

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.guard = ctx.output_guard
        self.schema = schema_of(ctx)
        self.sent: list[str] = []
        self.delivered = False  # some text has gone out (not only held back)
        self.last: Any = None

    def rest(self) -> bytes | None:
        """What is still held back, as one more chunk (a stream ending in an error still
        delivers everything that arrived before it)."""
        if self.guard is None or self.last is None:
            return None
        text = self.guard.flush()
        if not text:
            return None
        chunk = {k: v for k, v in self.last.items() if k in ("id", "object", "created", "model")}
        choice: dict[str, Any] = {"index": 0, "finish_reason": None}
        if self.ctx.op == "chat":
            choice["delta"] = {"content": text}
        else:
            choice["text"] = text
        chunk["choices"] = [choice]
        return encode(chunk)

    def __call__(self, data: bytes) -> bytes:
        chunk: Any = msgspec.json.decode(data)
        self.last = chunk
        changed = False
        for choice in chunk.get("choices") or []:
            holder, key = (choice.get("delta"), "content") if "delta" in choice else (choice, "text")
            if not isinstance(holder, dict):
                continue
            text = holder.get(key)
            finishing = bool(choice.get("finish_reason"))
            if self.guard is not None and (isinstance(text, str) or finishing):
                out = self.guard.feed(text or "")
                if finishing:
                    out += self.guard.flush()
                if out or isinstance(text, str):
                    holder[key] = out
                changed = True
                text = out
            if isinstance(text, str):
                self.sent.append(text)
                self.delivered = self.delivered or bool(text)
            if finishing and self.schema is not None:
                check_schema(self.schema, "".join(self.sent))
        if finishing_any(chunk):
            note(self.ctx)
        return encode(chunk) if changed else data


def finishing_any(chunk: Any) -> bool:
    return any(c.get("finish_reason") for c in chunk.get("choices") or [])


def note(ctx: RequestContext) -> None:
    guard = ctx.output_guard
    if guard is not None and guard.leaks:
        what = ", ".join(f"{k} x{n}" for k, n in sorted(guard.leaks.items()))
        ctx.guard_notes.append(f"answer leaked {what}: {guard.guard.policy.output_pii}")
