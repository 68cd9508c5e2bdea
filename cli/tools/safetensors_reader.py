"""Read a .safetensors file with numpy alone (no torch, no safetensors package).

The format: 8 bytes little-endian u64 N, N bytes of JSON header mapping each tensor name to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the end of the header;
an optional "__metadata__" entry holds strings), then the raw little-endian tensor bytes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """The file is not a well-formed safetensors file."""


def read_header(path: Path) -> tuple[dict, int]:
    """The parsed JSON header and the file offset where tensor data begins."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise SafetensorsError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        if n > _MAX_HEADER:
            raise SafetensorsError(f"{path}: header length {n} is implausible")
        text = f.read(n)
    if len(text) != n:
        raise SafetensorsError(f"{path}: header is cut short")
    try:
        header = json.loads(text)
    except ValueError as e:
        raise SafetensorsError(f"{path}: header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    return header, 8 + n


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor in the file as a read-only numpy array (memory-mapped, not copied).

    BF16 tensors come back widened to float32, since numpy has no bfloat16.
    """
    path = Path(path)
    header, start = read_header(path)
    size = path.stat().st_size
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=start, shape=(size - start,))
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        out[name] = _tensor(path, name, info, data)
    return out


def _tensor(path: Path, name: str, info: dict, data: np.ndarray) -> np.ndarray:
    try:
        dtype_name, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise SafetensorsError(f"{path}: bad header entry for {name!r}") from None
    if not 0 <= begin <= end <= data.shape[0]:
        raise SafetensorsError(f"{path}: {name!r} lies outside the file")
    count = int(np.prod(shape, dtype=np.int64))
    raw = data[begin:end]
    if dtype_name == "BF16":
        if raw.nbytes != 2 * count:
            raise SafetensorsError(f"{path}: {name!r} has {raw.nbytes} bytes for {shape} BF16")
        bits = raw.view("<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    dtype = _DTYPES.get(dtype_name)
    if dtype is None:
        raise SafetensorsError(f"{path}: {name!r} has unsupported dtype {dtype_name}")
    if raw.nbytes != dtype.itemsize * count:
        raise SafetensorsError(f"{path}: {name!r} has {raw.nbytes} bytes for {shape} {dtype_name}")
    return raw.view(dtype).reshape(shape)
