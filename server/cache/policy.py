"""Which requests the cache may answer or keep, and the keys it files them under.

`partition` hashes everything that must be equal for one answer to serve another request:
the scope (team or key), the alias, the operation, the system prompt and every earlier turn,
and every sampling parameter, tool and response format. `exact` adds the final question.
Only the final user question may differ between a request and a semantic hit.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from server.core.settings import CacheSettings
from server.store.keys import Principal
from server.core.wire import RawFields
from server.guardrails.base import INLINE_CHARS

if TYPE_CHECKING:
    from server.guardrails import Scanner

# Fields that do not change the answer (how it is delivered, or bookkeeping).
NEUTRAL = {"stream", "stream_options", "user", "metadata", "store", "service_tier"}
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


@dataclass(frozen=True, slots=True)
class CachePlan:
    read: bool              # may answer from the cache (not with Cache-Control: no-cache)
    partition: str
    exact: bytes
    query: str              # the final question, for the semantic stage and inspection
    scope: str
    ttl_s: int
    threshold: float | None  # per request (x-gate-cache-threshold), else the configured one


@dataclass(frozen=True, slots=True)
class Bypass:
    """This request is neither answered from nor kept in the cache; `reason` says why."""

    reason: str


def _text(content: object) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if all(isinstance(p, str) for p in parts) and len(parts) == len(content):
            return "\n".join(parts)  # type: ignore[arg-type]
    return None


def _directives(headers: dict[str, str]) -> set[str]:
    return {d.strip().lower() for d in headers.get("cache-control", "").split(",") if d.strip()}


def plan(op: str, fields: RawFields, headers: dict[str, str], principal: Principal, alias: str,
         settings: CacheSettings, model_cache: bool) -> CachePlan | Bypass:
    """A plan for this request, or Bypass (with the reason) when it must not be cached."""
    if not settings.enabled or not model_cache:
        return Bypass("the cache is off for this model")
    if op == "embeddings":
        return Bypass("embeddings are not cached")
    directives = _directives(headers)
    if "no-store" in directives:
        return Bypass("Cache-Control: no-store")
    decoded = {k: msgspec.json.decode(v) for k, v in fields.items() if k not in NEUTRAL}
    temperature = decoded.get("temperature")
    if isinstance(temperature, (int, float)) and temperature > settings.max_temperature:
        return Bypass(f"temperature {temperature} > max_temperature {settings.max_temperature}")
    if (decoded.get("n") or 1) != 1:
        return Bypass("n > 1")
    if decoded.get("tools") and not settings.cache_tools:
        return Bypass("requests with tools are not cached (cache_tools = false)")
    if "user" in fields and not settings.cache_per_user:
        return Bypass("requests naming a user are not cached (cache_per_user = false)")
    if op == "chat":
        messages = decoded.get("messages") or []
        last = messages[-1] if messages else {}
        query = _text(last.get("content")) if isinstance(last, dict) and last.get("role") == "user" else None
        if query is None:
            return Bypass("the last message is not a user's text")
        decoded["messages"] = messages[:-1]
    else:
        query = decoded.pop("prompt", None)
        if not isinstance(query, str):
            return Bypass("only single string prompts are cached")
    decoded.pop("model", None)
    scope = (f"team:{principal.team_id}" if settings.scope == "team" and principal.team_id
             else f"key:{principal.key_id}")
    partition = hashlib.sha256(_encode_sorted([scope, alias, op, decoded])).hexdigest()
    exact = hashlib.sha256(partition.encode() + b"\0" + query.encode("utf-8", "surrogatepass")).digest()
    return CachePlan(read="no-cache" not in directives, partition=partition, exact=exact, query=query,
                     scope=scope, ttl_s=_int(headers.get("x-gate-cache-ttl"), settings.ttl_s),
                     threshold=_float(headers.get("x-gate-cache-threshold")))


def _int(value: str | None, default: int) -> int:
    try:
        return max(1, int(value)) if value is not None else default
    except ValueError:
        return default


def _float(value: str | None) -> float | None:
    try:
        v = float(value) if value is not None else None
    except ValueError:
        return None
    return v if v is not None and 0 < v <= 1 else None


# -- personal data and secrets ---------------------------------------------------------
# The cache keeps a question and its answer as text in the SQLite file. Nothing in which the
# guardrails' detectors find personal data or a secret is kept: such a request bypasses the
# cache (noted on its trace), and an answer holding any is not written.


# The guardrails check longer texts in a helper process; the cache's screen runs inline, so
# it stops here (a 3.6 MB question would otherwise stall the worker for seconds).
SCREEN_MAX_CHARS = INLINE_CHARS


def found(scanner: "Scanner", text: str) -> dict[str, int]:
    """What the scanner finds in text: kind -> count (never the values). A text too long to
    screen on the event loop (server.guardrails.offload) counts as unchecked: not kept."""
    if len(text) > SCREEN_MAX_CHARS:
        return {"unchecked": 1}
    kinds: dict[str, int] = {}
    try:
        findings = scanner.scan(text)
    except (ValueError, RuntimeError, re.error):  # a detector failed: keep nothing (fail closed)
        return {"unchecked": 1}
    for f in findings:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    return kinds


def describe(kinds: dict[str, int]) -> str:
    return "personal data or secrets (" + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())) + ")"
