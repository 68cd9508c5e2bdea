"""Prove one of llama.cpp's CPU libraries on this host, in a process of its own.

`python -m server.core.llama_probe LIB` (or the frozen binary's `--llama-cpu-probe LIB`) loads
ggml, then the one `libggml-cpu-<level>.so` named, and prints one JSON line:
`{"variant", "score", "ok", "why"}`; `--scores LIB_DIR` prints ggml's score of each library. A library that the CPU cannot run kills this process
(SIGILL), which is the point: the gateway (server/core/llama_runtime.py) runs the probe in a
child and never loads a library that has not come back ok.

What "proven" means: ggml's own score says the CPU has the library's instruction sets, and a
matrix product of every weight type the shipped models use (f16, q4_0, q8_0, q4_K, q6_K),
batch sizes 3 and 64, on two threads, in each buffer type the library offers (the plain one
and its extras: AMX tiles, repacked AVX layouts), agrees with numpy's float product within
the type's quantization error. Those are the code paths a model's weights take. The first
host that exposed AMX died here on `tilezero` in an OpenMP thread (ggml's AMX kernel), which
is what this catches; a wrong result from any kernel is caught the same way.
"""

from __future__ import annotations

import ctypes
import json
import sys
from pathlib import Path

import numpy as np

# ggml_type values (ggml.h) and the relative error each may show against float maths.
TYPES = {"f16": (1, 0.02), "q4_0": (2, 0.25), "q8_0": (8, 0.05), "q4_K": (12, 0.25), "q6_K": (14, 0.1)}
K, N = 256, 64  # in and out features: K a multiple of the K-quants' 256, N of AMX's 32
BATCHES = (3, 64)
THREADS = 2
# struct ggml_tensor starts { enum ggml_type type; struct ggml_backend_buffer * buffer; ... }
_BUFFER_OFFSET = ctypes.sizeof(ctypes.c_void_p)


class _InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


