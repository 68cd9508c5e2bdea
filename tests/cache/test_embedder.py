"""The converted GGUF, run by llama.cpp, against sentence-transformers' own embeddings.

tests/data/minilm_reference.json was written once by scripts/make-minilm-reference (torch,
sentence-transformers, the same package's weights); nothing here needs torch or a network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli.tools import gguf_convert
from server.cache.embedder import Embedder

# STACK.md: sentence-transformers similarities of "What is the capital of France?" with...
STACK_PAIRS = [
    ("Tell me the capital city of France", 0.9228),
    ("How do I bake sourdough bread?", 0.1332),
    ("The stock market fell sharply today.", 0.1014),
]


def _texts(reference: dict) -> list[str]:
    return [s["text"] for s in reference["sentences"]]


def _vectors(reference: dict) -> np.ndarray:
    v = np.array([s["vector"] for s in reference["sentences"]], dtype=np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _cosines(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return (got.astype(np.float64) * want).sum(axis=1) / np.linalg.norm(got, axis=1)


def test_reference_file_is_what_the_tests_expect(reference: dict) -> None:
    texts = _texts(reference)
    assert reference["dim"] == 384 and reference["max_seq_length"] == 256
    assert len(texts) >= 12
    assert any(len(s["token_ids"]) == 256 for s in reference["sentences"])  # one is cut
    assert any(200 < len(s["token_ids"]) < 256 for s in reference["sentences"])
    assert any(not t.isascii() for t in texts)


def test_tokens_match_the_huggingface_tokenizer(embedder: Embedder, reference: dict) -> None:
    for s in reference["sentences"]:
        assert embedder.tokenize(s["text"]) == s["token_ids"], s["text"][:60]


def test_every_reference_vector_is_matched(embedder: Embedder, reference: dict) -> None:
    got = embedder.embed(_texts(reference))
    cos = _cosines(got, _vectors(reference))
    assert cos.min() >= 0.999, dict(zip(_texts(reference), cos.round(5)))


def test_stack_similarities_are_reproduced(embedder: Embedder) -> None:
    anchor, *others = embedder.embed(["What is the capital of France?"] + [t for t, _ in STACK_PAIRS])
    for (text, want), vec in zip(STACK_PAIRS, others):
        assert float(anchor @ vec) == pytest.approx(want, abs=0.01), text


def test_output_shape_dtype_and_norm(embedder: Embedder) -> None:
    assert embedder.dim == 384
    out = embedder.embed(["one", "two words", ""])
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    raw = embedder.embed(["one"], normalize=False)
    assert abs(float(np.linalg.norm(raw)) - 1.0) > 0.01  # mean pooling alone is not unit length
    assert embedder.embed([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.embed("a bare string")


def test_batching_does_not_change_the_vectors(embedder: Embedder, reference: dict) -> None:
    texts = _texts(reference)  # short ones share a llama.cpp batch, long ones get their own
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-3)


def test_the_default_q8_0_is_close_too(tmp_path: Path, model_dir: Path, reference: dict) -> None:
    # What the gateway runs (gguf_convert.DEFAULT_DTYPE): quantized, still within the bar.
    assert gguf_convert.DEFAULT_DTYPE == "q8_0"
    path = gguf_convert.convert(model_dir, tmp_path / "q8.gguf", "q8_0")
    with Embedder(path) as e:
        cos = _cosines(e.embed(_texts(reference)), _vectors(reference))
    assert cos.min() >= 0.999, cos.round(5)


def test_a_wrong_conversion_fails_the_check(
    tmp_path: Path, model_dir: Path, reference: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Negative control: the same weights pooled from [CLS] instead of the mean must not pass
    # the 0.999 bar, or that bar would prove nothing.
    monkeypatch.setattr(gguf_convert, "pooling_type", lambda _dir: "cls")
    path = gguf_convert.convert(model_dir, tmp_path / "cls.gguf", "f16")
    with Embedder(path) as e:
        cos = _cosines(e.embed(_texts(reference)), _vectors(reference))
    assert cos.min() < 0.99


def test_closed_embedder_refuses_work(f16_gguf: Path) -> None:
    e = Embedder(f16_gguf)
    e.close()
    e.close()
    with pytest.raises(RuntimeError):
        e.embed(["x"])
