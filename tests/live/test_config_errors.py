"""A change the running gateway cannot apply never blocks the ones after it.

The README's own example (`providers add cloud ... --api-key env:OPENAI_API_KEY`) on a
gateway whose environment lacks the variable used to make every later reload fail ("cannot
apply the new configuration"), so `models add` was silently not applied either.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request

import openai
import pytest

from tests.live.conftest import ADMIN_TOKEN, Gate, live_config

UNSET = "GATE_TEST_NEVER_SET_SECRET"


def get_json(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def server(tmp_path, fake_upstream, monkeypatch):
    monkeypatch.delenv(UNSET, raising=False)
    gate = Gate(tmp_path / "gw", "")
    # [server] port is where `gate doctor` looks for the running gateway.
    gate.config.write_text(live_config(fake_upstream.url).replace("[server]\n", f"[server]\nport = {gate.port}\n", 1))
    gate.key = gate.create_key("reload")
    gate.start()
    yield gate
    gate.stop()


def test_an_unresolvable_secret_leaves_one_provider_out_and_the_next_change_applies(server):
    added = server.cli("providers", "add", "cloud", "--url", "https://api.openai.com/v1",
                       "--api-key", f"env:{UNSET}", "--locality", "cloud")  # exit 0 (cli() checks)
    assert "warning:" in added.stderr and UNSET in added.stderr
    server.cli("models", "add", "later", "--route", "fake:ok")

    with server.client(server.key) as client:
        deadline = time.monotonic() + 15
        while True:
            try:
                reply = client.chat.completions.create(model="later", messages=[{"role": "user", "content": "hi"}])
                break
            except openai.NotFoundError:
                if time.monotonic() > deadline:
                    pytest.fail(f"`models add later` was never applied\n{server.stderr()}")
                time.sleep(0.2)
        assert reply.choices[0].message.content
        assert client.chat.completions.create(model="ok", messages=[{"role": "user", "content": "hi"}])

    status, ready = get_json(server.base_url + "/health/ready")
    assert status == 200 and ready["status"] == "ready", ready
    assert "provider 'cloud'" in ready["config_error"] and UNSET in ready["config_error"]
    status, stats = get_json(server.base_url + "/admin/stats", ADMIN_TOKEN)
    assert status == 200 and stats["config_error"] == ready["config_error"]  # gate top's status bar
    status, providers = get_json(server.base_url + "/admin/providers", ADMIN_TOKEN)
    cloud = next(p for p in providers if p["name"] == "cloud")
    assert cloud["ok"] is False and UNSET in cloud["detail"]

    cwd, env = server.serve_env()
    doctor = subprocess.run([*server.program, "-c", str(server.config), "doctor", "--json"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert doctor.returncode == 1
    assert checks["gateway"]["status"] == "fail" and "provider 'cloud'" in checks["gateway"]["detail"]

    # Fixed by the operator: the provider goes, and the gateway says all of it applies again.
    server.cli("providers", "remove", "cloud")
    deadline = time.monotonic() + 15
    while get_json(server.base_url + "/health/ready")[1]["config_error"] is not None:
        assert time.monotonic() < deadline, server.stderr()
        time.sleep(0.2)
    assert "Traceback" not in server.stderr()


def test_an_invalid_file_is_reported_until_a_valid_one_applies(server):
    text = server.config.read_text()
    server.config.write_text(text + "\n[models.broken]\nroute = 'not a list'\n")
    deadline = time.monotonic() + 15
    while not get_json(server.base_url + "/health/ready")[1]["config_error"]:
        assert time.monotonic() < deadline, server.stderr()
        time.sleep(0.2)
    status, ready = get_json(server.base_url + "/health/ready")
    assert status == 200 and "models.broken" in ready["config_error"]
    server.config.write_text(text + "\n[models.fixed]\nroute = ['fake:ok']\n")
    deadline = time.monotonic() + 15
    while get_json(server.base_url + "/health/ready")[1]["config_error"] is not None:
        assert time.monotonic() < deadline, server.stderr()
        time.sleep(0.2)
