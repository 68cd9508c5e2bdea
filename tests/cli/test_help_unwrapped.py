"""Help text, like every other output, is not wrapped when it does not go to a terminal.

Found by the red team: `gate serve --help | cat` came out wrapped at 80 columns (Click's own
default width), so "(default: [server] host in the config, else 127.0.0.1)" was split over
two lines for a script reading it, as issue 12 said of all output.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.cli.conftest import ROOT


@pytest.mark.parametrize("args, line", [
    (["serve", "--help"], "Address to bind (default: [server] host in the config, else 127.0.0.1)."),
    (["serve", "--help"], "Port (default: [server] port in the config, else 4000)."),
    (["--help"], "Act on a running gateway's admin API instead of the local file."),
])
def test_piped_help_keeps_each_help_text_on_one_line(args, line):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "GATE_CONFIG")}
    env["COLUMNS"] = "40"
    out = subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert any(line in text for text in out.stdout.splitlines()), out.stdout
