"""throttle: requests and tokens per minute for the key, across all worker processes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.core.errors import RateLimited
from server.pipeline.context import RequestContext
from server.pipeline.limits import worst_case
from server.store.ratelimits import Admission

if TYPE_CHECKING:
    from server.runtime.state import GatewayState


def rate_headers(admission: Admission) -> dict[str, str]:
    out = {}
    for lim in admission.limits:
        out[f"x-ratelimit-limit-{lim.kind}"] = str(lim.limit)
        out[f"x-ratelimit-remaining-{lim.kind}"] = str(lim.remaining)
        out[f"x-ratelimit-reset-{lim.kind}"] = f"{lim.reset_s:.3f}s"
    return out


@dataclass(frozen=True, slots=True)
class RatePlan:
    """What to count against the key's per-minute limits (written by reserve)."""

    rpm: int | None
    tpm: int | None
    tokens: int


def refusal(admission: Admission, plan: RatePlan, key_name: str) -> RateLimited:
    headers = rate_headers(admission)
    headers["Retry-After"] = str(max(1, math.ceil(admission.retry_after_s)))
    if admission.refused_by == "tokens" and plan.tpm and plan.tokens > plan.tpm:
        message = (f"This request may use up to {plan.tokens} tokens, more than the key's limit of "
                   f"{plan.tpm} tokens per minute; lower max_tokens.")
    else:
        limit = plan.rpm if admission.refused_by == "requests" else plan.tpm
        message = (f"Rate limit reached for key '{key_name}': {limit} {admission.refused_by} per minute. "
                   f"Try again in {headers['Retry-After']} s.")
    return RateLimited(message, kind=admission.refused_by or "requests", headers=headers)


async def stage(ctx: RequestContext, state: "GatewayState") -> None:
    """Decide what this request counts against the key's rate limits.

    The count itself is written by `reserve`, in the same transaction as the budget
    reservation: one write per request, and a request a budget refuses is not counted.
    """
    p = ctx.principal
    assert p is not None
    if not (p.rpm or p.tpm):
        return
    worst_in, worst_out = worst_case(ctx, state)
    ctx.rate_plan = RatePlan(p.rpm, p.tpm, worst_in + worst_out if p.tpm else 0)
