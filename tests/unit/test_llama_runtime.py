"""llama.cpp runs the best CPU code this host has proven to run (the wheel carries one per x86-64 level)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server.core import llama_runtime
from cli.doctor.site_checks import llama_cpu
from server.core.llama_runtime import cpu_features, llama_cpp

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="the variants are x86-64 levels")


def host_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def test_the_build_carries_a_cpu_library_per_level():
    lib = Path(llama_cpp().__file__).parent / "lib"
    variants = {p.name.removeprefix("libggml-cpu-").removesuffix(".so") for p in lib.glob("libggml-cpu-*.so")}
    assert {"x64", "haswell", "skylakex", "icelake"} <= variants, variants


def test_the_loaded_code_uses_what_the_host_has():
    flags, features = host_flags(), cpu_features().split(" | ")
    assert "SSE3" in features
    if {"avx2", "fma", "f16c"} <= flags:
        assert "AVX2" in features and "FMA" in features
    if {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"} <= flags:
        assert "AVX512" in features and "AVX512_VNNI" in features, features
    if "avx2" not in flags:
        assert "AVX2" not in features  # never code the CPU cannot run


def test_loading_twice_is_harmless():
    first = llama_cpp()
    assert llama_cpp() is first and cpu_features() == cpu_features()


# --- Only proven CPU code is loaded (a variant the host cannot run must never crash the gateway) ---

LIB = Path(llama_cpp().__file__).parent / "lib"
CRASHING = r"""
/* A CPU variant that scores best and dies as the AMX code did: an illegal instruction. */
int ggml_backend_score(void) { return 1 << 30; }
void *ggml_backend_init(void) { __builtin_trap(); return 0; }
"""


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env}, cwd=Path(__file__).resolve().parents[2])


@pytest.fixture
def lib_with_a_crashing_variant(tmp_path: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the simulated variant (the README's setup needs one)")
    lib = tmp_path / "lib"
    lib.mkdir()
    for real in LIB.iterdir():
        (lib / real.name).symlink_to(real)
    source = tmp_path / "crash.c"
    source.write_text(CRASHING)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib / "libggml-cpu-zzcrash.so"), str(source)], check=True)
    return lib


def test_the_loaded_variant_passed_its_check_here():
    choice = llama_runtime.loaded()
    if choice.variant is None:
        pytest.skip("this build has its CPU code linked in")
    signature = llama_runtime.host_signature(LIB.glob("libggml-cpu-*.so"))
    record = json.loads(llama_runtime.verdicts_file(signature).read_text())
    if choice.how == "proven on this host":
        assert record["verdicts"][choice.variant]["ok"] is True
    assert all(not record["verdicts"][v]["ok"] for v, _ in choice.rejected)
    assert choice.variant in llama_cpu().detail  # doctor names it


def test_a_crashing_variant_is_rejected_and_the_next_best_loaded(lib_with_a_crashing_variant: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    cache = tmp_path / "verdicts.json"
    path, choice = llama_runtime.choose(lib_with_a_crashing_variant, cache)
    assert choice.rejected[0] == ("zzcrash", "crashed with SIGILL")
    assert choice.variant != "zzcrash" and path.name == f"libggml-cpu-{choice.variant}.so"
    record = json.loads(cache.read_text())
    assert record["verdicts"]["zzcrash"] == {"ok": False, "why": "crashed with SIGILL"}
    assert record["verdicts"][choice.variant]["ok"] is True

    # The verdicts are kept: a second start probes nothing and decides the same.
    def no_probe(path: Path) -> dict:
        raise AssertionError(f"probed {path.name} again")

    monkeypatch.setattr(llama_runtime, "probe", no_probe)
    assert llama_runtime.choose(lib_with_a_crashing_variant, cache)[1] == choice


def test_verdicts_of_another_host_or_build_are_not_trusted(lib_with_a_crashing_variant: Path, tmp_path: Path):
    cache = tmp_path / "verdicts.json"
    cache.write_text(json.dumps({"signature": "another host", "scores": {"zzcrash": 1 << 30},
                                 "verdicts": {"zzcrash": {"ok": True, "why": "forged"}}}))
    _, choice = llama_runtime.choose(lib_with_a_crashing_variant, cache)
    assert choice.variant != "zzcrash" and ("zzcrash", "crashed with SIGILL") in choice.rejected


def test_the_probe_rejects_wrong_products():
    variant = llama_runtime.loaded().variant or pytest.skip("this build has its CPU code linked in")
    code = ("import json, sys; import server.core.llama_probe as p; p.TYPES = {'q8_0': (8, 0.0)}; "
            f"sys.exit(p.main([{str(LIB / f'libggml-cpu-{variant}.so')!r}]))")
    done = _python(code)
    verdict = json.loads(done.stdout.splitlines()[-1])
    assert verdict["ok"] is False and verdict["why"].startswith("wrong q8_0 product"), verdict


def test_gate_llama_cpu_forces_a_variant():
    done = _python("from server.core.llama_runtime import loaded, cpu_features; c = loaded(); "
                   "print(c.variant, c.how, c.rejected, cpu_features())", GATE_LLAMA_CPU="haswell")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("haswell forced by GATE_LLAMA_CPU ()") and "AVX512" not in done.stdout


def test_gate_llama_cpu_naming_no_variant_says_what_there_is():
    done = _python("from server.core.llama_runtime import llama_cpp; llama_cpp()", GATE_LLAMA_CPU="pentium3")
    assert done.returncode == 1
    assert "GATE_LLAMA_CPU=pentium3: this build has no such CPU code (it has: " in done.stderr
    assert "haswell" in done.stderr
