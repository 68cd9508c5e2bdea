"""The worst case a request can cost, shared by throttle and reserve.

When the client sets no output limit and a budget or a token rate limit applies, the
gateway sets one (`[budgets] default_max_tokens`) and sends it upstream, so the worst case
is a real bound and not a guess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from server.pipeline.context import RequestContext
from server.tokens import prompt_upper_bound
from server.wire import EmbeddingView, encode

if TYPE_CHECKING:
    from server.state import GatewayState


def worst_case(ctx: RequestContext, state: "GatewayState") -> tuple[int, int]:
    """(input tokens at most, output tokens at most); computed once per request."""
    if ctx.worst_in is None:
        view = ctx.view
        assert view is not None and ctx.fields is not None
        ctx.worst_in = prompt_upper_bound(view)
        if isinstance(view, EmbeddingView):
            ctx.worst_out = 0
        else:
            limit = view.output_limit()
            if limit is None:
                limit = state.settings.budgets.default_max_tokens
                ctx.fields["max_tokens"] = msgspec.Raw(encode(limit))
                ctx.view = msgspec.structs.replace(view, max_tokens=limit)
            ctx.worst_out = limit * max(1, view.n or 1)
    return ctx.worst_in, ctx.worst_out
