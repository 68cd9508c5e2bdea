"""The shipped site bundle (bundles/site.toml + bundles/site-gateway.toml), installed as a
site would install it, passes its own `doctor --airgap` and uses the embedder it carries.

Real files: the built-in model assembled from its package (253 MB), the embedder converted
from its package, a real `gate serve` started by the doctor's audit. Only the one-folder
binary is left out (`--no-binary`): the site's gate runs from this checkout's Python.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli.tools.gguf_convert import ensure_embedder
from server.core.settings import load_settings
from tests.bundles.conftest import ROOT, gate, gate_process


def test_the_site_bundle_installs_and_passes_doctor_airgap(tmp_path, keys):
    bundle = tmp_path / "site-1.0.0.gate"
    created = gate("bundles", "create", "--recipe", ROOT / "bundles" / "site.toml", "--key", keys[0],
                   "--out", bundle, "--no-binary", "--embedder", ensure_embedder())
    assert created.exit_code == 0, created.output
    into = tmp_path / "site"
    installed = gate("bundles", "install", bundle, "--pubkey", keys[1], "--into", into, "--json")
    assert installed.exit_code == 0, installed.output

    config = into / "current" / "gateway.toml"
    done = gate_process("-c", config, "doctor", "--airgap", "--json", timeout=600)
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert done.returncode == 0, json.dumps(report["checks"], indent=1) + done.stderr

    settings = load_settings(config)
    carried = Path(settings.cache.embedder or "")
    assert carried.is_file() and carried.resolve().parent == (into / "current").resolve() / "models"
    assert checks["airgap allowlist"]["status"] == "pass"
    assert checks["embedder"]["status"] == "pass" and carried.name in checks["embedder"]["detail"]
    assert checks["upstream builtin"]["status"] == "pass"
    assert checks["airgap traffic"]["status"] == "pass", checks["airgap traffic"]
    assert "chat local 200" in checks["airgap traffic"]["detail"]
    assert checks["airgap sockets"]["status"] == "pass", checks["airgap sockets"]
