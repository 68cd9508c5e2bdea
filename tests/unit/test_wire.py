"""SSE decoding, chat templates, local token counts, the import roots."""

from __future__ import annotations

from pathlib import Path

import pytest

import cli
import server
from server.core.errors import InvalidRequest
from server.providers.chat_templates import chatml, gemma
from server.core.sse import SSEDecoder
from server.core.tokens import count_prompt, estimate
from server.core.wire import ChatView, CompletionView, Message, chunk_text, decode_chunk

ROOT = Path(__file__).resolve().parents[2]


def test_cli_and_server_import_from_this_repository():
    assert Path(server.__file__).resolve().parent == ROOT / "server"
    assert Path(cli.__file__).resolve().parent == ROOT / "cli"


def test_sse_decoder_handles_splits_crlf_comments_and_multiline():
    d = SSEDecoder()
    assert d.feed(b'data: {"a"') == []
    assert d.feed(b':1}\r\n\r\n: a comment\n\ndata: x\ndata: y\n\nevent: e\ndata: [DONE]\n') == [b'{"a":1}', b"x\ny"]
    assert d.feed(b"\n") == [b"[DONE]"]
    d2 = SSEDecoder()
    d2.feed(b"data: tail-without-blank-line")
    assert d2.finish() == [b"tail-without-blank-line"]


@pytest.mark.parametrize("cut", range(1, 30))
def test_sse_decoder_any_split_point(cut):
    stream = b'data: {"x":1}\n\ndata: {"y":2}\n\n'
    d = SSEDecoder()
    assert d.feed(stream[:cut]) + d.feed(stream[cut:]) == [b'{"x":1}', b'{"y":2}']


def test_chunk_text_reads_chat_and_completion_chunks():
    assert chunk_text(decode_chunk(b'{"choices":[{"delta":{"content":"hi"}}]}')) == "hi"
    assert chunk_text(decode_chunk(b'{"choices":[{"text":"yo","finish_reason":null}]}')) == "yo"
    assert decode_chunk(b'{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,'
                        b'"total_tokens":7}}').usage.completion_tokens == 4


def m(role: str, content) -> Message:
    return Message(role=role, content=content)


def test_gemma_template_keeps_the_system_prompt():
    prompt, stop = gemma([m("system", "Be brief."), m("user", "Hi"), m("assistant", "Hello"), m("user", "Bye")])
    assert prompt == ("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                      "<start_of_turn>model\nHello<end_of_turn>\n"
                      "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n")
    assert stop == ["<end_of_turn>"]


def test_templates_accept_text_parts_and_refuse_others():
    prompt, _ = chatml([m("user", [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])])
    assert prompt == "<|im_start|>user\na\nb<|im_end|>\n<|im_start|>assistant\n"
    with pytest.raises(InvalidRequest) as exc:
        gemma([m("user", [{"type": "image_url", "image_url": {"url": "x"}}])])
    assert exc.value.param == "messages[0].content"
    with pytest.raises(InvalidRequest, match="unknown message role"):
        gemma([m("wizard", "x")])


def test_local_token_counts():
    assert estimate("") == 0 and estimate("abcd") == 1 and estimate("abcde") == 2
    view = ChatView(model="m", messages=[m("user", "abcdefgh")])
    assert count_prompt(view, lambda t: None) == (2 + 4, True)
    exact = CompletionView(model="m", prompt="one two")
    assert count_prompt(exact, lambda t: len(t.split())) == (2, False)
    ids = CompletionView(model="m", prompt=[[1, 2, 3], [4]])
    assert count_prompt(ids, lambda t: None)[0] == 4
