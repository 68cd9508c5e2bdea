"""The OpenAI wire format: the few fields the gateway reads, as small msgspec views.

Requests are decoded twice, both in C: once into `dict[str, msgspec.Raw]` (every field kept
as raw JSON, so unknown fields pass through byte for byte) and once into a view Struct that
validates only what the gateway needs. Encoders and decoders are built once, here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Raw, Struct

Op = Literal["chat", "completions", "embeddings"]
RawFields = dict[str, Raw]


# Output limits and choice counts: a negative or zero limit is refused (llama.cpp's server
# reads a negative one as "no limit"), and so is one past 2^31 - 1 (no model has such a
# context; a limit past a known context window is refused by routing). OpenAI's own bounds
# for n (128) and best_of (20).
MAX_OUTPUT_LIMIT = 2**31 - 1
OutputLimit = Annotated[int, Meta(ge=1, le=MAX_OUTPUT_LIMIT)]
Choices = Annotated[int, Meta(ge=1, le=128)]
BestOf = Annotated[int, Meta(ge=1, le=20)]


class StreamOptions(Struct):
    include_usage: bool | None = False


class Message(Struct):
    role: str
    content: str | list[dict[str, Any]] | None = None


class _Sampling(Struct, kw_only=True):
    model: str
    stream: bool | None = False  # the OpenAI API accepts null for its optional fields
    stream_options: StreamOptions | None = None
    max_tokens: OutputLimit | None = None
    # llama.cpp server's own limit: it wins over max_tokens there, and -1 means "no limit".
    n_predict: OutputLimit | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    n: Choices | None = 1
    best_of: BestOf | None = None  # completions; vLLM takes it on chat too


class ChatView(_Sampling, kw_only=True):
    messages: list[Message]
    max_completion_tokens: OutputLimit | None = None

    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionView(_Sampling, kw_only=True):
    prompt: str | list[Any]  # a string, strings, token ids or lists of token ids

    def output_limit(self) -> int | None:
        return self.max_tokens


class EmbeddingView(Struct, kw_only=True):
    model: str
    input: str | list[Any]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None

    stream = False


View = ChatView | CompletionView | EmbeddingView

VIEW_TYPES: dict[str, type] = {
    "chat": ChatView,
    "completions": CompletionView,
    "embeddings": EmbeddingView,
}

PATHS: dict[str, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
}


class Usage(Struct, omit_defaults=False):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ReplyMessageView(Struct):
    content: str | None = None


class ReplyChoiceView(Struct):
    message: ReplyMessageView | None = None
    text: str | None = None
    finish_reason: str | None = None


class ReplyView(Struct):
    """What the gateway reads of a non-streamed upstream answer."""

    usage: Usage | None = None
    model: str | None = None
    choices: list[ReplyChoiceView] = []

    def text(self) -> str:
        return "".join((c.message.content or "") if c.message else (c.text or "") for c in self.choices)


class ReplyShape(Struct):
    """Which of an answer's top-level keys a 200 JSON carries (values skipped, not decoded):
    a 200 that is an error object or has no `choices` (`data`) is not an answer."""

    error: Raw = Raw(b"null")
    choices: Raw = Raw(b"")
    data: Raw = Raw(b"")


class DeltaView(Struct):
    content: str | None = None


class ChunkChoiceView(Struct):
    delta: DeltaView | None = None
    text: str | None = None  # legacy completions stream
    finish_reason: str | None = None


class ChunkView(Struct):
    """What the gateway reads of one streamed chunk."""

    choices: list[ChunkChoiceView] = []
    usage: Usage | None = None
    error: Any = None


class UpstreamErrorView(Struct):
    message: str = ""
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class UpstreamErrorEnvelope(Struct):
    error: UpstreamErrorView | str | None = None
    message: str | None = None  # some servers put the message at the top level


encode = msgspec.json.Encoder().encode
decode_fields = msgspec.json.Decoder(RawFields).decode
decode_reply = msgspec.json.Decoder(ReplyView).decode
decode_chunk = msgspec.json.Decoder(ChunkView).decode
decode_shape = msgspec.json.Decoder(ReplyShape).decode
decode_upstream_error = msgspec.json.Decoder(UpstreamErrorEnvelope).decode
VIEW_DECODERS = {op: msgspec.json.Decoder(t).decode for op, t in VIEW_TYPES.items()}

RAW_TRUE = Raw(b"true")
INCLUDE_USAGE = Raw(b'{"include_usage":true}')


def raw_str(value: str) -> Raw:
    return Raw(encode(value))


def chunk_text(chunk: ChunkView) -> str:
    parts = []
    for choice in chunk.choices:
        if choice.delta is not None and choice.delta.content:
            parts.append(choice.delta.content)
        elif choice.text:
            parts.append(choice.text)
    return "".join(parts)
