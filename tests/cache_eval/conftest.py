"""One embedder per session (converted into a temporary folder), the labelled pairs and their
cosines, embedded once for every test in this folder."""

from __future__ import annotations

import numpy as np
import pytest

from cli.tools import eval_cache, gguf_convert
from server.cache.embedder import Embedder


@pytest.fixture(scope="session")
def pairs() -> list[eval_cache.Pair]:
    return eval_cache.load_pairs()


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory):
    # Not a skip: the model package is a declared dependency; missing, it must fail.
    path = gguf_convert.ensure_embedder(tmp_path_factory.mktemp("models"), "f16")
    with Embedder(path, n_threads=1) as e:  # one thread: fastest on a busy 2-core machine
        yield e


@pytest.fixture(scope="session")
def cosines(pairs, embedder) -> np.ndarray:
    return eval_cache.cosines(pairs, embedder)


@pytest.fixture(scope="session")
def report(pairs, cosines) -> dict:
    return eval_cache.evaluate(pairs, cosines)
