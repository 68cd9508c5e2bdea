"""The worst case a request can cost, for admission (`server.pipeline.admit`).

Input: `server.core.prompt_bound` (every field an upstream may render into the prompt). Output:
the output limit times every answer the upstream makes (`n`, or `best_of` when larger, for
each prompt of a completions batch), plus a `prediction`'s text (OpenAI bills rejected
prediction tokens as output), plus, with `echo` on completions, the prompt's bound (the
prompt comes back in each answer's text, where the output cap counts it). When more than
one of `max_tokens`, `max_completion_tokens` and `n_predict` (llama.cpp server's own, which
wins there) is set, the largest counts: an upstream may honour any. When the client sets
neither `max_tokens` nor `max_completion_tokens`, the worst case says which limit to send
(`WorstCase.max_tokens`: `n_predict` if set, else `[budgets] default_max_tokens`):
admission sends it upstream, so the worst case is a real bound and not a guess. An upstream
that ignores the limit anyway is cut by `server.pipeline.output_cap`.

A pure function of the request: it changes nothing; what the request must carry, the
caller applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.core.prompt_bound import CAP, prompt_bound
from server.core.settings import BudgetSettings
from server.core.wire import ChatView, EmbeddingView, Op, RawFields, View


@dataclass(frozen=True, slots=True)
class WorstCase:
    input: int              # prompt tokens at most
    output: int             # output tokens at most, every answer together
    answers: int = 1        # answers the upstream makes: n (or best_of) per prompt
    max_tokens: int | None = None  # the output limit to send upstream (the client set none)


def worst_case(fields: RawFields, view: View, op: Op, budgets: BudgetSettings) -> WorstCase:
    bound = prompt_bound(fields, op, image_tokens=budgets.image_tokens, template_tokens=budgets.template_tokens)
    if isinstance(view, EmbeddingView):
        return WorstCase(bound.tokens, 0)
    limits = [v for v in (view.max_tokens, getattr(view, "max_completion_tokens", None), view.n_predict)
              if v is not None]
    limit = max(limits) if limits else budgets.default_max_tokens
    # Only n_predict, or nothing: an upstream that does not read n_predict still stops here.
    send = limit if view.max_tokens is None and getattr(view, "max_completion_tokens", None) is None else None
    answers = max(view.n or 1, view.best_of or 1) * bound.prompts
    extra = len(fields["prediction"]) if isinstance(view, ChatView) and "prediction" in fields else 0
    if op == "completions" and bytes(fields.get("echo", b"")) == b"true":
        extra += bound.tokens  # the prompt comes back in front of each answer's text
    return WorstCase(bound.tokens, min(CAP, (limit + extra) * answers), answers, send)
