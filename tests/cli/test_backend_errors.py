"""A refusal or an unreachable gateway ends an admin command the same way, whichever command:
its reason on stderr and exit code 1 (the CLI turns a BackendError into that in one place)."""

from __future__ import annotations

import pytest

from tests.cli.conftest import gate
from tests.fake_upstream import free_port

COMMANDS = [("spend",), ("traces",), ("traces", "show", "r-1"), ("providers", "list"), ("keys", "list")]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_an_unreachable_gateway_is_exit_1(cfg, args):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = gate(cfg, "--url", url, "--admin-token", "t", *args)
    assert result.exit_code == 1, result.output
    assert f"cannot reach {url}" in result.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_url_without_a_token_is_exit_1(cfg, args):
    result = gate(cfg, "--url", "http://127.0.0.1:9", *args)
    assert result.exit_code == 1, result.output
    assert "--url needs an admin token" in result.stderr


def test_a_refusal_of_the_local_file_is_exit_1(cfg):
    result = gate(cfg, "traces", "show", "no-such-request")
    assert result.exit_code == 1
    assert "no trace for request 'no-such-request'" in result.stderr
