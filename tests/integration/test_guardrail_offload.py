"""Large inputs are checked in a helper process (tests/live/test_hostile.py shows the event
loop stays free and the deadline holds): the verdict must be the same as inline. The cache's
own screen runs inline, so it does not take texts that long."""

from __future__ import annotations

import pytest

from server.core.settings_guardrails import GuardrailSettings
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


@pytest.fixture
def config_extra(fake) -> str:
    return "[guardrails]\nenabled = false\n"


@pytest.fixture
def config_cache() -> str:
    return "semantic = false"


async def test_the_cache_does_not_screen_a_long_question_on_the_event_loop(client):
    """Guardrails off, cache on: the cache screens what it would keep, inline; a question
    longer than the helper's threshold is not kept instead of stalling the worker."""
    long_question = {"model": "ok", "messages": [{"role": "user", "content": "tell me more " * 2000}]}
    r = await client.post("/v1/chat/completions", json=long_question)
    assert r.status_code == 200, r.text
    assert r.headers["x-gate-cache"] == "BYPASS"
    short = {"model": "ok", "messages": [{"role": "user", "content": "tell me more"}]}
    assert (await client.post("/v1/chat/completions", json=short)).headers["x-gate-cache"] == "MISS"
