"""guard_input: personal data, secrets, prompt injection and topics in what goes in.

Depending on the policy (the key's, else the model's, else [guardrails]) a finding is
redacted (the model sees placeholders; the answer gets the values back), keeps the request
on local targets, refuses it, or is only noted. A key marked sensitive always stays local.
What was found is noted on the ledger row and the trace, never the values themselves.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import msgspec

from server.core.errors import InvalidRequest, ServiceUnavailable
from server.guardrails.offload import OFFLOAD
from server.guardrails.runtime import OutputGuard
from server.pipeline.context import RequestContext
from server.core.wire import VIEW_DECODERS, encode

if TYPE_CHECKING:
    from server.runtime.state import GatewayState

log = logging.getLogger("gate")
USER_ROLES = {"user", "tool", "function"}


class _Texts:
    """The request's texts, where they sit, and how to put changed ones back."""

    def __init__(self, ctx: RequestContext) -> None:
        assert ctx.fields is not None
        self.field = {"chat": "messages", "completions": "prompt", "embeddings": "input"}[ctx.op]
        raw = ctx.fields.get(self.field)
        self.value: Any = msgspec.json.decode(raw) if raw is not None else None
        self.texts: list[str] = []
        self.user: list[bool] = []
        self.places: list[tuple] = []
        if self.field == "messages":
            for i, m in enumerate(self.value or []):
                if not isinstance(m, dict):
                    continue
                written = m.get("role") in USER_ROLES
                content = m.get("content")
                if isinstance(content, str):
                    self._add(content, written, (i, "content"))
                elif isinstance(content, list):
                    for j, part in enumerate(content):
                        if isinstance(part, dict) and isinstance(part.get("text"), str):
                            self._add(part["text"], written, (i, "content", j, "text"))
        elif isinstance(self.value, str):
            self._add(self.value, True, ())
        elif isinstance(self.value, list):
            for i, item in enumerate(self.value):
                if isinstance(item, str):
                    self._add(item, True, (i,))

    def _add(self, text: str, written: bool, place: tuple) -> None:
        self.texts.append(text)
        self.user.append(written)
        self.places.append(place)

    def put_back(self, ctx: RequestContext, texts: list[str]) -> None:
        for text, place in zip(texts, self.places, strict=True):
            if not place:
                self.value = text
                continue
            target = self.value
            for step in place[:-1]:
                target = target[step]
            target[place[-1]] = text
        assert ctx.fields is not None
        ctx.fields[self.field] = msgspec.Raw(encode(self.value))
        ctx.view = VIEW_DECODERS[ctx.op](encode(ctx.fields))


async def stage(ctx: RequestContext, state: "GatewayState") -> None:
    p = ctx.principal
    assert p is not None
    if p.sensitive:
        ctx.must_stay_local = True
        ctx.guard_notes.append("key is sensitive: local targets only")
    settings = state.settings.guardrails
    if not settings.enabled:
        return
    model = state.settings.models.get(ctx.alias or "")
    name = p.guardrails or (model.guardrails if model else None)
    guard = state.topology.guards.get(name) or state.topology.guards[None]
    ctx.guard = guard
    texts = _Texts(ctx)
    try:  # large texts in a helper process, off the event loop, within a deadline
        verdict = await OFFLOAD.inspect(guard, texts.texts, texts.user)
    except (ValueError, RuntimeError, re.error) as exc:  # a detector failed (or timed out: ScanTimeout)
        # The type only: a detector's message may quote the text it failed on.
        log.warning("request %s: guardrail check failed: %s", ctx.request_id, type(exc).__name__)
        if guard.policy.fail == "closed":
            raise ServiceUnavailable("A guardrail check failed on this request; it was not sent "
                                     "(the policy fails closed).", code="guardrail_failed") from None
        ctx.guard_notes.append(f"check failed open: {type(exc).__name__}")
        return
    ctx.input_found = verdict.kinds
    ctx.guard_notes.extend(verdict.notes)
    if verdict.blocked:
        raise InvalidRequest(verdict.blocked, code=verdict.blocked_code)
    if verdict.local_only:
        ctx.must_stay_local = True
        ctx.guard_notes.append(f"{', '.join(sorted(set(verdict.local_only)))}: local targets only")
    if verdict.changed:
        texts.put_back(ctx, verdict.texts)
    output = OutputGuard(guard, dict(verdict.redactor.mapping), verdict.seen)
    ctx.output_guard = output if output.active else None
