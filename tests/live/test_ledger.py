"""The ledger of the live server, as `gate spend` reports it."""

from __future__ import annotations

import time

import openai
import pytest

from tests.live.conftest import CHAT

DEADLINE_S = 15.0


def _spend_by_model(gate) -> dict[str, dict]:
    lines = gate.cli_json("spend", "--by", "model")
    assert isinstance(lines, list)
    return {line["group"]: line for line in lines}


def test_spend_by_model_reports_the_models_used(gate, client):
    # "nousage" and "bad400" are used by this test only, so their counts are exact.
    ids = []
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(model="nousage", messages=CHAT)
        ids.append(raw.headers["x-gate-request-id"])
    raw = client.chat.completions.with_raw_response.create(model="nousage", messages=CHAT, stream=True)
    ids.append(raw.headers["x-gate-request-id"])
    assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    for _ in range(2):
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="bad400", messages=CHAT)
        ids.append(info.value.response.headers["x-gate-request-id"])
    client.chat.completions.create(model="ok", messages=CHAT)

    rows = gate.wait_for_rows(ids, DEADLINE_S)
    assert len(rows) == 5

    deadline = time.monotonic() + DEADLINE_S
    while True:
        spend = _spend_by_model(gate)
        if spend.get("nousage", {}).get("requests") == 3 and spend.get("bad400", {}).get("requests") == 2:
            break
        assert time.monotonic() < deadline, f"spend never showed the requests: {spend}"
        time.sleep(0.05)

    nousage = spend["nousage"]
    assert nousage["errors"] == 0
    # The upstream reported no usage: the tokens were counted locally, and marked so.
    assert nousage["estimated"] == 3
    assert nousage["input_tokens"] > 0 and nousage["output_tokens"] > 0
    assert nousage["cost"] > 0  # the fake provider has prices
    bad = spend["bad400"]
    assert bad["errors"] == 2
    assert (bad["input_tokens"], bad["output_tokens"], bad["cost"]) == (0, 0, 0)
    assert spend["ok"]["requests"] >= 1 and spend["ok"]["input_tokens"] >= 7


def test_ledger_rows_match_the_answers(gate, client):
    raw = client.chat.completions.with_raw_response.create(model="ok", messages=CHAT)
    reply = raw.parse()
    rid = raw.headers["x-gate-request-id"]
    (row,) = gate.wait_for_rows([rid], DEADLINE_S)
    assert row["endpoint"] == "chat" and row["alias"] == "ok" and row["upstream_model"] == "ok"
    assert (row["input_tokens"], row["output_tokens"]) == (reply.usage.prompt_tokens, reply.usage.completion_tokens)
    assert row["usage_estimated"] == 0
    assert row["cost"] == pytest.approx((7 * 1.0 + 6 * 2.0) / 1_000_000)
    assert row["attempts"] == "fake:ok=ok"
    assert row["latency_ms"] > 0
