"""CLI output is shaped by the terminal only: piped or captured, nothing is wrapped, whatever
COLUMNS or the controlling terminal's size; Rich never reads a `[section]` name as markup."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import textwrap
from pathlib import Path

import pytest
import typer

from cli.main import app
from tests.cli.conftest import ROOT, gate, runner
from tests.fake_upstream import FakeUpstream

WIDTHS = [40, 300]


@pytest.fixture
def deep_cfg(cfg, tmp_path) -> Path:
    """gateway.toml in a directory whose path is at least 200 characters long."""
    deep = tmp_path / "site"
    while len(str(deep)) < 200:
        deep = deep / ("long-directory-name-" + "x" * 30)
    deep.mkdir(parents=True)
    path = deep / "gateway.toml"
    shutil.copy(cfg, path)
    assert len(str(path)) >= 200
    return path


def flat(text: str) -> str:
    """Whitespace (line breaks of a help text wrapped to a terminal) as single spaces."""
    return " ".join(text.split())


def winsize(fd: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))


def run_gate(*args: str, columns: int, stdout_tty: bool = False, env: dict | None = None):
    """`python -m cli ARGS` as a real process with a terminal of `columns` on stdin (as when
    the test suite runs in a terminal) and stdout piped, or on the terminal too."""
    master, slave = pty.openpty()
    winsize(slave, columns)
    environ = {k: v for k, v in os.environ.items()
               if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "GATE_CONFIG", "GATE_DB")}
    environ.update(env or {})
    try:
        proc = subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=ROOT, env=environ, stdin=slave,
                                stdout=slave if stdout_tty else subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(slave)
        slave = -1
        chunks = []
        if stdout_tty:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
        out, err = proc.communicate(timeout=120)
        text = b"".join(chunks).decode() if stdout_tty else out.decode()
        return proc.returncode, text.replace("\r\n", "\n"), err.decode()
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


# -- help ----------------------------------------------------------------------------------

@pytest.mark.parametrize("columns", WIDTHS)
def test_serve_help_shows_the_real_defaults_and_section_names(columns):
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "127.0.0.1" in text and "4000" in text
    assert "[server] host" in text and "[server] port" in text and "[server] workers" in text


def _commands(command, path: tuple[str, ...] = ()):
    yield path, command
    if hasattr(command, "commands"):  # a group (typer vendors its own click)
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def test_every_help_text_keeps_its_bracketed_words():
    """Every `[...]` written in a command's or an option's help is printed as written."""
    checked = 0
    for path, command in _commands(typer.main.get_command(app)):
        written = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        words = {w for text in written for w in re.findall(r"\[[^\]\s]+\]", text)}
        if not words:
            continue
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "40"})
        assert result.exit_code == 0, (path, result.output)
        for word in words:
            assert word in result.stdout, (path, word, result.stdout)
            checked += 1
    assert checked >= 5  # serve's three, keys create's [egress], doctor's [airgap], ...


# -- messages and tables -------------------------------------------------------------------

def test_error_messages_keep_section_names(cfg):
    top = gate(cfg, "top")  # the default gateway.toml has an [admin] table but no token
    assert top.exit_code == 1 and "set [admin] token in the config" in top.stderr
    missing = gate(cfg, "models", "remove", "[bold]x[/]")
    assert missing.exit_code == 1 and "no model named '[bold]x[/]'" in missing.stderr


def test_names_that_look_like_markup_print_as_themselves(cfg):
    name = "[red]alert[/] [server]"
    created = gate(cfg, "keys", "create", "--name", name)
    assert created.exit_code == 0, created.output
    assert f"key '{name}' created" in created.stdout
    assert name in gate(cfg, "keys", "list").stdout
    assert gate(cfg, "teams", "create", "[ml]").stdout.startswith("created team [ml] (")
    assert "[ml]" in gate(cfg, "teams", "list").stdout
    assert gate(cfg, "budgets", "set", "team", "[ml]", "--usd", "5").exit_code == 0
    assert "[ml]" in gate(cfg, "budgets", "show").stdout


def test_doctor_details_keep_section_names(tmp_path, monkeypatch):
    for name in ("GATE_DB", "GATE_ADMIN_TOKEN", "GATE_CONFIG", "GATE_URL"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeUpstream().start_in_thread()
    try:
        cfg = tmp_path / "gateway.toml"
        cfg.write_text(textwrap.dedent(f"""
            [cache]
            semantic = false
            [providers.fake]
            kind = "openai"
            url = "{fake.url}"
            [models.ok]
            route = ["fake:ok"]
            """))
        result = gate(cfg, "doctor", "--airgap")
    finally:
        fake.stop_thread()
    assert result.exit_code == 1
    assert "has no [airgap] allow = [...] list" in flat(result.stdout)


# -- width ---------------------------------------------------------------------------------

@pytest.mark.parametrize("columns", WIDTHS)
def test_piped_output_is_not_wrapped_in_process(deep_cfg, columns):
    env = {"COLUMNS": str(columns)}
    checked = runner.invoke(app, ["--config", str(deep_cfg), "config", "check"], env=env)
    assert checked.exit_code == 0, checked.output
    assert f"ok {deep_cfg}: 1 providers, 1 models, database {deep_cfg.parent / 'gate.db'}\n" == checked.stdout
    egress = runner.invoke(app, ["--config", str(deep_cfg), "egress", "allow-cloud", "on"], env=env)
    assert egress.stdout == f"cloud egress is now on in {deep_cfg}\n"
    name = "a-key-with-a-name-longer-than-any-terminal-" + "k" * 60
    runner.invoke(app, ["--config", str(deep_cfg), "keys", "create", "--name", name], env=env)
    listed = runner.invoke(app, ["--config", str(deep_cfg), "keys", "list"], env=env).stdout
    assert any(name in line for line in listed.splitlines()), listed


@pytest.mark.parametrize("columns", WIDTHS)
def test_piped_output_is_not_wrapped_in_a_terminal_of_any_width(deep_cfg, columns):
    """A real process started from a terminal of `columns` (stdin), its stdout piped."""
    code, out, err = run_gate("--config", str(deep_cfg), "config", "check", columns=columns)
    assert code == 0, err
    assert out == f"ok {deep_cfg}: 1 providers, 1 models, database {deep_cfg.parent / 'gate.db'}\n"
    missing = run_gate("--config", str(deep_cfg.parent / "missing.toml"), "config", "check", columns=columns)
    assert missing[0] == 1
    where = deep_cfg.parent / "missing.toml"
    assert missing[2] == f"error: {where}: config file not found (use --config or GATE_CONFIG)\n"


def test_on_a_terminal_tables_fit_its_width(deep_cfg):
    name = "a-key-with-a-name-longer-than-any-terminal-" + "k" * 60
    assert gate(deep_cfg, "keys", "create", "--name", name, "--json").exit_code == 0
    code, out, err = run_gate("--config", str(deep_cfg), "keys", "list", columns=40, stdout_tty=True,
                              env={"NO_COLOR": "1"})
    assert code == 0, err
    lines = [line for line in re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out).splitlines() if line.strip()]
    assert lines and max(len(line) for line in lines) <= 40, out
    assert name not in out and name[:20] in out  # folded to fit, not cut off


def test_json_output_is_unaffected_by_width(deep_cfg):
    long_name = "n" * 150
    gate(deep_cfg, "keys", "create", "--name", long_name)
    code, out, _ = run_gate("--config", str(deep_cfg), "keys", "list", "--json", columns=40)
    assert code == 0 and [k["name"] for k in json.loads(out)] == [long_name]
