"""Bundle, doctor and backup fixtures: small generated files (never the 253 MB model), keys,
the CLI through Typer's runner, and `gate` as a real process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def gate(*args: str):
    """The CLI in process; result.output holds stdout and stderr."""
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def gate_process(*args: str, timeout: float = 120, cmd: list[str] | None = None) -> subprocess.CompletedProcess:
    """`gate` as a real process (python -m cli, or `cmd` such as the built binary)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GATE_DB", "GATE_CONFIG", "GATE_URL", "GATE_ADMIN_TOKEN")}
    return subprocess.run([*(cmd or [sys.executable, "-m", "cli"]), *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


SITE_CONFIG = textwrap.dedent("""
    [database]
    path = "../../data/gate.db"

    [providers.builtin]
    kind = "llamacpp"
    model = "models/tiny.gguf"

    [models.local]
    route = ["builtin:tiny"]
""")


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("GATE_DB", "GATE_ADMIN_TOKEN", "GATE_CONFIG", "GATE_URL", "GATE_BINARY_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def keys(tmp_path, clean_env) -> tuple[Path, Path]:
    result = gate("bundles", "keygen", "--out", tmp_path / "keys")
    assert result.exit_code == 0, result.output
    return tmp_path / "keys" / "gate-bundle.key", tmp_path / "keys" / "gate-bundle.pub"


@pytest.fixture
def other_keys(tmp_path) -> tuple[Path, Path]:
    result = gate("bundles", "keygen", "--out", tmp_path / "other-keys")
    assert result.exit_code == 0, result.output
    return tmp_path / "other-keys" / "gate-bundle.key", tmp_path / "other-keys" / "gate-bundle.pub"


@pytest.fixture
def recipe(tmp_path) -> Path:
    """A recipe over small generated files: a fake one-folder binary, a 3 MB 'model'."""
    src = tmp_path / "src"
    (src / "bin" / "_internal").mkdir(parents=True)
    exe = src / "bin" / "gate"
    exe.write_text("#!/bin/sh\necho fake gate\n")
    exe.chmod(0o755)
    (src / "bin" / "_internal" / "lib.so").write_bytes(os.urandom(4096))
    (src / "tiny.gguf").write_bytes(b"GGUF" + os.urandom(3 * 1024 * 1024))
    (src / "site.toml").write_text(SITE_CONFIG)
    path = tmp_path / "recipe.toml"
    path.write_text(textwrap.dedent(f"""
        [bundle]
        name = "test-site"
        version = "1.0.0"

        [binary]
        dir = "src/bin"
        required = true

        [[models]]
        path = "src/tiny.gguf"

        [[files]]
        src = "{ROOT / 'server' / 'core' / 'prices.toml'}"
        dest = "prices.toml"
        kind = "prices"

        [[files]]
        src = "src/site.toml"
        dest = "gateway.toml"
        kind = "config"
        """))
    return path


def create(recipe: Path, key: Path, out: Path, *extra: str) -> Path:
    result = gate("bundles", "create", "--recipe", recipe, "--key", key, "--out", out, *extra)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def bundle(tmp_path, recipe, keys) -> Path:
    return create(recipe, keys[0], tmp_path / "site-1.0.0.gate")


def members(path: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(path, "r:") as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]


def rewrite(path: Path, out: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """Write `entries` as a new tar (how an attacker would repack a bundle)."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            info = _copy(info)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return out


def _copy(info: tarfile.TarInfo) -> tarfile.TarInfo:
    new = tarfile.TarInfo(info.name)
    for attr in ("size", "mode", "mtime", "type", "linkname", "uid", "gid", "uname", "gname"):
        setattr(new, attr, getattr(info, attr))
    return new


def file_info(name: str, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info
