"""The admin API over HTTP, driven by the CLI's --url mode against the live gateway."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import openai
import pytest

from tests.live.conftest import ADMIN_TOKEN, _env


def remote(gate, *args: str, token: str | None = ADMIN_TOKEN) -> subprocess.CompletedProcess:
    env = _env()
    if token:
        env["GATE_ADMIN_TOKEN"] = token
    # No --config: --url alone must be enough to manage a gateway on another host.
    return subprocess.run([sys.executable, "-m", "cli", "--url", gate.base_url, *args],
                          cwd="/", env=env, capture_output=True, text=True, timeout=60)


def test_keys_lifecycle_over_the_admin_api(gate):
    created = remote(gate, "keys", "create", "--name", "remote-app", "--models", "ok", "--json")
    assert created.returncode == 0, created.stderr
    secret = json.loads(created.stdout)["key"]
    client = gate.client(secret)
    assert client.chat.completions.create(model="ok", messages=[{"role": "user", "content": "x"}])

    listed = json.loads(remote(gate, "keys", "list", "--json").stdout)
    mine = [k for k in listed if k["name"] == "remote-app"]
    assert mine and mine[0]["models"] == ["ok"] and "key" not in mine[0]
    assert secret not in remote(gate, "keys", "list", "--json").stdout

    rotated = json.loads(remote(gate, "keys", "rotate", "remote-app", "--json").stdout)["key"]
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert gate.client(rotated).models.list().data

    assert remote(gate, "keys", "revoke", "remote-app").returncode == 0
    with pytest.raises(openai.AuthenticationError):
        gate.client(rotated).models.list()
    shown = json.loads(remote(gate, "keys", "show", "remote-app", "--json").stdout)
    assert shown["status"] == "revoked"


def test_spend_and_providers_over_the_admin_api(gate, client):
    client.chat.completions.create(model="ok", messages=[{"role": "user", "content": "x"}])
    lines = json.loads(remote(gate, "spend", "--by", "model", "--json").stdout)
    assert any(line["group"] == "ok" and line["requests"] >= 1 for line in lines)
    providers = json.loads(remote(gate, "providers", "list", "--json").stdout)
    by_name = {p["name"]: p for p in providers}
    assert by_name["fake"]["ok"] is True
    assert by_name["down"]["ok"] is False
    assert by_name["builtin"]["ok"] is True


def test_admin_api_refuses_a_wrong_token(gate):
    result = remote(gate, "keys", "list", token="wrong")
    assert result.returncode == 1
    assert "401" in result.stderr and "Invalid admin token" in result.stderr
    request = urllib.request.Request(gate.base_url + "/admin/keys",
                                     headers={"Authorization": "Bearer sk-gate-not-admin"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 401
    assert json.loads(err.value.read())["error"]["type"] == "authentication_error"


def test_unknown_model_for_a_new_key_is_refused(gate):
    result = remote(gate, "keys", "create", "--name", "bad-models", "--models", "nope")
    assert result.returncode == 1 and "unknown models: nope" in result.stderr

