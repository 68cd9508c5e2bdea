"""The converter's output, read back with gguf's own reader, and the convert-once cache."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from cli.tools import gguf_convert
from cli.tools.gguf_convert import ConversionError, ensure_embedder, tensor_name
from cli.tools.safetensors_reader import SafetensorsError, read_tensors


def _field(reader: gguf.GGUFReader, key: str):
    f = reader.fields[key]
    if f.types and f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode()
    if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
        raise AssertionError("use _array")
    return f.parts[f.data[0]].tolist()[0]


def _array(reader: gguf.GGUFReader, key: str) -> list:
    f = reader.fields[key]
    if f.types[1] == gguf.GGUFValueType.STRING:
        return [bytes(f.parts[i]).decode() for i in f.data]
    return [f.parts[i].tolist()[0] for i in f.data]


def test_tensor_names_agree_with_llama_cpps_own_mapping(model_dir: Path) -> None:
    theirs = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, 6)
    mapped = 0
    for hf_name in read_tensors(model_dir / "model.safetensors"):
        ours = tensor_name(hf_name)
        if ours is None:
            assert hf_name.startswith(("pooler.", "embeddings.position_ids"))
            continue
        assert ours == theirs.get_name(hf_name, try_suffixes=(".weight", ".bias")), hf_name
        mapped += 1
    assert mapped == 5 + 16 * 6
    with pytest.raises(ConversionError):
        tensor_name("encoder.layer.0.attention.self.rotary.weight")


@pytest.fixture(scope="module")
def f16_reader(f16_gguf: Path) -> gguf.GGUFReader:
    return gguf.GGUFReader(f16_gguf)


def test_metadata_and_vocabulary(f16_reader: gguf.GGUFReader) -> None:
    r = f16_reader
    assert _field(r, "general.architecture") == "bert"
    want = {
        "bert.context_length": 512,
        "bert.embedding_length": 384,
        "bert.feed_forward_length": 1536,
        "bert.block_count": 6,
        "bert.attention.head_count": 12,
        "bert.attention.causal": False,
        "bert.pooling_type": int(gguf.PoolingType.MEAN),
        "tokenizer.ggml.token_type_count": 2,
        "tokenizer.ggml.model": "bert",
        "tokenizer.ggml.pre": "bert-bge",
        "tokenizer.ggml.bos_token_id": 101,
        "tokenizer.ggml.seperator_token_id": 102,
        "tokenizer.ggml.unknown_token_id": 100,
        "tokenizer.ggml.padding_token_id": 0,
        "tokenizer.ggml.mask_token_id": 103,
        "general.file_type": int(gguf.LlamaFileType.MOSTLY_F16),
    }
    assert {k: _field(r, k) for k in want} == want
    assert _field(r, "bert.attention.layer_norm_epsilon") == pytest.approx(1e-12)
    tokens = _array(r, "tokenizer.ggml.tokens")
    types = _array(r, "tokenizer.ggml.token_type")
    assert len(tokens) == len(types) == 30522
    assert tokens[:1] + tokens[100:104] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert {types[i] for i in (0, 100, 101, 102, 103)} == {int(gguf.TokenType.CONTROL)}
    # WordPiece in llama.cpp's form: word starts carry U+2581, "##" continuations lose it.
    assert tokens[1996] == "\u2581the" and tokens[2075] == "ing"
    assert types[1996] == int(gguf.TokenType.NORMAL)


def test_tensor_types_and_shapes(f16_reader: gguf.GGUFReader, model_dir: Path) -> None:
    tensors = {t.name: t for t in f16_reader.tensors}
    assert len(tensors) == 101
    assert list(tensors["token_embd.weight"].shape) == [384, 30522]
    assert list(tensors["blk.5.ffn_up.weight"].shape) == [384, 1536]
    for name, t in tensors.items():
        keep_f32 = len(t.shape) == 1 or name.endswith("norm.weight") or name.startswith(("position_embd", "token_types"))
        want = gguf.GGMLQuantizationType.F32 if keep_f32 else gguf.GGMLQuantizationType.F16
        assert t.tensor_type == want, name
    # The weights arrive in the right places, unchanged but for the f16 rounding.
    src = read_tensors(model_dir / "model.safetensors")
    for ours, theirs in [
        ("blk.3.attn_k.weight", "encoder.layer.3.attention.self.key.weight"),
        ("blk.3.attn_k.bias", "encoder.layer.3.attention.self.key.bias"),
        ("token_embd.weight", "embeddings.word_embeddings.weight"),
        ("position_embd.weight", "embeddings.position_embeddings.weight"),
    ]:
        want = src[theirs] if tensors[ours].tensor_type == gguf.GGMLQuantizationType.F32 else src[theirs].astype(np.float16)
        np.testing.assert_array_equal(tensors[ours].data, want, err_msg=ours)


def test_ensure_embedder_converts_once_and_reuses(tmp_path: Path, model_dir: Path) -> None:
    first = ensure_embedder(tmp_path, "f16", model_dir)
    assert first == tmp_path / "all-minilm-l6-v2-f16.gguf"
    record = json.loads(first.with_suffix(".json").read_text())
    assert record["size"] == first.stat().st_size
    stamp = first.stat().st_mtime_ns, first.stat().st_ino
    assert ensure_embedder(tmp_path, "f16", model_dir) == first
    assert (first.stat().st_mtime_ns, first.stat().st_ino) == stamp  # reused, not rebuilt
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "all-minilm-l6-v2-f16.gguf",
        "all-minilm-l6-v2-f16.json",
    ]


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "no_sidecar", "other_source"])
def test_a_damaged_or_stale_file_is_rebuilt(tmp_path: Path, model_dir: Path, f16_gguf: Path, damage: str) -> None:
    out = tmp_path / f16_gguf.name
    shutil.copy(f16_gguf, out)
    shutil.copy(f16_gguf.with_suffix(".json"), out.with_suffix(".json"))
    good = out.read_bytes()
    if damage == "truncate":
        with open(out, "r+b") as f:
            f.truncate(len(good) // 2)
    elif damage == "flip_byte":
        with open(out, "r+b") as f:
            f.seek(len(good) - 100)
            f.write(bytes([good[-100] ^ 0xFF]))
    elif damage == "no_sidecar":
        out.with_suffix(".json").unlink()
    else:
        record = json.loads(out.with_suffix(".json").read_text())
        record["source"] = "0" * 64
        out.with_suffix(".json").write_text(json.dumps(record))
    assert ensure_embedder(tmp_path, "f16", model_dir) == out
    assert out.read_bytes() == good  # rebuilt, and the conversion is deterministic


def test_an_interrupted_conversion_leaves_nothing_usable(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies_half_way(model_dir: Path, out: Path, dtype: str) -> Path:
        out.write_bytes(b"GGUF" + b"\0" * 1000)
        raise KeyboardInterrupt

    monkeypatch.setattr(gguf_convert, "convert", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        ensure_embedder(tmp_path, "f16", model_dir)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_leftovers_of_a_killed_conversion_are_cleared(tmp_path: Path, model_dir: Path) -> None:
    leftover = tmp_path / ".all-minilm-l6-v2-f16.gguf.4242.tmp"
    leftover.write_bytes(b"GGUF half")
    out = ensure_embedder(tmp_path, "f16", model_dir)
    assert not leftover.exists() and out.is_file()
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_refuses_what_it_cannot_convert(tmp_path: Path, model_dir: Path) -> None:
    for name in ("config.json", "vocab.txt", "modules.json", "tokenizer.json"):
        shutil.copy(model_dir / name, tmp_path / name)
    (tmp_path / "model.safetensors").symlink_to(model_dir / "model.safetensors")
    config = json.loads((model_dir / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    with pytest.raises(ConversionError):
        gguf_convert.convert(tmp_path, tmp_path / "out.gguf")
    (tmp_path / "config.json").write_text(json.dumps(config))
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab[2000], vocab[2001] = vocab[2001], vocab[2000]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    with pytest.raises(ConversionError, match="disagree"):
        gguf_convert.convert(tmp_path, tmp_path / "out.gguf")
    with pytest.raises(ValueError):
        gguf_convert.convert(model_dir, tmp_path / "out.gguf", "q4_0")


def _write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int], bytes]]) -> None:
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_safetensors_reader(tmp_path: Path) -> None:
    a = np.arange(6, dtype="<f4").reshape(2, 3)
    b = np.array([1.5, -2.25], dtype="<f2")
    c = np.array([[7, 8]], dtype="<i8")
    bf16 = (np.array([1.0, -3.5], dtype="<f4").view("<u4") >> 16).astype("<u2")
    path = tmp_path / "t.safetensors"
    _write_safetensors(path, {
        "a": ("F32", [2, 3], a.tobytes()),
        "b": ("F16", [2], b.tobytes()),
        "c": ("I64", [1, 2], c.tobytes()),
        "d": ("BF16", [2], bf16.tobytes()),
    })
    got = read_tensors(path)
    np.testing.assert_array_equal(got["a"], a)
    np.testing.assert_array_equal(got["b"], b)
    np.testing.assert_array_equal(got["c"], c)
    np.testing.assert_array_equal(got["d"], [1.0, -3.5])
    assert "__metadata__" not in got

    _write_safetensors(path, {"a": ("F32", [2, 4], a.tobytes())})  # shape does not fit the bytes
    with pytest.raises(SafetensorsError):
        read_tensors(path)
    path.write_bytes(struct.pack("<Q", 50) + b"{}")
    with pytest.raises(SafetensorsError):
        read_tensors(path)


def test_default_model_dir_is_the_package_folder() -> None:
    path = gguf_convert.default_model_dir()
    assert path.name == "model" and (path / "vocab.txt").is_file()


def test_default_models_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GATE_MODELS_DIR", str(tmp_path / "m"))
    assert gguf_convert.default_models_dir() == tmp_path / "m"
    monkeypatch.delenv("GATE_MODELS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert gguf_convert.default_models_dir() == tmp_path / "gate" / "models"
    assert os.environ.get("GATE_MODELS_DIR") is None
