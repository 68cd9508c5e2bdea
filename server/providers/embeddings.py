"""Embedding vectors in the encoding the client asked for.

OpenAI's `encoding_format: "base64"` is the vector's little-endian float32 bytes in
base64; the official Node SDK asks for it by default and decodes whatever string it gets,
so an answer with a JSON float list decodes into garbage without any error. Every
embeddings path goes through here: the in-process embedder encodes its vectors, and an
upstream that ignored the field (older OpenAI-compatible servers do) has its float lists
encoded on the way back.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import numpy as np

from server.core.wire import encode


def to_base64(vector: Any) -> str:
    """A vector as OpenAI sends it for `encoding_format: "base64"`."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def from_base64(text: str) -> list[float]:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(float).tolist()


def encoded(vector: Any, encoding_format: str) -> str | list[float]:
    """The in-process embedder's vector as asked: both encodings carry the same float32
    values (as OpenAI's do), so a client gets the same numbers whichever it asks for."""
    if encoding_format == "base64":
        return to_base64(vector)
    return np.asarray(vector, dtype="<f4").tolist()


class _Item(msgspec.Struct):
    embedding: msgspec.Raw = msgspec.Raw(b"null")


class _Vectors(msgspec.Struct):
    data: list[_Item] | None = None


_decode_vectors = msgspec.json.Decoder(_Vectors).decode


def _any_wrong(body: bytes, opener: bytes) -> bool:
    """Does any vector start with `opener` (a list where base64 was asked, or a string where
    floats were)? Anything this light decode cannot read goes to the full one below."""
    try:
        data = _decode_vectors(body).data
    except (msgspec.DecodeError, msgspec.ValidationError):
        return True
    return any(bytes(item.embedding).lstrip()[:1] == opener for item in data or ())


def as_requested(body: bytes, encoding_format: str) -> bytes:
    """An upstream's embeddings answer with every vector in the asked encoding.

    The body is returned untouched when it already is (or is not an embeddings list);
    only a vector of the wrong kind makes it re-encoded.
    """
    wrong = list if encoding_format == "base64" else str
    if not _any_wrong(body, b"[" if wrong is list else b'"'):
        return body  # the usual case, read without making a float of every value
    try:
        reply = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body  # the caller's own checks refuse a malformed answer
    data = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(data, list):
        return body
    changed = False
    for item in data:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(vector, wrong):
            continue
        try:
            item["embedding"] = to_base64(vector) if encoding_format == "base64" else from_base64(vector)
        except (ValueError, TypeError):
            continue  # not numbers / not base64: passed on as the upstream sent it
        changed = True
    return encode(reply) if changed else body