def _bind(lib_dir: Path) -> ctypes.CDLL:
    base = ctypes.CDLL(str(lib_dir / "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    ggml = ctypes.CDLL(str(lib_dir / "libggml.so"), mode=ctypes.RTLD_GLOBAL)
    P, I64, SZ = ctypes.c_void_p, ctypes.c_int64, ctypes.c_size_t
    sigs = {
        (ggml, "ggml_backend_load"): (P, [ctypes.c_char_p]),
        (base, "ggml_backend_reg_dev_get"): (P, [P, SZ]),
        (base, "ggml_backend_reg_get_proc_address"): (P, [P, ctypes.c_char_p]),
        (base, "ggml_backend_dev_init"): (P, [P, ctypes.c_char_p]),
        (base, "ggml_backend_dev_buffer_type"): (P, [P]),
        (base, "ggml_backend_buft_name"): (ctypes.c_char_p, [P]),
        (base, "ggml_backend_graph_compute"): (ctypes.c_int, [P, P]),
        (base, "ggml_backend_tensor_set"): (None, [P, P, SZ, SZ]),
        (base, "ggml_backend_tensor_get"): (None, [P, P, SZ, SZ]),
        (base, "ggml_backend_alloc_ctx_tensors_from_buft"): (P, [P, P]),
        (base, "ggml_backend_buffer_free"): (None, [P]),
        (base, "ggml_backend_buft_alloc_buffer"): (P, [P, SZ]),
        (base, "ggml_backend_dev_supports_op"): (ctypes.c_bool, [P, P]),
        (base, "ggml_backend_free"): (None, [P]),
        (base, "ggml_init"): (P, [_InitParams]),
        (base, "ggml_free"): (None, [P]),
        (base, "ggml_new_tensor_2d"): (P, [P, ctypes.c_int, I64, I64]),
        (base, "ggml_mul_mat"): (P, [P, P, P]),
        (base, "ggml_new_graph"): (P, [P]),
        (base, "ggml_build_forward_expand"): (None, [P, P]),
        (base, "ggml_tensor_overhead"): (SZ, []),
        (base, "ggml_graph_overhead"): (SZ, []),
        (base, "ggml_quantize_chunk"): (SZ, [ctypes.c_int, P, P, I64, I64, I64, P]),
        (base, "ggml_row_size"): (SZ, [ctypes.c_int, I64]),
    }
    for (lib, name), sig in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = sig
        setattr(ggml, name, fn)
    return ggml


def _context(g: ctypes.CDLL, tensors: int) -> int:
    size = g.ggml_tensor_overhead() * tensors + g.ggml_graph_overhead()
    return g.ggml_init(_InitParams(size, None, True))


def _weights(g: ctypes.CDLL, type_id: int, w: np.ndarray) -> bytes:
    if type_id == 1:
        return w.astype(np.float16).tobytes()
    out = ctypes.create_string_buffer(g.ggml_row_size(type_id, K) * N)
    src = np.ascontiguousarray(w, dtype=np.float32)
    g.ggml_quantize_chunk(type_id, src.ctypes.data, out, 0, N, K, None)
    return out.raw


def _takes(g: ctypes.CDLL, dev: int, buft: int, product: int, weights: int) -> bool:
    """Would llama.cpp put these weights in `buft` for this product? (its weight_buft_supported)."""
    dummy = g.ggml_backend_buft_alloc_buffer(buft, 0)
    slot = ctypes.c_void_p.from_address(weights + _BUFFER_OFFSET)  # ggml_tensor.buffer
    slot.value = dummy
    try:
        return bool(g.ggml_backend_dev_supports_op(dev, product))
    finally:
        slot.value = None
        g.ggml_backend_buffer_free(dummy)


def _product(g: ctypes.CDLL, dev: int, backend: int, wbuft: int, abuft: int, type_id: int,
             qw: bytes, x: np.ndarray) -> np.ndarray | None:
    """x @ w.T computed by ggml with the weights in `wbuft`; None where that buffer would not hold them."""
    ctx_w, ctx_a = _context(g, 2), _context(g, 8)
    buffers = []
    try:
        wt = g.ggml_new_tensor_2d(ctx_w, type_id, K, N)
        xt = g.ggml_new_tensor_2d(ctx_a, 0, K, x.shape[0])
        yt = g.ggml_mul_mat(ctx_a, wt, xt)
        if wbuft != abuft and not _takes(g, dev, wbuft, yt, wt):
            return None
        buf = g.ggml_backend_alloc_ctx_tensors_from_buft(ctx_w, wbuft)
        if not buf:
            return None
        buffers.append(buf)
        g.ggml_backend_tensor_set(wt, qw, 0, len(qw))
        graph = g.ggml_new_graph(ctx_a)
        g.ggml_build_forward_expand(graph, yt)
        buf = g.ggml_backend_alloc_ctx_tensors_from_buft(ctx_a, abuft)
        if not buf:
            raise RuntimeError("cannot allocate the activations")
        buffers.append(buf)
        g.ggml_backend_tensor_set(xt, x.ctypes.data, 0, x.nbytes)
        if g.ggml_backend_graph_compute(backend, graph) != 0:
            raise RuntimeError("graph compute failed")
        y = np.empty((x.shape[0], N), dtype=np.float32)
        g.ggml_backend_tensor_get(yt, y.ctypes.data, 0, y.nbytes)
        return y
    finally:
        for buf in buffers:
            g.ggml_backend_buffer_free(buf)
        g.ggml_free(ctx_a)
        g.ggml_free(ctx_w)


def variant_name(path: Path) -> str:
    return path.name.removeprefix("libggml-cpu-").removesuffix(".so")


def score(path: Path) -> int:
    """ggml's own score of a CPU library on this CPU: 0 where it lacks the instruction sets."""
    fn = getattr(ctypes.CDLL(str(path)), "ggml_backend_score", None)
    return int(fn()) if fn is not None else -1


def check(g: ctypes.CDLL, path: Path) -> dict:
    """Load one CPU library and prove it; a library the CPU cannot run never returns."""
    variant, score = variant_name(path), globals()["score"](path)
    if score == 0:
        return {"variant": variant, "score": 0, "ok": False, "why": "the CPU lacks its instruction sets"}
    reg = g.ggml_backend_load(str(path).encode())
    if not reg:
        return {"variant": variant, "score": score, "ok": False, "why": "ggml would not load it"}
    dev = g.ggml_backend_reg_dev_get(reg, 0)
    backend = g.ggml_backend_dev_init(dev, None)
    set_threads = g.ggml_backend_reg_get_proc_address(reg, b"ggml_backend_set_n_threads")
    if set_threads:
        ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int)(set_threads)(backend, THREADS)
    plain = g.ggml_backend_dev_buffer_type(dev)
    bufts = [plain]
    extras = g.ggml_backend_reg_get_proc_address(reg, b"ggml_backend_dev_get_extra_bufts")
    if extras:
        arr = ctypes.CFUNCTYPE(ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p)(extras)(dev)
        i = 0
        while arr and arr[i]:
            bufts.append(arr[i])
            i += 1
    rng = np.random.default_rng(7)
    w = rng.standard_normal((N, K)).astype(np.float32)
    tried = 0
    try:
        for name, (type_id, tolerance) in TYPES.items():
            qw = _weights(g, type_id, w)
            for m in BATCHES:
                x = rng.standard_normal((m, K)).astype(np.float32)
                ref = x @ w.T
                for buft in bufts:
                    y = _product(g, dev, backend, buft, plain, type_id, qw, x)
                    if y is None:
                        continue
                    tried += 1
                    err = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
                    if not np.isfinite(err) or err > tolerance:
                        where = g.ggml_backend_buft_name(buft).decode(errors="replace")
                        why = f"wrong {name} product in {where} (relative error {err:.3g})"
                        return {"variant": variant, "score": score, "ok": False, "why": why}
    finally:
        g.ggml_backend_free(backend)
    names = [g.ggml_backend_buft_name(b).decode(errors="replace") for b in bufts]
    return {"variant": variant, "score": score, "ok": True, "why": f"{tried} products right in {', '.join(names)}"}


def main(argv: list[str]) -> int:
    """`--scores LIB_DIR`: one JSON object {variant: score}; `LIB`: one JSON verdict."""
    if len(argv) == 2 and argv[0] == "--scores":
        libs = sorted(Path(argv[1]).glob("libggml-cpu-*.so"))
        _bind(Path(argv[1]))  # the libraries need libggml-base loaded first
        print(json.dumps({variant_name(p): score(p) for p in libs}), flush=True)
        return 0
    if len(argv) != 1:
        print("usage: python -m server.core.llama_probe (--scores LIB_DIR | LIB)", file=sys.stderr)
        return 2
    path = Path(argv[0])
    print(json.dumps(check(_bind(path.parent), path)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
