"""Signed offline bundles: what is carried into an air-gapped site, checked and installed.

A bundle is one uncompressed tar file (GGUF models do not compress) laid out as

    MANIFEST.json   the canonical manifest: every file's path, size, sha256 and mode, the
                    bundle and gate versions, when it was made and what it needs
    MANIFEST.sig    a detached Ed25519 signature over MANIFEST.json's exact bytes
    payload/...     the files, in the manifest's order

in that order, so one sequential pass verifies the signature first and then hashes each
file as it streams by (and, for `install`, writes it out at the same time). Anything else
in the archive, or anything missing from it, refuses the whole bundle.

Modules: manifest (the signed document), sign (keys), recipe (what goes in), archive
(write and read), install (atomic releases and rollback), progress (a bar's protocol).
The same folder holds the binary's packaging, which is not imported: gate.spec and
gate_main.py (PyInstaller), site.toml and site-gateway.toml (the site bundle's recipe).
This is an operator's tool beside the gateway: the runtime package `server/` never
imports it (tests/unit/test_layers.py holds that).
"""

from __future__ import annotations

import os
from pathlib import Path

from server.core.paths import cache_dir


class BundleError(Exception):
    """A bundle cannot be made, or is refused; the message is one line saying why."""


def gate_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gate")
    except PackageNotFoundError:
        return "0+unknown"


def build_dir() -> Path:
    """The one-folder binary scripts/build-binary made last ($GATE_BINARY_DIR overrides)."""
    env = os.environ.get("GATE_BINARY_DIR")
    return Path(env) if env else cache_dir() / "build" / "current" / "gate"
