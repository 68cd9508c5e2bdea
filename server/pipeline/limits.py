"""The worst case a request can cost, shared by throttle and reserve.

Input: `server.prompt_bound` (every field an upstream may render into the prompt). Output:
the output limit times every answer the upstream makes (`n`, or `best_of` when larger, for
each prompt of a completions batch), plus a `prediction`'s text (OpenAI bills rejected
prediction tokens as output), plus, with `echo` on completions, the prompt's bound (the
prompt comes back in each answer's text, where the output cap counts it). When more than
one of `max_tokens`, `max_completion_tokens` and `n_predict` (llama.cpp server's own, which
wins there) is set, the largest counts: an upstream may honour any. When the client sets neither and a budget
or a token rate limit applies, the gateway sets `max_tokens` (`[budgets] default_max_tokens`)
and sends it upstream, so the worst case is a real bound and not a guess. An upstream that
ignores the limit anyway is cut by `server.pipeline.output_cap`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from server.pipeline.context import RequestContext
from server.prompt_bound import CAP, prompt_bound
from server.wire import ChatView, EmbeddingView, encode

if TYPE_CHECKING:
    from server.state import GatewayState


def worst_case(ctx: RequestContext, state: "GatewayState") -> tuple[int, int]:
    """(input tokens at most, output tokens at most); computed once per request."""
    if ctx.worst_in is None:
        view = ctx.view
        assert view is not None and ctx.fields is not None
        b = state.settings.budgets
        bound = prompt_bound(ctx.fields, ctx.op, image_tokens=b.image_tokens, template_tokens=b.template_tokens)
        if isinstance(view, EmbeddingView):
            ctx.worst_in, ctx.worst_out = bound.tokens, 0
            return ctx.worst_in, ctx.worst_out
        limits = [v for v in (view.max_tokens, getattr(view, "max_completion_tokens", None), view.n_predict)
                  if v is not None]
        limit = max(limits) if limits else b.default_max_tokens
        if view.max_tokens is None and getattr(view, "max_completion_tokens", None) is None:
            # Only n_predict, or nothing: an upstream that does not read n_predict still stops here.
            ctx.fields["max_tokens"] = msgspec.Raw(encode(limit))
            ctx.view = msgspec.structs.replace(view, max_tokens=limit)
        answers = ctx.answers = max(view.n or 1, view.best_of or 1) * bound.prompts
        extra = len(ctx.fields["prediction"]) if isinstance(view, ChatView) and "prediction" in ctx.fields else 0
        if ctx.op == "completions" and bytes(ctx.fields.get("echo", b"")) == b"true":
            extra += bound.tokens  # the prompt comes back in front of each answer's text
        ctx.worst_in = bound.tokens
        ctx.worst_out = min(CAP, (limit + extra) * answers)
    return ctx.worst_in, ctx.worst_out
