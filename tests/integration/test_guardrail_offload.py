"""Large inputs are checked in a helper process (tests/live/test_hostile.py shows the event
loop stays free and the deadline holds): the verdict must be the same as inline."""

from __future__ import annotations

from server.guardrails.config import GuardrailSettings
from server.guardrails.offload import INLINE_CHARS, Offload
from server.guardrails.runtime import Guard, inspect_input


async def test_the_helper_process_gives_the_same_verdict_as_inline():
    guard = Guard(GuardrailSettings(pii_action="redact"))  # [guardrails]: the default policy
    text = "call +1 415 555 0132 or write to jane.doe@example.com; card 4111 1111 1111 1111. " * 400
    texts, user = [text, "from 10.1.2.3"], [True, False]
    offloaded = await Offload().inspect(guard, texts, user)
    inline = inspect_input(guard, texts, user)
    assert len(text) > INLINE_CHARS
    assert offloaded.texts == inline.texts and offloaded.texts[0] != text
    assert offloaded.redactor.mapping == inline.redactor.mapping
    assert offloaded.seen == inline.seen and offloaded.notes == inline.notes
