"""The README's shell examples run as written.

Every `gate ...`, `scripts/gate ...` and `.venv/bin/gate ...` line of the README's ```sh
blocks is run, in order, by /bin/sh in a scratch directory holding a copy of the repository's
gateway.toml (so its database is a scratch file too), with HOME there as well. `gate`,
`scripts/gate` and `.venv/bin/gate` are small scripts that run this checkout's CLI
(`python -m cli`): the real scripts/gate would only add the set-up of .venv.

The lines in SKIPPED are not run, for the reason given; the test fails when the README
changes so that one of them is gone or a new line appears that is neither run nor skipped.
The commands table lists syntax (`KEY`, `[--rpm N]`), not examples: it is not run.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import ROOT

GATE = re.compile(r"^(?:gate|scripts/gate|\.venv/bin/gate|\S*/bin/gate/gate)\s")

SKIPPED = {
    "scripts/gate serve": "serves until stopped; tests/live runs `gate serve` as a real process",
    "scripts/gate serve &": "the same, in the background",
    ".venv/bin/gate bundles create --recipe bundles/site.toml --key ~/gate-keys/gate-bundle.key "
    '--embedder "$(scripts/build-embedder)" --out site-1.0.0.gate':
        "needs the one-folder binary of scripts/build-binary and the 253 MB built-in model "
        "(minutes of work); tests/bundles makes bundles from a small recipe",
    "gate bundles verify site-1.0.0.gate --pubkey gate-bundle.pub":
        "needs site-1.0.0.gate from the bundles create above; tests/bundles verifies small bundles",
    "gate bundles install site-1.0.0.gate --pubkey gate-bundle.pub --into /opt/gate":
        "the same bundle, and it installs into /opt; tests/bundles installs into a temp directory",
    "/opt/gate/current/bin/gate/gate -c /opt/gate/current/gateway.toml doctor --airgap":
        "the installed binary; scripts/smoke-binary runs the built binary's tests",
}


def readme_commands() -> list[str]:
    """The gate command lines of the README's sh blocks (continuations joined, comments cut)."""
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line)  # the README's commands hold no '#' of their own
            line = " ".join(line.split())
            if GATE.match(line):
                lines.append(line)
    return lines


def shim(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cli "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_the_readme_examples_run_as_written(tmp_path):
    commands = readme_commands()
    assert set(SKIPPED) <= set(commands), sorted(set(SKIPPED) - set(commands))  # no stale skips
    runnable = [c for c in commands if c not in SKIPPED]
    assert len(runnable) >= 7, runnable
    for command in runnable:  # what never returns is listed, never run
        assert not re.search(r"\s(serve|top)\b|\s(--follow|-f)\b|&$", command), f"list in SKIPPED: {command}"

    site = tmp_path / "site"
    (site / "home").mkdir(parents=True)
    shutil.copy(ROOT / "gateway.toml", site / "gateway.toml")
    for where in ("bin/gate", "scripts/gate", ".venv/bin/gate"):
        shim(site / where)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(HOME=str(site / "home"), PATH=f"{site / 'bin'}:{env.get('PATH', '')}",
               PYTHONPATH=f"{ROOT}:{env.get('PYTHONPATH', '')}")

    for command in runnable:
        result = subprocess.run(["/bin/sh", "-c", command], cwd=site, env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, f"{command}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    # What they made is there: the database beside the copied config, the edits in it.
    assert (site / "gate.db").is_file()
    text = (site / "gateway.toml").read_text()
    assert "[providers.gpu1]" in text and "[models.llama]" in text
    assert (site / "home" / "gate-keys" / "gate-bundle.pub").is_file()
