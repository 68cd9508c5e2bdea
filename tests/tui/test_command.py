"""`gate top` on the command line: where it looks, and what it needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.commands.top import target
from cli.context import Globals
from cli.main import app


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("GATE_DB", "GATE_ADMIN_TOKEN", "GATE_CONFIG", "GATE_URL", "TOP_TEST_ADMIN"):
        monkeypatch.delenv(name, raising=False)


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_the_url_and_token_come_from_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TOP_TEST_ADMIN", "from-env-ref")
    path = config(tmp_path, '[server]\nhost = "0.0.0.0"\nport = 4321\n[admin]\ntoken = "env:TOP_TEST_ADMIN"\n')
    assert target(Globals(path, None, None)) == ("http://127.0.0.1:4321", "from-env-ref")


def test_url_and_admin_token_options_win(tmp_path):
    path = config(tmp_path, '[server]\nport = 4321\n')
    assert target(Globals(path, "http://gw:9000", "tok")) == ("http://gw:9000", "tok")
    assert target(Globals(path, None, "tok")) == ("http://127.0.0.1:4321", "tok")
    assert target(Globals(tmp_path / "missing.toml", None, "tok")) == ("http://127.0.0.1:4000", "tok")


def test_an_ipv6_listener_gets_brackets(tmp_path):
    path = config(tmp_path, '[server]\nhost = "::"\nport = 4000\n')
    assert target(Globals(path, None, "t"))[0] == "http://[::1]:4000"


def test_without_a_token_it_says_how_to_give_one(tmp_path):
    path = config(tmp_path, '[server]\nport = 4321\n')
    result = CliRunner().invoke(app, ["-c", str(path), "top"])
    assert result.exit_code == 1
    assert "GATE_ADMIN_TOKEN" in result.output and "--admin-token" in result.output
