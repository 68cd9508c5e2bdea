"""The CLI through Typer's runner, on real config files and a real SQLite file."""

from __future__ import annotations

import json

from cli.main import app
from server.core.settings import load_settings
from tests.cli.conftest import ROOT, gate, runner


def test_keys_lifecycle(cfg):
    created = gate(cfg, "keys", "create", "--name", "ml-team", "--models", "local", "--expires", "30d", "--json")
    assert created.exit_code == 0, created.output
    data = json.loads(created.stdout)
    assert data["key"].startswith("sk-gate-") and data["name"] == "ml-team" and data["models"] == ["local"]
    assert data["expires_at"] > data["created_at"] + 29 * 86400

    listed = gate(cfg, "keys", "list", "--json")
    assert data["key"] not in listed.stdout
    assert [k["name"] for k in json.loads(listed.stdout)] == ["ml-team"]

    table = gate(cfg, "keys", "list")
    assert "ml-team" in table.stdout and data["key"] not in table.stdout

    rotated = json.loads(gate(cfg, "keys", "rotate", "ml-team", "--json").stdout)
    assert rotated["key"] != data["key"] and rotated["id"] == data["id"]
    assert json.loads(gate(cfg, "keys", "revoke", data["id"], "--json").stdout)["status"] == "revoked"
    assert json.loads(gate(cfg, "keys", "show", "ml-team", "--json").stdout)["status"] == "revoked"


def test_keys_errors_are_clear(cfg):
    gate(cfg, "keys", "create", "--name", "a")
    dup = gate(cfg, "keys", "create", "--name", "a")
    assert dup.exit_code == 1 and "already exists" in dup.stderr
    missing = gate(cfg, "keys", "show", "ghost")
    assert missing.exit_code == 1 and "no key" in missing.stderr
    bad_model = gate(cfg, "keys", "create", "--name", "b", "--models", "gpt-9")
    assert bad_model.exit_code == 1 and "unknown models: gpt-9" in bad_model.stderr
    bad_dur = gate(cfg, "keys", "create", "--name", "c", "--expires", "soon")
    assert bad_dur.exit_code == 2 and "not a duration" in bad_dur.output


def test_the_secret_is_shown_once_in_a_panel(cfg):
    out = gate(cfg, "keys", "create", "--name", "panel")
    assert out.exit_code == 0 and "sk-gate-" in out.stdout and "shown once" in out.stdout


def test_providers_and_models_edit_the_file_and_keep_comments(cfg, monkeypatch):
    monkeypatch.setenv("VLLM_KEY", "super-secret-value")
    before = cfg.read_text()
    added = gate(cfg, "providers", "add", "gpu1", "--url", "http://127.0.0.1:8000/v1",
                 "--api-key", "env:VLLM_KEY", "--price-in", "0.1", "--price-out", "0.2")
    assert added.exit_code == 0, added.output
    assert gate(cfg, "models", "add", "llama", "--route", "gpu1:meta/llama-3,builtin:gemma-3-270m").exit_code == 0
    text = cfg.read_text()
    for line in before.splitlines():
        if line.strip().startswith("#"):
            assert line in text  # every comment survives
    settings = load_settings(cfg)
    assert settings.providers["gpu1"].api_key == "env:VLLM_KEY"
    assert settings.models["llama"].route == ["gpu1:meta/llama-3", "builtin:gemma-3-270m"]
    assert "super-secret-value" not in text

    listed = json.loads(gate(cfg, "models", "list", "--json").stdout)
    assert {"alias": "llama", "route": ["gpu1:meta/llama-3", "builtin:gemma-3-270m"], "description": ""} in listed

    in_use = gate(cfg, "providers", "remove", "gpu1")
    assert in_use.exit_code == 1 and "llama" in in_use.stderr
    assert gate(cfg, "models", "remove", "llama").exit_code == 0
    assert gate(cfg, "providers", "remove", "gpu1").exit_code == 0
    assert cfg.read_text().strip() == before.strip()


def test_an_invalid_edit_is_refused_and_the_file_is_untouched(cfg):
    before = cfg.read_text()
    bad = gate(cfg, "models", "add", "x", "--route", "ghost:model")
    assert bad.exit_code == 1 and "unknown provider 'ghost'" in bad.stderr
    literal = gate(cfg, "providers", "add", "c", "--url", "http://127.0.0.1:1/v1", "--api-key", "sk-raw")
    assert literal.exit_code == 1 and "env:NAME" in literal.stderr and "sk-raw" not in literal.stderr
    dup = gate(cfg, "providers", "add", "builtin", "--kind", "llamacpp", "--model", "x.gguf")
    assert dup.exit_code == 1 and "exists already" in dup.stderr
    assert cfg.read_text() == before


