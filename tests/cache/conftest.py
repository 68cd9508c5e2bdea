"""Fixtures for the embedder tests: the model package's folder, the reference vectors,
one f16 conversion per session, and an Embedder loaded from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.tools import gguf_convert
from server.cache.embedder import Embedder

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "minilm_reference.json"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    # Not a skip: the package is a declared dependency (installed with --no-deps), and a
    # missing one must show up as a failure, not as a quietly green run.
    return gguf_convert.default_model_dir()


@pytest.fixture(scope="session")
def reference() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def f16_gguf(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    return gguf_convert.ensure_embedder(tmp_path_factory.mktemp("models"), "f16", model_dir)


@pytest.fixture(scope="session")
def embedder(f16_gguf: Path):
    with Embedder(f16_gguf) as e:
        yield e
