"""Smoke test of the built one-folder binary (scripts/build-binary; scripts/smoke-binary runs
this file). Skipped when no binary is built: the default test run stays fast."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from bundles import build_dir
from tests.bundles.conftest import gate_process
from tests.fake_upstream import FakeUpstream
from tests.live.conftest import Gate, live_config

BINARY = build_dir() / "gate"

pytestmark = pytest.mark.skipif(
    not (BINARY.is_file() and os.access(BINARY, os.X_OK)),
    reason=f"no built binary at {BINARY}: run scripts/build-binary (or scripts/smoke-binary)")


class BinaryGate(Gate):
    """tests/live's Gate, run through the frozen executable instead of python -m cli."""

    program = (str(BINARY),)

    def serve_env(self) -> tuple[Path, dict[str, str]]:
        # Away from the source tree, and nothing of the developer's GATE_* settings.
        return self.dir, {k: v for k, v in os.environ.items() if not k.startswith("GATE_")} | {"GATE_TEST_ADMIN": "x"}


@pytest.fixture(scope="module")
def fake():
    upstream = FakeUpstream().start_in_thread()
    yield upstream
    upstream.stop_thread()


def test_binary_starts_fast():
    started = time.perf_counter()
    result = subprocess.run([str(BINARY), "--help"], capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0 and "bundles" in result.stdout and "doctor" in result.stdout
    print(f"\nbinary --help: {elapsed:.2f} s")
    assert elapsed < 10


def test_binary_serves_a_chat_completion_on_two_workers(tmp_path, fake):
    server = BinaryGate(tmp_path / "site", live_config(fake.url), workers=2)
    key = server.create_key("smoke")
    server.start()
    try:
        client = server.client(key)
        for _ in range(4):
            reply = client.chat.completions.create(model="ok", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "Hello from the fake upstream."
        stream = client.chat.completions.create(model="ok", stream=True,
                                                messages=[{"role": "user", "content": "hi"}])
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == \
            "Hello from the fake upstream."
        workers = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()
        assert len(workers) == 2, workers
        deadline = time.monotonic() + 10
        while len(server.ledger_rows()) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(server.ledger_rows()) == 5  # both workers write the one file
    finally:
        assert server.stop() is not None


def test_binary_bundles_and_doctor(tmp_path, fake, recipe):
    run = lambda *a: gate_process(*a, cmd=[str(BINARY)], timeout=300)  # noqa: E731
    assert run("bundles", "keygen", "--out", tmp_path / "keys").returncode == 0
    out = tmp_path / "with-binary.gate"
    made = run("bundles", "create", "--recipe", recipe, "--key", tmp_path / "keys/gate-bundle.key",
               "--out", out, "--binary", BINARY.parent)
    assert made.returncode == 0, made.stderr
    verified = run("bundles", "verify", out, "--pubkey", tmp_path / "keys/gate-bundle.pub", "--json")
    assert verified.returncode == 0, verified.stderr
    result = json.loads(verified.stdout)
    print(f"\nverify: {result['bytes'] / 1e6:.0f} MB in {result['seconds']} s = {result['mb_per_s']} MB/s")
    assert result["ok"] and result["files"] > 100
    into = tmp_path / "site"
    installed = run("bundles", "install", out, "--pubkey", tmp_path / "keys/gate-bundle.pub", "--into", into)
    assert installed.returncode == 0, installed.stderr
    # The installed binary runs from its release folder.
    again = subprocess.run([str(into / "current/bin/gate/gate"), "--help"], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0 and "doctor" in again.stdout
    cfg = tmp_path / "doctor.toml"
    cfg.write_text(live_config(fake.url).replace('[admin]\ntoken = "env:GATE_TEST_ADMIN"\n', ""))
    doctor = run("-c", cfg, "doctor", "--json")
    assert json.loads(doctor.stdout)["checks"][0]["status"] == "pass", doctor.stdout
