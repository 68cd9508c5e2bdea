"""llama.cpp with the CPU code this machine runs best and has proven to run, loaded once.

scripts/_setup.sh builds llama-cpp-python once with GGML_BACKEND_DL and
GGML_CPU_ALL_VARIANTS: one `libggml-cpu-<level>.so` per x86-64 level (x64, sse42,
sandybridge, haswell, skylakex, icelake, zen4, sapphirerapids, ...) beside libggml. So the
one binary copied into a site runs on an old Xeon and still uses AVX-512 and VNNI where the
CPU has them. llama-cpp-python does not load the variants itself
(abetlen/llama-cpp-python#2069), so `llama_cpp()` does, once.

ggml's own choice (the highest score the CPU's flags allow) is not safe: on a Sapphire
Rapids VM that exposes AMX, the sapphirerapids code dies with SIGILL inside its AMX kernel
(`tilezero` in an OpenMP thread that never loaded a tile configuration) on the first
embedding or chat, taking the whole worker with it. So a variant is used only once it has
been proven on this host: server/core/llama_probe.py, in a child process, loads it and checks
its matrix products against numpy; a crash or a wrong answer rejects it and the next best is
tried. Verdicts are kept in `<cache>/llama-cpu-<signature>.json`, the signature of the CPU,
the kernel and the build (two installs on one host keep a file each), so the probe runs once per host (about a second per variant), not per start.
`GATE_LLAMA_CPU=haswell` forces one variant and skips the probe. `gate doctor` shows what was
loaded and what was rejected. A wheel built without the variants has its CPU code linked
in; then this loads nothing.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from server.core.paths import cache_dir

log = logging.getLogger("gate.llama")

FORCE_ENV = "GATE_LLAMA_CPU"
PROBE_TIMEOUT_S = 120.0
VERDICTS_FILE = "llama-cpu-{signature}.json"  # one file per host and build: installs never clobber

_lock = threading.Lock()
_loaded: Loaded | None = None


@dataclass(frozen=True)
class Loaded:
    """Which CPU code llama.cpp runs in this process, and why."""

    variant: str | None  # None: the CPU code is linked into the build
    how: str  # "proven on this host", "forced by GATE_LLAMA_CPU", "linked in"
    rejected: tuple[tuple[str, str], ...] = ()  # (variant, why), best first


def llama_cpp() -> ModuleType:
    """The llama_cpp module, with a proven CPU backend loaded."""
    global _loaded
    import llama_cpp as lib

    with _lock:
        if _loaded is None:
            from llama_cpp._logger import set_verbose

            set_verbose(False)  # llama.cpp's own lines ("loaded CPU backend from ...") stay off stderr
            _loaded = _load_backend(Path(lib.__file__).parent / "lib")
    return lib


def loaded() -> Loaded:
    """What `llama_cpp()` loaded (loading it first)."""
    llama_cpp()
    assert _loaded is not None
    return _loaded


def cpu_features() -> str:
    """What the loaded CPU code uses, e.g. 'AVX2 | AVX512 | AVX512_VNNI' (for doctor)."""
    info = llama_cpp().llama_print_system_info().decode(errors="replace")
    parts = (p.strip().removeprefix("CPU : ") for p in info.split("|"))
    return " | ".join(p.removesuffix(" = 1") for p in parts if p.endswith("= 1"))


def _load_backend(lib_dir: Path) -> Loaded:
    # The libggml that libllama is linked to, by its soname: the wheel holds copies under
    # other names (libggml.so), and a copy would be a second, empty backend registry.
    ggml = ctypes.CDLL("libggml.so.0", mode=os.RTLD_NOLOAD)
    ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
    if ggml.ggml_backend_reg_count() > 0:
        return Loaded(None, "linked in")
    forced = os.environ.get(FORCE_ENV, "").strip()
    if forced:
        path, choice = lib_dir / f"libggml-cpu-{forced}.so", Loaded(forced, f"forced by {FORCE_ENV}")
        if not path.is_file():
            have = ", ".join(sorted(_variants(lib_dir))) or "none"
            raise RuntimeError(f"{FORCE_ENV}={forced}: this build has no such CPU code (it has: {have})")
    else:
        path, choice = choose(lib_dir)
    ggml.ggml_backend_load.restype = ctypes.c_void_p
    ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
    if not ggml.ggml_backend_load(str(path).encode()):
        raise RuntimeError(f"llama.cpp's {choice.variant} CPU code does not run on this CPU")
    return choice


def _variants(lib_dir: Path) -> dict[str, Path]:
    return {p.name.removeprefix("libggml-cpu-").removesuffix(".so"): p for p in lib_dir.glob("libggml-cpu-*.so")}


def choose(lib_dir: Path, cache_file: Path | None = None) -> tuple[Path, Loaded]:
    """The best variant that passes its probe on this host, using and keeping cached verdicts."""
    variants = _variants(lib_dir)
    if not variants:
        raise RuntimeError(f"no llama.cpp CPU code in {lib_dir}")
    signature = host_signature(variants.values())
    cache_file = cache_file or verdicts_file(signature)
    record = _read(cache_file, signature)
    if not record.get("scores"):
        record["scores"] = _scores(lib_dir)
    verdicts: dict = record.setdefault("verdicts", {})
    rejected: list[tuple[str, str]] = []
    ranked = sorted((s, v) for v, s in record["scores"].items() if s > 0 and v in variants)
    try:
        for _, variant in reversed(ranked):
            if variant not in verdicts:
                verdicts[variant] = probe(variants[variant])
                if not verdicts[variant]["ok"]:
                    log.warning("llama.cpp's %s CPU code failed its check on this host (%s); trying the next",
                                variant, verdicts[variant]["why"])
            if verdicts[variant]["ok"]:
                return variants[variant], Loaded(variant, "proven on this host", tuple(rejected))
            rejected.append((variant, verdicts[variant]["why"]))
    finally:
        _write(cache_file, signature, record)
    why = "; ".join(f"{v}: {w}" for v, w in rejected) or "the CPU lacks every level's instruction sets"
    raise RuntimeError(f"no llama.cpp CPU code passed its check on this host ({why})")


def probe(path: Path) -> dict:
    """{"ok", "why"} for one variant, from a child process (a crash there is a verdict)."""
    try:
        done = subprocess.run(_probe_command(str(path)), capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"ok": False, "why": f"its check hung for {PROBE_TIMEOUT_S:.0f} s"}
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        return {"ok": False, "why": f"crashed with {name}"}
    try:
        verdict = json.loads(done.stdout.strip().splitlines()[-1])
        return {"ok": bool(verdict["ok"]), "why": str(verdict["why"])}
    except (IndexError, ValueError, KeyError, TypeError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return {"ok": False, "why": f"its check failed (exit {done.returncode}): {last}"}


def _scores(lib_dir: Path) -> dict[str, int]:
    done = subprocess.run(_probe_command("--scores", str(lib_dir)), capture_output=True, text=True,
                          timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    try:
        return {str(k): int(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
    except (IndexError, ValueError, AttributeError) as exc:
        raise RuntimeError(f"cannot score llama.cpp's CPU code (exit {done.returncode})") from exc


def _probe_command(*args: str) -> list[str]:
    if getattr(sys, "frozen", False):  # the PyInstaller binary: bundles/gate_main.py dispatches it
        return [sys.executable, "--llama-cpu-probe", *args]
    return [sys.executable, "-m", "server.core.llama_probe", *args]


def host_signature(libraries) -> str:
    """What a verdict depends on: the CPU (model and flags), the kernel, and the build."""
    cpu = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "flags", "microcode") and key.strip() not in cpu:
                cpu[key.strip()] = value.strip()
    except OSError:
        cpu["machine"] = platform.machine()
    build = sorted((p.name, p.stat().st_size) for p in libraries)
    blob = json.dumps([cpu, platform.release(), build], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def verdicts_file(signature: str) -> Path:
    return cache_dir() / VERDICTS_FILE.format(signature=signature[:16])


def _read(cache_file: Path, signature: str) -> dict:
    try:
        record = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and record.get("signature") == signature else {}


def _write(cache_file: Path, signature: str, record: dict) -> None:
    record["signature"] = signature
    tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}")
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        os.replace(tmp, cache_file)
    except OSError as exc:  # a read-only home: the probe runs again next start, nothing breaks
        log.info("cannot keep llama.cpp's CPU verdicts in %s: %s", cache_file, exc)
