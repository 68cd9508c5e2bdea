"""llama.cpp with the CPU code this machine runs best, loaded before the first model.

scripts/_setup.sh builds llama-cpp-python once with GGML_BACKEND_DL and
GGML_CPU_ALL_VARIANTS: one `libggml-cpu-<level>.so` per x86-64 level (x64, sse42,
sandybridge, haswell, skylakex, icelake, zen4, sapphirerapids, ...) beside libggml, and ggml
loads the best one the CPU can run. So the one binary copied into a site runs on an old
Xeon and still uses AVX-512 and VNNI where the CPU has them (the embedder's question:
~20% faster than the AVX2 code on this project's test host). llama-cpp-python does not load
the variants itself (abetlen/llama-cpp-python#2069), so `llama_cpp()` does, once. A wheel
built without those flags has its CPU code linked in; then this loads nothing.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from types import ModuleType

_lock = threading.Lock()
_ready = False


def llama_cpp() -> ModuleType:
    """The llama_cpp module, with a CPU backend loaded."""
    global _ready
    import llama_cpp as lib

    with _lock:
        if not _ready:
            from llama_cpp._logger import set_verbose

            set_verbose(False)  # llama.cpp's own lines ("loaded CPU backend from ...") stay off stderr
            _load_backends(Path(lib.__file__).parent / "lib")
            _ready = True
    return lib


def _load_backends(lib_dir: Path) -> None:
    # The libggml that libllama is linked to, by its soname: the wheel holds copies under
    # other names (libggml.so), and a copy would be a second, empty backend registry.
    ggml = ctypes.CDLL("libggml.so.0", mode=os.RTLD_NOLOAD)
    ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
    if ggml.ggml_backend_reg_count() > 0:
        return  # the CPU backend is linked in
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path(str(lib_dir).encode())
    if ggml.ggml_backend_reg_count() == 0:
        raise RuntimeError(f"no llama.cpp CPU backend could be loaded from {lib_dir}")


def cpu_features() -> str:
    """What the loaded CPU code uses, e.g. 'AVX2 | AVX512 | AVX512_VNNI' (for doctor)."""
    info = llama_cpp().llama_print_system_info().decode(errors="replace")
    parts = (p.strip().removeprefix("CPU : ") for p in info.split("|"))
    return " | ".join(p.removesuffix(" = 1") for p in parts if p.endswith("= 1"))
