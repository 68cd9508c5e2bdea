"""An upstream that answers HTTP 200 with something that is not an answer.

Found by the red team: an upstream answering 200 with an OpenAI error object (some proxies
and servers do, e.g. for a refused key) had it relayed to the client as a 200, unscrubbed,
the gateway's own upstream credential included; a 200 `{}` was relayed as a successful chat
completion with no choices. A JSON answer must be an answer: an error object in it is an
upstream error (scrubbed, 502, the next target tried), no `choices` (`data` for embeddings)
is a malformed answer.
"""

from __future__ import annotations

import secrets

import pytest
from aiohttp import web

from tests.fake_upstream import FakeUpstream
from tests.integration.test_proxy import ledger_rows

KEY = "Zq7" + secrets.token_hex(16)  # no known credential format: only the configuration knows it


class Hollow(FakeUpstream):
    """`error200`: a 200 whose body is an error object echoing the Authorization header;
    `empty200`: a 200 `{}`."""

    async def _failure(self, request: web.Request, model: str | None):
        if model == "error200":
            auth = request.headers.get("Authorization", "")
            return web.json_response({"error": {"message": f"Incorrect API key provided: {auth}",
                                                "type": "invalid_request_error"}})
        if model == "empty200":
            return web.json_response({})
        return await super()._failure(request, model)


@pytest.fixture
def fake():
    upstream = Hollow().start_in_thread()
    yield upstream
    upstream.stop_thread()


@pytest.fixture
def config_extra(fake, monkeypatch) -> str:
    monkeypatch.setenv("HOLLOW_KEY", KEY)
    return f"""
[providers.keyed]
kind = "openai"
url = "{fake.url}"
api_key = "env:HOLLOW_KEY"

[models.error200]
route = ["keyed:error200"]
[models.empty200]
route = ["keyed:empty200"]
[models.error200then]
route = ["keyed:error200", "fake:ok"]
"""


BODIES = {
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
    "/v1/completions": {"prompt": "hi"},
    "/v1/embeddings": {"input": "hi"},
}


@pytest.mark.parametrize("path", sorted(BODIES))
@pytest.mark.parametrize("model", ["error200", "empty200"])
async def test_a_200_that_is_not_an_answer_is_an_upstream_error(client, settings, path, model):
    r = await client.post(path, json={"model": model, **BODIES[path]})
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert KEY not in r.text and KEY[:12] not in r.text
    (row,) = await ledger_rows(client, settings, 1)
    assert row.status == 502 and KEY not in (row.error or "")


async def test_the_next_target_serves_after_a_200_error(client):
    r = await client.post("/v1/chat/completions", json={"model": "error200then", **BODIES["/v1/chat/completions"]})
    assert r.status_code == 200, r.text
    assert r.headers["x-gate-provider"] == "fake" and r.json()["choices"][0]["message"]["content"]
