"""No personal data or secret at rest in the cache: what the detectors find in a question or
an answer is never written to the SQLite file (nor its WAL), with guardrails on or off."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cache import entries as cache_store
from server.store import db as store_db
from tests.integration.test_cache import ask, settle_writes
from tests.integration.test_proxy import ledger_rows
from tests.integration.test_telemetry import wait_trace

GUARDRAILS_OFF = """
[guardrails]
enabled = false
"""

# The three cases and a secret, each with the forms it could be stored in.
SENSITIVE = {
    "email": ("Please write to jane.roe@example.org about my order.", [b"jane.roe@example.org"]),
    "card": ("My card 4111 1111 1111 1111 was charged twice, why?",
             [b"4111 1111 1111 1111", b"4111111111111111"]),
    "iban": ("Refund me to DE89 3704 0044 0532 0130 00 please.",
             [b"DE89 3704 0044 0532 0130 00", b"DE89370400440532013000"]),
    "secret": ("Is this key still valid: sk-proj-Q7b2Xk9LmN4pR8sT1vW3yZ6aC0dE5fGh?",
               [b"sk-proj-Q7b2Xk9LmN4pR8sT1vW3yZ6aC0dE5fGh", b"Q7b2Xk9LmN4pR8sT1vW3yZ6aC0dE5fGh"]),
}
LEAKED = [b"jane.doe@example.com", b"555 0132"]  # what the fake's "leak" answer holds


@pytest.fixture
def config_cache() -> bool:
    return True


@pytest.fixture
def config_extra(request) -> str:
    return '[models.leak]\nroute = ["fake:leak"]\n' + getattr(request, "param", "")


def at_rest(settings) -> bytes:
    """The raw bytes of the SQLite file and its WAL, as a stolen backup would have them."""
    db = Path(settings.database.path)
    wal = db.with_name(db.name + "-wal")
    assert db.exists() and wal.exists() and wal.stat().st_size > 0
    return db.read_bytes() + wal.read_bytes()


def entries(settings) -> list:
    conn = store_db.connect(settings.database.path)
    try:
        return cache_store.inspect(conn, limit=100)
    finally:
        conn.close()


async def kept(client, settings, n: int) -> None:
    """Wait for the cache's thread and the ledger writer."""
    await settle_writes(client)
    await ledger_rows(client, settings, n)


async def control(client, settings, n: int) -> bytes:
    """A clean question and answer are kept, in clear: the scan can see what is written."""
    clean = "Which floor is the cafeteria on, and when does it open?"
    r = await client.post("/v1/chat/completions", json=ask(clean, model="echo"))
    assert r.headers["x-gate-cache"] == "MISS"
    await kept(client, settings, n + 1)
    raw = at_rest(settings)
    assert clean.encode() in raw
    return raw


@pytest.mark.parametrize("kind", list(SENSITIVE))
@pytest.mark.parametrize("config_extra", ["", GUARDRAILS_OFF], ids=["guardrails", "no-guardrails"], indirect=True)
async def test_a_question_with_personal_data_or_a_secret_is_not_kept(client, settings, kind, config_extra):
    question, forms = SENSITIVE[kind]
    # The echo model answers with the request itself: the answer holds the value too.
    replies = [await client.post("/v1/chat/completions", json=ask(question, model="echo", stream=stream))
               for stream in (False, True)]
    raw = await control(client, settings, 2)
    for form in forms:
        assert form not in raw, f"{kind} found at rest: {form!r}"
    assert len(entries(settings)) == 1  # only the control
    assert [(r.status_code, r.headers["x-gate-cache"]) for r in replies] == [(200, "BYPASS")] * 2
    assert forms[0].decode() in replies[0].json()["choices"][0]["message"]["content"]  # still answered
    attrs = (await wait_trace(client, replies[1].headers["x-gate-request-id"]))["spans"][0]["attributes"]
    assert "personal data or secrets" in attrs["gate.cache.note"] and kind in attrs["gate.cache.note"]
    assert forms[0].decode() not in attrs["gate.cache.note"]


@pytest.mark.parametrize("config_extra", ["", GUARDRAILS_OFF], ids=["guardrails", "no-guardrails"], indirect=True)
async def test_an_answer_with_personal_data_is_not_kept(client, settings, config_extra):
    question = "Whom do I contact about parking permits?"
    replies = []
    for stream in (False, True):
        replies.append(await client.post("/v1/chat/completions", json=ask(question, model="leak", stream=stream)))
        await settle_writes(client)
    raw = await control(client, settings, 2)
    for form in LEAKED:
        assert form not in raw, f"found at rest: {form!r}"
    assert len(entries(settings)) == 1  # only the control
    # Never kept, so never a HIT; the trace says why.
    assert [(r.status_code, r.headers["x-gate-cache"]) for r in replies] == [(200, "MISS")] * 2
    for r in replies:
        attrs = (await wait_trace(client, r.headers["x-gate-request-id"]))["spans"][0]["attributes"]
        assert attrs["gate.cache.note"].startswith("answer not kept: it holds personal data or secrets")
        assert "email x1" in attrs["gate.cache.note"]


async def test_exact_only_entries_keep_no_question_text(client, settings):
    """The question is kept only beside its embedding, for the semantic verifier; an exact-only
    entry (a question over semantic_max_tokens) is found by its hash alone."""
    long = "Describe the procedure " + " ".join(f"step{i}" for i in range(80)) + " for the visitor badge."
    short = "Where do I pick up a visitor badge?"
    for q in (long, short):
        await client.post("/v1/chat/completions", json=ask(q))
    await settle_writes(client)
    by_kind = {e.semantic: e for e in entries(settings)}
    assert by_kind[False].query == "" and by_kind[True].query == short
    again = await client.post("/v1/chat/completions", json=ask(long))
    assert again.headers["x-gate-cache"] == "HIT"  # the hash still finds it
    raw = at_rest(settings)
    assert long.encode() not in raw and short.encode() in raw


NARROW = """
[guardrails]
pii = ["email"]
custom = { employee_id = "EMP-[0-9]{6}" }
"""


@pytest.mark.parametrize("config_extra", [NARROW], indirect=True)
async def test_a_policy_checking_fewer_kinds_still_keeps_every_kind_and_its_own_out(client, settings, config_extra):
    card = await client.post("/v1/chat/completions", json=ask(SENSITIVE["card"][0], model="echo"))
    staff = await client.post("/v1/chat/completions", json=ask("Who is EMP-204518 reporting to?", model="echo"))
    assert card.headers["x-gate-cache"] == staff.headers["x-gate-cache"] == "BYPASS"
    note = (await wait_trace(client, card.headers["x-gate-request-id"]))["spans"][0]["attributes"]["gate.cache.note"]
    assert note == "the question holds personal data or secrets (card x1): not cached"
    raw = await control(client, settings, 2)
    assert b"4111 1111 1111 1111" not in raw and b"EMP-204518" not in raw
