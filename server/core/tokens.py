"""Local token counts for when an upstream reports no usage (llama.cpp server streams).

Without the upstream's tokenizer the count is an estimate (about four characters per token
for English text, plus OpenAI's per-message overhead); the ledger marks such rows.
"""

from __future__ import annotations

from collections.abc import Callable

from server.core.wire import ChatView, CompletionView, View

Counter = Callable[[str], "int | None"]
MESSAGE_OVERHEAD = 4


def estimate(text: str) -> int:
    return (len(text) + 3) // 4


def prompt_text(view: View) -> list[str]:
    if isinstance(view, ChatView):
        out = []
        for m in view.messages:
            if isinstance(m.content, str):
                out.append(m.content)
            elif m.content:
                out.extend(p["text"] for p in m.content if isinstance(p.get("text"), str))
        return out
    value = view.prompt if isinstance(view, CompletionView) else view.input
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)]


def count(text: str, exact: Counter) -> tuple[int, bool]:
    """(tokens, estimated)"""
    n = exact(text)
    return (estimate(text), True) if n is None else (n, False)


def count_prompt(view: View, exact: Counter) -> tuple[int, bool]:
    texts = prompt_text(view)
    total, estimated = 0, False
    for t in texts:
        n, est = count(t, exact)
        total += n
        estimated = estimated or est
    if isinstance(view, ChatView):
        total += MESSAGE_OVERHEAD * len(view.messages)
        estimated = True  # the chat template's own tokens are not known here
    else:
        total += token_ids(view)
    return total, estimated


def token_ids(view: View) -> int:
    """A prompt given as token ids (or lists of them) is its own count; strings are not ids."""
    value = view.prompt if isinstance(view, CompletionView) else view.input  # type: ignore[union-attr]
    if isinstance(value, str):
        return 0
    return sum(len(v) if isinstance(v, list) else 1 for v in value if not isinstance(v, str))
