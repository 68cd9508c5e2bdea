"""A secret reference that does not resolve here: the file is still written (the gateway
may run with another environment), the CLI says so, and listings show why, never crash."""

from __future__ import annotations

import json

from tests.cli.conftest import gate

UNSET = "GATE_CLI_NEVER_SET_SECRET"


def test_providers_add_warns_and_list_shows_why(cfg, monkeypatch):
    monkeypatch.delenv(UNSET, raising=False)
    added = gate(cfg, "providers", "add", "cloud", "--url", "https://api.openai.com/v1",
                 "--api-key", f"env:{UNSET}", "--locality", "cloud")
    assert added.exit_code == 0, added.output
    assert "warning:" in added.stderr and UNSET in added.stderr
    assert "warning" not in added.stdout
    assert f'api_key = "env:{UNSET}"' in cfg.read_text()

    listed = gate(cfg, "providers", "list", "--json")
    assert listed.exit_code == 0, listed.output
    cloud = next(p for p in json.loads(listed.stdout) if p["name"] == "cloud")
    assert cloud["ok"] is False and UNSET in cloud["detail"] and "not applied" in cloud["detail"]


def test_no_warning_when_it_resolves(cfg, monkeypatch):
    monkeypatch.setenv(UNSET, "sk-the-value-never-shown")
    added = gate(cfg, "providers", "add", "cloud", "--url", "https://api.openai.com/v1",
                 "--api-key", f"env:{UNSET}", "--locality", "cloud")
    assert added.exit_code == 0 and added.stderr == ""
    assert "sk-the-value" not in added.output
