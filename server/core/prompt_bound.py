"""An upper bound of what an upstream can bill for a request, for every request shape.

Why bytes bound tokens: every tokenizer an upstream uses (byte-level BPE as in GPT, Llama 3
and Qwen; SentencePiece with byte fallback as in Llama 2, Gemma and Mistral; WordPiece)
makes at most one token of each UTF-8 byte of the text it is given: a token covers at least
one byte, and a character without a token of its own falls back to its bytes, one token
each. A JSON string's raw bytes are at least its text's UTF-8 bytes (escapes only lengthen
it). So the raw JSON of everything an upstream may render into the prompt bounds its tokens,
plus what the chat template adds by itself:

- Chat messages: the role, the content's text, and every other field of the message
  (`tool_calls`, `name`, `tool_call_id`, ...) as JSON pretty-printed with an indent of 4
  (templates such as Llama 3.1's render tool calls with `tojson(indent=4)`, longer than
  compact JSON); `MESSAGE_TOKENS` per message for the template's own markers.
- Every other field that is not a sampling or transport setting (`tools`, `tool_choice`,
  `response_format`, `stop`, `logit_bias`, `user`, `suffix`, unknown fields): its name and
  its value, pretty-printed; `MESSAGE_TOKENS` more per tool for its wrapper.
- Once per chat request, `[budgets] template_tokens` (a default system prompt, a tools
  preamble: a site whose templates add more raises it).
- Token-id prompts: one token per id. Strings: their bytes. `MESSAGE_TOKENS` per prompt.
- Images: `[budgets] image_tokens` each, whatever their size: the bytes of an image do not
  bound its tokens (a small PNG may be a huge picture), the models' resizing does; the
  default is the most any known model bills for one image (Qwen2/2.5-VL at its default
  max_pixels: 16,384; OpenAI's gpt-4o at most 1,445 at high detail; Pixtral 4,096).
- Audio given as data (`input_audio`): one token per byte of its base64 text (audio models
  bill 10-25 tokens a second; no codec carries a second in fewer than 250 bytes).
- Parts whose cost cannot be seen before the upstream fetches them (`file`, `audio_url`,
  `video_url`, or a type unknown here) are refused for keys with a budget or a token limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from server.core.errors import InvalidRequest
from server.core.wire import Op, RawFields

MESSAGE_TOKENS = 16  # a template's own tokens around one message (or prompt), at most
CAP = 2**40  # worst cases are clamped here: more than any budget, and sums stay in int64

# Fields that are settings of the call, never rendered into the prompt.
NOT_RENDERED = frozenset({
    "model", "messages", "prompt", "input", "stream", "stream_options", "max_tokens",
    "max_completion_tokens", "n", "best_of", "temperature", "top_p", "top_k", "min_p", "seed",
    "presence_penalty", "frequency_penalty", "repetition_penalty", "logprobs", "top_logprobs",
    "echo", "parallel_tool_calls", "store", "service_tier", "encoding_format", "dimensions",
})
TEXT_PARTS = frozenset({"text", "refusal", "input_text", "output_text"})
IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})

_objects = msgspec.json.Decoder(list[dict[str, msgspec.Raw]]).decode
_items = msgspec.json.Decoder(list[msgspec.Raw]).decode
_any = msgspec.json.Decoder().decode
_ids = msgspec.json.Decoder(list[int]).decode
_prompt = msgspec.json.Decoder(str | list[str | int | list[int]]).decode


def _first(raw: msgspec.Raw) -> bytes:
    return bytes(memoryview(raw)[:1])


def _json(raw: msgspec.Raw) -> int:
    """Bytes of a JSON value as a template may render it: a string's text, else indent-4 JSON."""
    if _first(raw) == b'"':
        return len(raw) - 2
    return len(msgspec.json.format(bytes(raw), indent=4))


def _field(name: str, raw: msgspec.Raw) -> int:
    return len(name.encode("utf-8")) + _json(raw)


def _refuse(kind: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"a '{kind}' content part has a cost the gateway cannot bound before the upstream "
        f"reads it; keys with a budget or a token limit may send text, image_url and "
        f"input_audio parts", param=param, code="unbounded_content")


def _parts(raw: msgspec.Raw, param: str, image_tokens: int) -> int:
    total = 0
    for i, part in enumerate(_objects(raw)):
        kind = _any(part["type"]) if "type" in part else "text"
        where = f"{param}[{i}]"
        if not isinstance(kind, str):
            raise InvalidRequest("a content part's 'type' must be a string", param=where + ".type")
        if kind in TEXT_PARTS:
            total += sum(_json(v) for k, v in part.items() if k != "type")
        elif kind in IMAGE_PARTS:
            total += image_tokens
        elif kind == "input_audio":
            audio = _any(part["input_audio"]) if "input_audio" in part else None
            data = audio.get("data") if isinstance(audio, dict) else None
            if not isinstance(data, str):
                raise InvalidRequest("an input_audio part needs its audio as base64 'data'",
                                     param=where + ".input_audio.data")
            total += len(data)
        else:
            raise _refuse(str(kind), where)
    return total


def _messages(raw: msgspec.Raw, image_tokens: int) -> tuple[int, int]:
    """(bound, messages)"""
    messages = _objects(raw)
    total = 0
    for i, message in enumerate(messages):
        total += MESSAGE_TOKENS
        for name, value in message.items():
            if name == "content" and _first(value) == b"[":
                total += _parts(value, f"messages[{i}].content", image_tokens)
            elif name in ("role", "content"):
                total += _json(value) if _first(value) == b'"' else 0
            elif name == "audio":  # a reference to an earlier answer's audio: not visible here
                raise _refuse("audio", f"messages[{i}].audio")
            else:
                total += _field(name, value)
    return total, len(messages)


def _prompts(raw: msgspec.Raw, param: str) -> tuple[int, int]:
    """(bound, prompts) of a completions prompt or an embeddings input.

    A string, a list of strings, a list of token ids (one prompt) or a list of lists of
    token ids; a list mixing them counts each element as a prompt of its own. Decoded by
    type in C: a prompt of thousands of ids costs microseconds."""
    try:
        return len(_ids(raw)) + MESSAGE_TOKENS, 1  # token ids: one prompt
    except msgspec.ValidationError:
        pass
    try:
        value = _prompt(raw)
    except msgspec.ValidationError:
        raise InvalidRequest(f"'{param}' must be a string, a list of strings, a list of token ids "
                             "or a list of lists of token ids", param=param) from None
    if isinstance(value, str):
        return len(value.encode("utf-8")) + MESSAGE_TOKENS, 1
    total = MESSAGE_TOKENS * len(value)
    for v in value:
        total += len(v.encode("utf-8")) if isinstance(v, str) else len(v) if isinstance(v, list) else 1
    return total, len(value)


@dataclass(frozen=True, slots=True)
class Bound:
    tokens: int   # the prompt's tokens, at most
    prompts: int  # how many prompts the upstream answers (a completions batch); 1 for chat


def prompt_bound(fields: RawFields, op: Op, *, image_tokens: int, template_tokens: int) -> Bound:
    total, prompts = 0, 1
    if op == "chat":
        bound, _ = _messages(fields["messages"], image_tokens)
        total += bound + template_tokens
    else:
        key = "prompt" if op == "completions" else "input"
        bound, prompts = _prompts(fields[key], key)
        total += bound
    for name, value in fields.items():
        if name in NOT_RENDERED:
            continue
        total += _field(name, value)
        if name in ("tools", "functions") and _first(value) == b"[":
            total += MESSAGE_TOKENS * len(_items(value))
    return Bound(min(total, CAP), max(1, prompts))
