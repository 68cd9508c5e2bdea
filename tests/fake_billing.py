"""What the fake upstream's `maxbill` bills for a prompt: the most a verbose upstream may.

Counted independently of the gateway (server.core.prompt_bound), from the decoded body: every
field but the call's settings, one token per UTF-8 byte, structures as indent-4 JSON,
16 tokens per message, prompt or tool, and 64 once for a chat.
"""

from __future__ import annotations

import json

NOT_BILLED = {"model", "messages", "prompt", "input", "stream", "stream_options", "max_tokens",
              "max_completion_tokens", "n", "best_of", "temperature", "top_p", "seed",
              "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs"}
IMAGE_TOKENS, TEMPLATE_TOKENS, PER_MESSAGE = 16384, 64, 16


def _bytes(value) -> int:
    if isinstance(value, str):
        return len(value.encode())
    return len(json.dumps(value, indent=4, ensure_ascii=False).encode())


def _content(content) -> int:
    if not isinstance(content, list):
        return _bytes(content) if isinstance(content, str) else 0
    total = 0
    for part in content:
        kind = part.get("type", "text")
        if kind in ("image_url", "input_image", "image"):
            total += IMAGE_TOKENS
        elif kind == "input_audio":
            total += len(part["input_audio"]["data"])
        else:
            total += sum(_bytes(v) for k, v in part.items() if k != "type")
    return total


def prompts_of(body: dict) -> list:
    prompt = body.get("prompt")
    if prompt is None or isinstance(prompt, str):
        return [prompt]
    if all(isinstance(t, int) for t in prompt):
        return [prompt]
    return list(prompt) or [prompt]


def max_prompt_tokens(body: dict) -> int:
    total = 0
    if "messages" in body:
        total += TEMPLATE_TOKENS
        for m in body["messages"]:
            total += PER_MESSAGE + _bytes(m.get("role", "")) + _content(m.get("content"))
            total += sum(len(k) + _bytes(v) for k, v in m.items() if k not in ("role", "content"))
    else:
        for p in prompts_of(body):
            total += PER_MESSAGE + (_bytes(p) if isinstance(p, str) else
                                    len(p) if isinstance(p, list) else 1)
    for k, v in body.items():
        if k not in NOT_BILLED:
            total += len(k) + _bytes(v)
            if k in ("tools", "functions"):
                total += PER_MESSAGE * len(v)
    return total
