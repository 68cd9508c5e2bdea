"""Where gate keeps what it builds or learns on a host, outside the repository and the
database: one place, so the set-up (scripts/_setup.sh), the runtime and the tools agree."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg_gate() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gate"


def cache_dir() -> Path:
    """$GATE_CACHE, else $XDG_CACHE_HOME/gate, else ~/.cache/gate (as scripts/_setup.sh)."""
    env = os.environ.get("GATE_CACHE")
    return Path(env) if env else _xdg_gate()


def models_dir() -> Path:
    """Where built models are kept (the embedder GGUF, models assembled from packages):
    $GATE_MODELS_DIR, else $XDG_CACHE_HOME/gate/models, else ~/.cache/gate/models."""
    env = os.environ.get("GATE_MODELS_DIR")
    return Path(env) if env else _xdg_gate() / "models"
