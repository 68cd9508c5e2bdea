"""Property-based: whatever the request's shape, spend never passes the budget.

Hypothesis draws request shapes (chat with tools, tool calls and results, tool_choice,
response_format, content parts with images and audio; completions with strings, token ids
and batches; n, best_of, max_tokens and max_completion_tokens, some of them invalid;
streamed or not) and a budget, and sends a few of them at once to the gateway in process,
against the fake upstream as a real HTTP server playing either an upstream that bills the
most it may (`maxbill`) or one that ignores max_tokens and never stops (`endless`).

After each example, on the real SQLite file: nothing is held any more; the budget's spend and
the ledger's cost (a cut answer's: its bounds) are within the limit; and against `maxbill`
(never cut, since it keeps to its limits) the spend is what the upstream billed, to the
cent: the worst case covered its bill without the settlement's cap.
"""

from __future__ import annotations

import asyncio
import itertools
import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from server.store import budgets as budget_store
from server.store import db as store_db
from server.store import ledger as ledger_store
from tests.conftest import make_key
from tests.integration.test_budget_shapes import PRICE, config_extra  # noqa: F401  (the fixture)

NAMES = itertools.count()
words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
small = st.integers(min_value=1, max_value=48)
bad_limit = st.sampled_from([-1, 0, -(2**31), 2**31, 2**40])


def tool(name: str, description: str) -> dict:
    return {"type": "function", "function": {"name": name or "f", "description": description, "parameters": {
        "type": "object", "properties": {"q": {"type": "string", "description": description}}}}}


image = st.builds(lambda s: {"type": "image_url", "image_url": {"url": "data:image/png;base64," + s * 10}},
                  st.text(alphabet="ABCDEFGHIJ", min_size=1, max_size=8))
audio = st.builds(lambda s: {"type": "input_audio", "input_audio": {"data": s * 20, "format": "wav"}},
                  st.text(alphabet="UklGRabc", min_size=1, max_size=8))
text_part = st.builds(lambda t: {"type": "text", "text": t}, words)
content = st.one_of(words, st.lists(st.one_of(text_part, text_part, image, audio), min_size=1, max_size=3))
user = st.builds(lambda c: {"role": "user", "content": c}, content)
tool_turn = st.builds(lambda args, out: [
    {"role": "assistant", "content": None,
     "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": args}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": out}], words, words)


@st.composite
def chat_body(draw) -> dict:
    messages = [draw(user)]
    if draw(st.booleans()):
        messages += draw(tool_turn) + [draw(user)]
    body: dict = {"messages": messages}
    tools = draw(st.lists(st.builds(tool, words, words), max_size=4))
    if tools:
        body["tools"] = tools
        body["tool_choice"] = draw(st.sampled_from(["auto", "required", {"type": "function",
                                                                          "function": {"name": "f"}}]))
    if draw(st.booleans()):
        body["response_format"] = draw(st.sampled_from([{"type": "json_object"}, {
            "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "properties": {
                "answer": {"type": "string"}}}}}]))
    for field in ("max_tokens", "max_completion_tokens"):
        if draw(st.booleans()):
            body[field] = draw(small)
    if draw(st.booleans()):
        body["stop"] = draw(st.lists(words, min_size=1, max_size=4))
    return body


@st.composite
def completion_body(draw) -> dict:
    ids = st.lists(st.integers(min_value=0, max_value=50_000), min_size=1, max_size=300)
    prompt = draw(st.one_of(words, st.lists(words, min_size=1, max_size=4), ids,
                            st.lists(ids, min_size=1, max_size=3), st.lists(st.one_of(words, ids), min_size=1,
                                                                            max_size=3)))
    body: dict = {"prompt": prompt}
    if draw(st.booleans()):
        body["max_tokens"] = draw(small)
    if draw(st.booleans()):
        body["best_of"] = draw(st.integers(min_value=1, max_value=4))
    return body


