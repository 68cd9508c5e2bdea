"""gateway.toml: strict loading, clear errors, secret references, paths and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.core.settings import (
    ConfigError,
    LlamaCppProvider,
    OpenAIProvider,
    Secret,
    admin_token,
    config_path,
    load_settings,
    parse_settings,
    resolve_secret,
)

ROOT = Path(__file__).resolve().parents[2]


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_settings(text, "site.toml")
    return str(exc.value)


def test_the_default_gateway_toml_is_valid_and_offline():
    settings = load_settings(ROOT / "gateway.toml")
    assert settings.server.port == 4000
    assert isinstance(settings.providers["builtin"], LlamaCppProvider)
    assert settings.models["local"].route == ["builtin:gemma-3-270m"]
    assert all(not isinstance(p, OpenAIProvider) for p in settings.providers.values())


@pytest.mark.parametrize("text,where,what", [
    ("[server]\nport = 'x'", "server.port", "Expected `int`, got `str`"),
    ("[server]\nport = 70000", "server.port", "<= 65535"),
    ("[server]\nbogus = 1", "server", "unknown field `bogus`"),
    ("bogus = 1", "(top level)", "unknown field `bogus`"),
    ("[providers.a]\nkind = 'openai'\nurl = 'http://x'\ncolour = 1", "providers.a", "unknown field `colour`"),
    ("[providers.a]\nkind = 'grpc'", "providers.a.kind", "expected one of: openai, llamacpp"),
    ("[providers.a]\nurl = 'http://x'", "providers.a", "missing required field `kind`"),
    ("[providers.a]\nkind = 'openai'\nurl = 'ftp://x'", "providers.a.url", "http:// or https:// URL"),
    ("[models.m]\nroute = ['nocolon']", "models.m.route[0]", "'provider:upstream-model'"),
    ("[models.m]\nroute = ['ghost:x']", "models.m.route[0]", "unknown provider 'ghost'"),
    ("[models.m]\nroute = []", "models.m.route", "length >= 1"),
])
def test_errors_name_the_file_the_key_path_and_what_was_expected(text, where, what):
    message = error_of(text)
    assert message.startswith("site.toml: ")
    assert f"at key '{where}'" in message
    assert what in message


def test_malformed_toml_is_a_config_error():
    assert "not valid TOML" in error_of("[server\nport=1")


def test_a_literal_secret_is_refused_and_not_echoed():
    message = error_of("[providers.a]\nkind = 'openai'\nurl = 'http://x'\napi_key = 'sk-live-123'")
    assert "providers.a.api_key" in message and "env:NAME" in message
    assert "sk-live-123" not in message


def test_secret_references(tmp_path, monkeypatch):
    monkeypatch.setenv("UPSTREAM_KEY", "s3cret")
    secret = resolve_secret("env:UPSTREAM_KEY")
    assert secret.reveal() == "s3cret"
    assert "s3cret" not in repr(secret) and "s3cret" not in str(secret) and "s3cret" not in f"{secret}"
    (tmp_path / "k").write_text("from-file\n")
    assert resolve_secret(f"file:{tmp_path / 'k'}").reveal() == "from-file"
    monkeypatch.delenv("UPSTREAM_KEY")
    with pytest.raises(ConfigError, match="UPSTREAM_KEY is not set"):
        resolve_secret("env:UPSTREAM_KEY", "g.toml", "providers.a.api_key")
    with pytest.raises(ConfigError, match="cannot read secret file"):
        resolve_secret(f"file:{tmp_path / 'missing'}")


def test_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    monkeypatch.delenv("GATE_DB", raising=False)
    monkeypatch.chdir("/")
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "gateway.toml"
    path.write_text("[database]\npath = 'data/gate.db'\n[providers.m]\nkind = 'llamacpp'\nmodel = 'm.gguf'\n")
    settings = load_settings(path)
    assert settings.database.path == str(tmp_path / "conf" / "data" / "gate.db")
    assert settings.providers["m"].model == str(tmp_path / "conf" / "m.gguf")


def test_env_overrides(tmp_path, monkeypatch):
    path = tmp_path / "gateway.toml"
    path.write_text("[admin]\ntoken = 'env:MY_ADMIN'\n")
    monkeypatch.setenv("MY_ADMIN", "from-ref")
    monkeypatch.delenv("GATE_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("GATE_DB", raising=False)
    assert admin_token(load_settings(path)).reveal() == "from-ref"
    monkeypatch.setenv("GATE_ADMIN_TOKEN", "from-env")
    monkeypatch.setenv("GATE_DB", str(tmp_path / "other.db"))
    settings = load_settings(path)
    assert admin_token(settings).reveal() == "from-env"
    assert settings.database.path == str(tmp_path / "other.db")
    assert "from-env" not in repr(settings.admin) and isinstance(admin_token(settings), Secret)


def test_config_path_order(monkeypatch, tmp_path):
    monkeypatch.delenv("GATE_CONFIG", raising=False)
    assert config_path(None) == Path("gateway.toml")
    monkeypatch.setenv("GATE_CONFIG", "/etc/gate/site.toml")
    assert config_path(None) == Path("/etc/gate/site.toml")
    assert config_path(tmp_path / "x.toml") == tmp_path / "x.toml"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_settings_are_frozen():
    settings = parse_settings("")
    with pytest.raises(AttributeError):
        settings.server.port = 1  # type: ignore[misc]
