"""An upstream whose error text quotes the request back keeps no personal data at rest.

Many OpenAI-compatible servers quote the request in a 400 (vLLM's validation errors carry
the offending `input`), a proxy's 500 page may echo the body, and a stream may end in an
error event that does. Found by the red team: with guardrails on (`local`, `flag`) or off,
the e-mail, card, IBAN and phone number of a prompt came back in that text and were stored
in clear in `ledger.error` and `provider_health.last_error` (and served by /admin/requests
and /admin/providers). Upstream error text is now cleaned of what the built-in detectors
find, as it is of credentials, before anything keeps or shows it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from server.store import db as store_db
from tests.fake_upstream import FakeUpstream
from tests.integration.test_proxy import ledger_rows

EMAIL, CARD, IBAN, PHONE = "jane.doe@example.com", "4111 1111 1111 1111", "DE89370400440532013000", "+1 415 555 0132"
PROMPT = f"My mail is {EMAIL}, card {CARD}, IBAN {IBAN}, phone {PHONE}. Help."
NEEDLES = [EMAIL, "jane.doe", CARD, CARD.replace(" ", ""), IBAN, PHONE]
ADMIN = {"Authorization": "Bearer test-admin-token"}


class Quoting(FakeUpstream):
    """`quote400`: a 400 quoting the body; `quote500`: a plain-text 500 quoting it;
    `quoteevent`: a 200 stream whose only event is an error quoting it."""

    async def _failure(self, request: web.Request, model: str | None):
        if model in ("quote400", "quote500", "quoteevent"):
            body = (await request.text())[:1500]
            if model == "quote400":
                return web.json_response({"error": {"message": "Invalid request: " + body,
                                                    "type": "invalid_request_error"}}, status=400)
            if model == "quote500":
                return web.Response(status=500, text="Internal error processing " + body)
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            event = {"error": {"message": "cannot process " + body, "type": "server_error"}}
            await resp.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            return resp
        return await super()._failure(request, model)


@pytest.fixture
def fake():
    upstream = Quoting().start_in_thread()
    yield upstream
    upstream.stop_thread()


@pytest.fixture(params=["off", "local", "flag"])
def config_extra(request) -> str:
    guard = "enabled = false" if request.param == "off" else f'pii_action = "{request.param}"'
    return f"""
[guardrails]
{guard}

[models.quote400]
route = ["fake:quote400"]
[models.quote500]
route = ["fake:quote500"]
[models.quoteevent]
route = ["fake:quoteevent"]
"""


def assert_clean(text: str, where: str) -> None:
    leaked = [n for n in NEEDLES if n in text]
    assert not leaked, f"personal data {leaked} in {where}: {text[:600]}"


async def test_personal_data_quoted_by_an_upstream_error_is_kept_nowhere(client, settings, fake):
    sent = 0
    for model, stream in (("quote400", False), ("quote400", True), ("quote500", False), ("quoteevent", True)):
        r = await client.post("/v1/chat/completions", json={
            "model": model, "stream": stream, "messages": [{"role": "user", "content": PROMPT}]})
        sent += 1
        assert r.status_code in (200, 400, 500, 502), r.text
        assert "error" in r.text
        assert_clean(r.text, f"the answer to {model} (stream={stream})")
    assert len(fake.requests) >= sent  # each one reached the upstream (a 500 is retried), personal data included

    rows = await ledger_rows(client, settings, sent)
    assert len(rows) == sent and all(row.error for row in rows), rows
    for row in rows:
        assert_clean(row.error, "ledger.error")
    assert any("Invalid request" in row.error for row in rows)  # the rest of the text is kept
    for path in ("/admin/requests", "/admin/providers"):
        assert_clean((await client.get(path, headers=ADMIN)).text, path)

    conn = store_db.connect(settings.database.path)
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while True:  # provider_health is written in the background
            health = [r[0] or "" for r in conn.execute("SELECT last_error FROM provider_health")]
            if any(health) or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        conn.close()
    assert any(health)
    assert_clean(" ".join(health), "provider_health.last_error")
    db = Path(settings.database.path)
    for f in (db, db.with_name(db.name + "-wal")):
        if f.exists():
            assert_clean(f.read_bytes().decode("latin-1"), f.name)
