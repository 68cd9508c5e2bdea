"""`gate top` against a real gateway: `gate serve` as a process on 127.0.0.1, a fake upstream.

One gateway serves the whole TUI suite (starting one takes about a second); the restart
test stops and starts it on the same port. Every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import gateway_toml
from tests.fake_upstream import FakeUpstream, free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_VAR = "GATE_TUI_TEST_ADMIN"
ADMIN_TOKEN = "tui-admin-token"
READY_S = 30.0
STOP_S = 10.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GATE_DB", "GATE_ADMIN_TOKEN", "GATE_CONFIG", "GATE_URL")}
    env[ADMIN_VAR] = ADMIN_TOKEN
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Gateway:
    """One `gate serve` process, its config (admin token = env:GATE_TUI_TEST_ADMIN) and keys."""

    def __init__(self, directory: Path, upstream_url: str) -> None:
        self.dir = directory
        self.config = directory / "gateway.toml"
        text = gateway_toml(upstream_url).replace('token = "env:GATE_TEST_ADMIN"',
                                                  f'token = "env:{ADMIN_VAR}"')
        assert f"env:{ADMIN_VAR}" in text
        self.config.write_text(text)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.keys: dict[str, str] = {}

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "cli", "-c", str(self.config), *args], cwd=ROOT,
                              env=_env(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"gate {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def create_key(self, name: str, *extra: str) -> str:
        self.keys[name] = json.loads(self.cli("keys", "create", "--name", name, *extra, "--json"))["key"]
        return self.keys[name]

    def start(self) -> None:
        log = open(self.dir / "serve.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "-c", str(self.config), "serve", "--host", "127.0.0.1",
             "--port", str(self.port)], cwd=ROOT, env=_env(), stdout=log, stderr=log,
            stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"gate serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/health/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)  # not listening yet
                continue
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"gate serve was not ready within {READY_S} s:\n{self.log()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, STOP_S), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            proc.send_signal(sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def log(self) -> str:
        path = self.dir / "serve.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def chat(self, key: str, model: str = "ok") -> str:
        """One chat request; returns its request id (answered or refused)."""
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
        request = urllib.request.Request(self.url + "/v1/chat/completions", data=body, headers={
            "Authorization": f"Bearer {self.keys[key]}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.headers["x-gate-request-id"]
        except urllib.error.HTTPError as exc:
            return exc.headers["x-gate-request-id"]

    def admin(self, path: str):
        request = urllib.request.Request(self.url + "/admin" + path,
                                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def wait_recorded(self, request_ids: list[str], deadline_s: float = 10.0) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            seen = {r["request_id"] for r in self.admin("/requests?limit=200")}
            if seen >= set(request_ids):
                return
            time.sleep(0.05)
        pytest.fail(f"requests {request_ids} not in the ledger within {deadline_s} s")


@pytest.fixture(scope="session")
def upstream():
    fake = FakeUpstream(slow_seconds=1.0).start_in_thread()
    yield fake
    fake.stop_thread()


@pytest.fixture(scope="session")
def gateway(tmp_path_factory, upstream):
    """A running gateway with two keys (one with a budget) and some traffic in its ledger."""
    gw = Gateway(tmp_path_factory.mktemp("gate-top"), upstream.url)
    gw.create_key("tui-app", "--budget", "0.001")
    gw.create_key("tui-other")
    gw.start()
    try:
        ids = [gw.chat("tui-app") for _ in range(3)] + [gw.chat("tui-other", "failover"),
                                                        gw.chat("tui-other", "fail500")]
        gw.failover_id = ids[3]
        gw.wait_recorded(ids)
        yield gw
    finally:
        gw.stop()


# -- driving the app ---------------------------------------------------------------------
SIZE = (80, 24)
WAIT_S = 10.0


def screen_text(app) -> str:
    """The characters on the app's screen right now, one line per row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_until(pilot, predicate, what: str, deadline_s: float = WAIT_S) -> None:
    """Let the app run until `predicate()` holds; fail with the screen after the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():
            await pilot.pause()  # let the screen catch up with what the predicate saw
            return
        await pilot.pause(0.05)
    pytest.fail(f"not within {deadline_s} s: {what}\n--- screen ---\n{screen_text(pilot.app)}")


@pytest.fixture
def top(gateway):
    """TopApp for the test gateway; polls fast and retries fast so the suite stays short."""
    from cli.tui.app import TopApp

    def make(token: str = ADMIN_TOKEN, **kwargs) -> TopApp:
        kwargs.setdefault("interval", 0.25)
        kwargs.setdefault("retry_max_s", 0.5)
        return TopApp(gateway.url, token, **kwargs)

    return make


async def wait_for_screen(pilot, *needles: str, deadline_s: float = WAIT_S) -> str:
    """Let the app run until every needle is on the screen (painting lags the data a little)."""
    await wait_until(pilot, lambda: all(n in screen_text(pilot.app) for n in needles),
                     f"on the screen: {needles}", deadline_s)
    return screen_text(pilot.app)
