"""llama.cpp runs the CPU code this host is best at (the wheel carries one per x86-64 level)."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from server.llama_runtime import cpu_features, llama_cpp

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
