"""Names the gateway echoes in response headers (the upstream model, from gateway.toml) may be
in any script: the answer still goes out, the value percent-encoded where it is not
printable ASCII (latin-1 encoding once raised after the upstream had answered)."""

from __future__ import annotations

import urllib.parse

import pytest

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
# (gateway.toml refuses control characters in a target; the header guards them all the same)
NAMES = {"cjk": "模型-ok", "latin1": "modèle", "spaces": "my model (v2)"}


@pytest.fixture
def config_extra(fake) -> str:
    return "".join(f'[models.{alias}]\nroute = ["fake:{name}"]\n' for alias, name in NAMES.items())


@pytest.mark.parametrize("alias", list(NAMES))
@pytest.mark.parametrize("stream", [False, True])
async def test_any_upstream_model_name_leaves_the_answer_intact(client, alias, stream):
    r = await client.post("/v1/chat/completions", json={"model": alias, "stream": stream, **CHAT})
    assert r.status_code == 200, r.text
    assert urllib.parse.unquote(r.headers["x-gate-upstream-model"]) == NAMES[alias]
