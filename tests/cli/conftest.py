"""The CLI's fixtures: a copy of the default gateway.toml in tmp_path, and a runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> Path:
    for name in ("GATE_DB", "GATE_ADMIN_TOKEN", "GATE_CONFIG", "GATE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "gateway.toml"
    shutil.copy(ROOT / "gateway.toml", path)
    return path


def gate(cfg: Path, *args: str):
    return runner.invoke(app, ["--config", str(cfg), *args], catch_exceptions=False)
