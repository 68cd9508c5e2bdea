"""throttle: requests and tokens per minute for the key, across all worker processes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from server.errors import RateLimited
from server.pipeline.context import RequestContext
from server.pipeline.limits import worst_case
from server.store.ratelimits import Admission, admit

if TYPE_CHECKING:
    from server.state import GatewayState


def rate_headers(admission: Admission) -> dict[str, str]:
    out = {}
    for lim in admission.limits:
        out[f"x-ratelimit-limit-{lim.kind}"] = str(lim.limit)
        out[f"x-ratelimit-remaining-{lim.kind}"] = str(lim.remaining)
        out[f"x-ratelimit-reset-{lim.kind}"] = f"{lim.reset_s:.3f}s"
    return out


async def stage(ctx: RequestContext, state: "GatewayState") -> None:
    p = ctx.principal
    assert p is not None
    if not (p.rpm or p.tpm):
        return
    worst_in, worst_out = worst_case(ctx, state)
    tokens = worst_in + worst_out if p.tpm else 0
    admission = admit(state.db, p.key_id, p.rpm, p.tpm, tokens, ctx.ts)
    ctx.rate = admission
    if not admission.allowed:
        headers = rate_headers(admission)
        headers["Retry-After"] = str(max(1, math.ceil(admission.retry_after_s)))
        if admission.refused_by == "tokens" and p.tpm and tokens > p.tpm:
            message = (f"This request may use up to {tokens} tokens, more than the key's limit of "
                       f"{p.tpm} tokens per minute; lower max_tokens.")
        else:
            limit = p.rpm if admission.refused_by == "requests" else p.tpm
            message = (f"Rate limit reached for key '{p.name}': {limit} {admission.refused_by} per minute. "
                       f"Try again in {headers['Retry-After']} s.")
        raise RateLimited(message, kind=admission.refused_by or "requests", headers=headers)
