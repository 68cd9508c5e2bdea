"""The official Node `openai` SDK against `gate serve`: its embeddings ask for base64 by
default and decode whatever string comes back, so floats sent as JSON decode to garbage
without any error. The SDK is installed with npm into a cache outside the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cli.tools.gguf_convert import ensure_embedder
from tests.live.conftest import Gate, live_config

NODE_SDK = "openai@6"  # Node 20 runs it; 7.x needs Node 22
TEXT = "What is the capital of France?"

SCRIPT = """
const OpenAI = require("openai");
const client = new OpenAI({ baseURL: process.env.GATE_BASE_URL, apiKey: process.env.GATE_KEY, maxRetries: 0 });
client.embeddings.create({ model: process.env.GATE_MODEL, input: process.env.GATE_TEXT })
  .then((reply) => console.log(JSON.stringify(reply.data.map((d) => Array.from(d.embedding)))))
  .catch((err) => { console.error(String(err)); process.exit(1); });
"""


def _cache() -> Path:
    root = os.environ.get("GATE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gate"
    return Path(root) / "npm" / NODE_SDK.replace("@", "-")


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    """A folder whose node_modules holds the SDK (installed once; skipped only if npm cannot)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are not on PATH: the Node SDK test needs them")
    folder = _cache()
    if not (folder / "node_modules" / "openai" / "package.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund",
                                   "--no-save", NODE_SDK], capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.skip(f"npm could not install {NODE_SDK} within 300 s")
        if done.returncode != 0:
            pytest.skip(f"npm could not install {NODE_SDK}: {done.stderr.strip()[-300:]}")
    (folder / "embed.js").write_text(SCRIPT)
    return folder


@pytest.fixture(scope="module")
def vectors_gate(tmp_path_factory, fake_upstream):
    """A gateway whose alias `vectors` is the in-process embedder (all-MiniLM-L6-v2)."""
    extra = f"""
[providers.minilm]
kind = "llamacpp"
model = "{ensure_embedder()}"
embedding = true
n_ctx = 512

[models.vectors]
route = ["minilm:all-minilm-l6-v2"]
"""
    server = Gate(tmp_path_factory.mktemp("gate-vectors"), live_config(fake_upstream.url, extra))
    server.key = server.create_key("node")
    server.start()
    yield server
    server.stop()


def node_embed(folder: Path, gate: Gate, model: str) -> list[list[float]]:
    env = {**os.environ, "GATE_BASE_URL": gate.base_url + "/v1", "GATE_KEY": gate.key or "",
           "GATE_MODEL": model, "GATE_TEXT": TEXT, "NO_PROXY": "127.0.0.1"}
    done = subprocess.run(["node", str(folder / "embed.js")], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_node_sdk_gets_the_python_sdks_vectors_from_the_in_process_embedder(node_sdk, vectors_gate):
    with vectors_gate.client(vectors_gate.key) as client:
        floats = client.embeddings.create(model="vectors", input=TEXT, encoding_format="float").data[0].embedding
        default = client.embeddings.create(model="vectors", input=TEXT).data[0].embedding  # base64 in Python too
    [from_node] = node_embed(node_sdk, vectors_gate, "vectors")
    assert len(floats) == 384 and len(from_node) == 384
    assert from_node == floats == default
    assert sum(v * v for v in from_node) == pytest.approx(1.0, abs=1e-4)  # normalized, not zeros


def test_node_sdk_gets_floats_from_an_upstream_that_ignores_base64(node_sdk, vectors_gate):
    """The fake upstream answers floats whatever encoding_format says; the gateway encodes."""
    [from_node] = node_embed(node_sdk, vectors_gate, "ok")
    assert from_node == pytest.approx([0.1, 0.2, 0.3], abs=1e-7)