def test_config_check(cfg, monkeypatch):
    ok = gate(cfg, "config", "check")
    assert ok.exit_code == 0 and "ok" in ok.stdout
    cfg.write_text(cfg.read_text().replace("port = 4000", "port = 'four thousand'"))
    bad = gate(cfg, "config", "check")
    assert bad.exit_code == 1
    assert str(cfg) in bad.stderr and "server.port" in bad.stderr and "Expected `int`" in bad.stderr
    served = gate(cfg, "serve")
    assert served.exit_code == 1 and "server.port" in served.stderr


def test_config_check_resolves_secret_references_without_printing_them(cfg, monkeypatch):
    gate(cfg, "providers", "add", "cloud", "--url", "https://api.example.com/v1", "--api-key", "env:CLOUD_KEY",
         "--locality", "cloud")
    missing = gate(cfg, "config", "check")
    assert missing.exit_code == 1 and "CLOUD_KEY is not set" in missing.stderr
    monkeypatch.setenv("CLOUD_KEY", "sk-very-secret")
    ok = gate(cfg, "config", "check")
    assert ok.exit_code == 0 and "sk-very-secret" not in ok.output


def test_config_is_found_by_env_and_default(cfg, monkeypatch, tmp_path):
    monkeypatch.setenv("GATE_CONFIG", str(cfg))
    assert runner.invoke(app, ["config", "check"]).exit_code == 0
    monkeypatch.delenv("GATE_CONFIG")
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["config", "check"]).exit_code == 0  # ./gateway.toml
    monkeypatch.chdir(ROOT / "tests")
    missing = runner.invoke(app, ["config", "check"])
    assert missing.exit_code == 1 and "config file not found" in missing.stderr


def test_spend_on_an_empty_ledger(cfg):
    out = gate(cfg, "spend", "--json")
    assert out.exit_code == 0 and json.loads(out.stdout) == []
    bad = gate(cfg, "spend", "--by", "colour")
    assert bad.exit_code == 1 and "cannot group by" in bad.stderr
    assert gate(cfg, "spend", "--since", "yesterday").exit_code == 2


def test_remote_mode_needs_a_token(cfg):
    out = runner.invoke(app, ["--url", "http://127.0.0.1:9", "keys", "list"])
    assert out.exit_code == 1 and "admin token" in out.stderr
    out = runner.invoke(app, ["--url", "http://127.0.0.1:9", "--admin-token", "t", "keys", "list"])
    assert out.exit_code == 1 and "cannot reach" in out.stderr


def test_egress_show_and_allow_cloud(cfg, monkeypatch):
    monkeypatch.setenv("CLOUD_KEY", "x")
    gate(cfg, "providers", "add", "cloud", "--url", "https://api.example.com/v1", "--api-key", "env:CLOUD_KEY",
         "--locality", "cloud")
    gate(cfg, "models", "add", "gpt", "--route", "cloud:gpt-4o-mini")
    shown = json.loads(gate(cfg, "egress", "show", "--json").stdout)
    assert shown == {"allow_cloud": False, "keys_default": False, "cloud_providers": ["cloud"],
                     "cloud_only_models": ["gpt"]}
    assert gate(cfg, "egress", "allow-cloud", "on").exit_code == 0
    assert load_settings(cfg).egress.allow_cloud is True
    assert gate(cfg, "egress", "allow-cloud", "off").exit_code == 0
    assert load_settings(cfg).egress.allow_cloud is False
    assert gate(cfg, "egress", "allow-cloud", "maybe").exit_code == 1
    key = json.loads(gate(cfg, "keys", "create", "--name", "c", "--allow-cloud", "--json").stdout)
    assert key["allow_cloud"] is True


def test_keys_with_guardrails_and_sensitive(cfg):
    text = cfg.read_text() + '\n[guardrails.policies.strict]\npii_action = "block"\n'
    cfg.write_text(text)
    info = json.loads(gate(cfg, "keys", "create", "--name", "hr", "--sensitive", "--guardrails", "strict",
                           "--json").stdout)
    assert info["sensitive"] is True and info["guardrails"] == "strict"
    bad = gate(cfg, "keys", "create", "--name", "x", "--guardrails", "lenient")
    assert bad.exit_code == 1 and "no guardrail policy 'lenient'" in bad.stderr


def test_a_bad_guardrail_pattern_stops_the_config(cfg):
    cfg.write_text(cfg.read_text() + '\n[guardrails]\ncustom = { ticket = "(unclosed" }\n')
    bad = gate(cfg, "config", "check")
    assert bad.exit_code == 1 and "guardrails" in bad.stderr and "invalid regex" in bad.stderr
