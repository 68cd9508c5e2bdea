"""Chat prompt templates for in-process models: messages -> (prompt, stop strings).

Gemma 3 has no system role: as in its official template, system (and developer) text is
put at the start of the first user turn, so it is not dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from server.core.errors import InvalidRequest
from server.core.wire import Message


def text_of(message: Message, index: int) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            parts.append(part["text"])
        else:
            raise InvalidRequest(
                f"content part type '{part.get('type')}' is not supported by this model",
                param=f"messages[{index}].content",
            )
    return "\n".join(parts)


def gemma(messages: list[Message]) -> tuple[str, list[str]]:
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(messages):
        text = text_of(m, i)
        if m.role in ("system", "developer"):
            system.append(text)
        elif m.role in ("user", "tool"):
            turns.append(("user", text))
        elif m.role == "assistant":
            turns.append(("model", text))
        else:
            raise InvalidRequest(f"unknown message role '{m.role}'", param=f"messages[{i}].role")
    if system:
        if turns and turns[0][0] == "user":
            turns[0] = ("user", "\n\n".join(system + [turns[0][1]]))
        else:
            turns.insert(0, ("user", "\n\n".join(system)))
    prompt = "".join(f"<start_of_turn>{role}\n{text}<end_of_turn>\n" for role, text in turns)
    return prompt + "<start_of_turn>model\n", ["<end_of_turn>"]


def chatml(messages: list[Message]) -> tuple[str, list[str]]:
    out = []
    for i, m in enumerate(messages):
        role = "system" if m.role == "developer" else m.role
        if role not in ("system", "user", "assistant", "tool"):
            raise InvalidRequest(f"unknown message role '{m.role}'", param=f"messages[{i}].role")
        out.append(f"<|im_start|>{role}\n{text_of(m, i)}<|im_end|>\n")
    return "".join(out) + "<|im_start|>assistant\n", ["<|im_end|>"]


TEMPLATES: dict[str, Callable[[list[Message]], tuple[str, list[str]]]] = {
    "gemma": gemma,
    "chatml": chatml,
}
