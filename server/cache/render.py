"""A cached answer, rendered as the OpenAI JSON answer or replayed as an SSE stream."""

from __future__ import annotations

import re
import secrets
import time

from server.cache.entries import Entry
from server.core.wire import encode

_PIECES = re.compile(r"\S+\s*|\s+")


def _usage(e: Entry) -> dict:
    return {"prompt_tokens": e.input_tokens, "completion_tokens": e.output_tokens,
            "total_tokens": e.input_tokens + e.output_tokens}


def body(e: Entry, op: str) -> bytes:
    created = int(time.time())
    if op == "chat":
        return encode({"id": "chatcmpl-" + secrets.token_hex(12), "object": "chat.completion", "created": created,
                       "model": e.model, "choices": [{"index": 0, "logprobs": None, "finish_reason": e.finish_reason,
                                                      "message": {"role": "assistant", "content": e.answer}}],
                       "usage": _usage(e)})
    return encode({"id": "cmpl-" + secrets.token_hex(12), "object": "text_completion", "created": created,
                   "model": e.model, "choices": [{"index": 0, "text": e.answer, "logprobs": None,
                                                  "finish_reason": e.finish_reason}], "usage": _usage(e)})


def chunks(e: Entry, op: str, with_usage: bool) -> list[bytes]:
    """The answer as a stream: word by word, then the finish, then usage if asked."""
    rid = ("chatcmpl-" if op == "chat" else "cmpl-") + secrets.token_hex(12)
    created = int(time.time())
    obj = "chat.completion.chunk" if op == "chat" else "text_completion"

    def chunk(text: str | None, finish: str | None, first: bool = False) -> bytes:
        if op == "chat":
            delta = {"role": "assistant", "content": text or ""} if first else ({} if text is None else {"content": text})
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
        return encode({"id": rid, "object": obj, "created": created, "model": e.model, "choices": [choice]})

    out = [chunk("", None, first=True)] if op == "chat" else []
    out.extend(chunk(piece, None) for piece in _PIECES.findall(e.answer))
    out.append(chunk(None, e.finish_reason or "stop"))
    if with_usage:
        out.append(encode({"id": rid, "object": obj, "created": created, "model": e.model, "choices": [],
                           "usage": _usage(e)}))
    return out
