"""Which of a route's targets this request may use: the egress policy and context windows.

A cloud target is used only when the site allows cloud egress ([egress] allow_cloud), the
key allows it (--allow-cloud, else [egress] keys_default), and the request is not marked
must-stay-local (by a guardrail, or by the client's `x-gate-local-only: true`). Each
decision is noted for the ledger row and the trace.
"""

from __future__ import annotations

from server.core.errors import InvalidRequest, ServiceUnavailable
from server.providers.base import ALL_OPS
from server.routing.target import Target
from server.core.settings import Settings
from server.store.keys import Principal
from server.core.tokens import count_prompt
from server.core.wire import EmbeddingView, View


def cloud_refusal(settings: Settings, principal: Principal, must_stay_local: bool) -> str | None:
    """Why cloud targets are off for this request, or None when they may be used."""
    if not settings.egress.allow_cloud:
        return "cloud egress is off for this site ([egress] allow_cloud = false)"
    allowed = settings.egress.keys_default if principal.allow_cloud is None else principal.allow_cloud
    if not allowed:
        return f"key '{principal.name}' may not use cloud targets"
    if must_stay_local:
        return "the request must stay on local models"
    return None


def needed_tokens(view: View, default_out: int) -> int:
    prompt, _ = count_prompt(view, lambda t: None)
    if isinstance(view, EmbeddingView):
        return prompt
    return prompt + (view.output_limit() or default_out)


def plan(tiers: list[list[Target]], view: View, settings: Settings, principal: Principal,
         must_stay_local: bool, notes: list[str], op: str | None = None) -> list[list[Target]]:
    refusal = cloud_refusal(settings, principal, must_stay_local)
    need: int | None = None
    out: list[list[Target]] = []
    skipped_cloud = skipped_context = 0
    for tier in tiers:
        kept = []
        for t in tier:
            if op is not None and op not in getattr(t.provider, "ops", ALL_OPS):
                notes.append(f"{t.label}: skipped, it does not serve {op}")
                continue
            if t.provider.locality == "cloud" and refusal is not None:
                notes.append(f"{t.label}: skipped, {refusal}")
                skipped_cloud += 1
                continue
            window = t.provider.context_window
            if window is not None:
                need = need if need is not None else needed_tokens(view, 1)
                if need > window:
                    notes.append(f"{t.label}: skipped, needs ~{need} tokens, context window {window}")
                    skipped_context += 1
                    continue
            kept.append(t)
        if kept:
            out.append(kept)
    if not out:
        if skipped_cloud and not skipped_context:
            raise ServiceUnavailable(f"Every target of this model is in the cloud and {refusal}.",
                                     code="egress_forbidden")
        if skipped_context:
            raise InvalidRequest(f"The request needs about {need} tokens, more than the context window "
                                 "of every target that may serve it.", code="context_length_exceeded")
    return out