@st.composite
def request(draw) -> tuple[str, dict, bool]:
    """(path, body, valid)"""
    chat = draw(st.booleans())
    body = draw(chat_body() if chat else completion_body())
    body["model"] = draw(st.sampled_from(["maxbill", "maxbill", "endless"]))
    body["n"] = draw(st.integers(min_value=1, max_value=3))
    body["stream"] = draw(st.booleans())
    if body["stream"] and draw(st.booleans()):
        body["stream_options"] = {"include_usage": True}
    valid = True
    if draw(st.integers(min_value=0, max_value=19)) == 0:  # now and then, a limit to refuse
        body["max_tokens"], valid = draw(bad_limit), False
    return ("/v1/chat/completions" if chat else "/v1/completions"), body, valid


budget = st.one_of(st.builds(lambda usd: {"budget_usd": usd}, st.floats(min_value=0.03, max_value=0.5)),
                   st.builds(lambda t: {"budget_tokens": t}, st.integers(min_value=300, max_value=5_000)))


def key_rows(settings, key_id: str) -> list:
    conn = store_db.connect(settings.database.path)
    try:
        return [r for r in ledger_store.fetch_rows(conn, limit=100_000) if r.key_id == key_id]
    finally:
        conn.close()


async def rows_for(settings, key_id: str, n: int) -> list:
    for _ in range(250):  # the ledger is written in batches, every 20 ms here
        rows = key_rows(settings, key_id)
        if len(rows) >= n:
            return rows
        await asyncio.sleep(0.02)
    return key_rows(settings, key_id)


@settings(max_examples=int(os.environ.get("GATE_PROPERTY_EXAMPLES", 60)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(requests=st.lists(request(), min_size=1, max_size=6), limit=budget)
async def test_spend_never_passes_the_budget(client, settings, fake, requests, limit):
    name = f"prop-{next(NAMES)}"
    key = make_key(settings.database.path, name, period="daily", **limit)
    conn = store_db.connect(settings.database.path)
    (key_id,) = conn.execute("SELECT id FROM keys WHERE name = ?", (name,)).fetchone()
    conn.close()
    fake.billed.clear()
    headers = {"Authorization": f"Bearer {key}"}
    replies = await asyncio.gather(*(client.post(path, json=body, headers=headers) for path, body, _ in requests))

    for (_, body, valid), r in zip(requests, replies, strict=True):
        assert r.status_code in (200, 400, 429, 502), (r.status_code, r.text[:300])
        event(f"{body['model']} {r.status_code}" + (f" {r.json()['error']['code']}" if r.status_code != 200 else ""))
        if not valid:
            assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens"
        elif r.status_code == 400:  # what cannot be bounded, or can never fit the budget
            assert r.json()["error"]["code"] in ("unbounded_content", "request_exceeds_budget"), r.text
        elif r.status_code == 502:  # an upstream that ignored its limit, or an answer off its schema
            code = r.json()["error"]["code"]
            assert (body["model"], code) == ("endless", "upstream_bad_response") or (
                code == "response_schema_mismatch" and "response_format" in body), r.text

    rows = await rows_for(settings, key_id, len(requests))
    assert len(rows) == len(requests)
    conn = store_db.connect(settings.database.path)
    try:
        (status,) = [s for s in budget_store.status(conn) if s.owner == name]
    finally:
        conn.close()
    assert status.reserved_usd == 0 and status.reserved_tokens == 0
    ledger_usd = sum(r.cost for r in rows)
    ledger_tokens = sum(r.input_tokens + r.output_tokens for r in rows)
    if "budget_usd" in limit:
        assert status.spent_usd <= limit["budget_usd"] + 1e-9
        assert ledger_usd <= limit["budget_usd"] + 1e-9
    else:
        assert status.spent_tokens <= limit["budget_tokens"]
        assert ledger_tokens <= limit["budget_tokens"]
    # An answer a guardrail refused mid-stream was cut by the gateway while the fake (which
    # generates at once) had billed all of it: only whole answers can balance to the cent.
    if all(body["model"] == "maxbill" for _, body, _ in requests) and all(r.status != 502 for r in rows):
        # (an endless stream of an earlier example may still be billing as it notices its cut)
        billed = sum(u["total_tokens"] for u in fake.billed if u["model"] == "maxbill")
        assert status.spent_tokens == billed == ledger_tokens
        assert status.spent_usd == pytest.approx(billed * PRICE, abs=1e-9)
