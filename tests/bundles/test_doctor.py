"""gate doctor: every check against real files and real processes; --airgap's socket audit."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli.doctor import airgap, sockets
from cli.doctor.site_config import load, parse_allow
from tests.bundles.conftest import gate
from tests.fake_upstream import FakeUpstream


def config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(textwrap.dedent(f"""
        [database]
        path = "gate.db"

        [cache]
        semantic = false

        [providers.fake]
        kind = "openai"
        url = "{url}"
        connect_timeout_s = 1.0

        [models.ok]
        route = ["fake:ok"]
        """) + textwrap.dedent(extra))
    return path


@pytest.fixture(scope="module")
def fake():
    upstream = FakeUpstream().start_in_thread()
    yield upstream
    upstream.stop_thread()


def doctor(cfg: Path, *args: str):
    result = gate("--config", cfg, "doctor", "--json", *args)
    return result.exit_code, {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def test_a_ready_site_passes(tmp_path, fake, clean_env):
    cfg = config(tmp_path, fake.url)
    assert gate("--config", cfg, "keys", "create", "--name", "x").exit_code == 0  # makes the file
    code, checks = doctor(cfg)
    assert code == 0, checks
    assert checks["config"]["status"] == "pass"
    assert checks["database"]["status"] == "pass" and "quick_check ok" in checks["database"]["detail"]
    assert checks["sqlite-vec"]["status"] == "pass" and "v0.1" in checks["sqlite-vec"]["detail"]
    assert checks["upstream fake"]["status"] == "pass"
    assert checks["embedder"]["status"] == "skip"
    # the CPU code llama.cpp loaded for this host (the build carries one per x86-64 level)
    assert checks["llama.cpp"]["status"] == "pass" and "AVX" in checks["llama.cpp"]["detail"]
    assert any(name.startswith("disk") and c["status"] == "pass" for name, c in checks.items())


def test_doctor_builds_a_missing_embedder(tmp_path, fake, clean_env, monkeypatch):
    # Serving only loads the embedder; the set-up and `gate doctor` build it.
    models = tmp_path / "models"
    monkeypatch.setenv("GATE_MODELS_DIR", str(models))
    cfg = config(tmp_path, fake.url)
    cfg.write_text(cfg.read_text().replace("semantic = false", "semantic = true"))
    code, checks = doctor(cfg)
    assert checks["embedder"]["status"] == "pass", checks["embedder"]
    assert "all-minilm-l6-v2-q8_0.gguf (built now)" in checks["embedder"]["detail"]
    assert (models / "all-minilm-l6-v2-q8_0.gguf").is_file()
    code, checks = doctor(cfg)  # the second time it is there already
    assert checks["embedder"]["status"] == "pass" and "built now" not in checks["embedder"]["detail"]


def test_an_unreachable_upstream_fails(tmp_path, clean_env):
    code, checks = doctor(config(tmp_path, "http://127.0.0.1:9/v1"))
    assert code == 1 and checks["upstream fake"]["status"] == "fail"
    assert checks["database"]["status"] == "warn"  # not created yet


def test_a_corrupt_database_fails(tmp_path, fake, clean_env):
    cfg = config(tmp_path, fake.url)
    assert gate("--config", cfg, "keys", "create", "--name", "x").exit_code == 0
    db = tmp_path / "gate.db"
    subprocess.run([sys.executable, "-c", f"import apsw; c=apsw.Connection({str(db)!r}); "
                    "c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.execute('PRAGMA journal_mode=DELETE')"],
                   check=True)
    raw = bytearray(db.read_bytes())
    page = 4096
    for i in range(2 * page, len(raw) - page, page):  # scribble over every b-tree page header
        raw[i:i + 8] = b"\xff" * 8
    db.write_bytes(raw)
    code, checks = doctor(cfg)
    assert code == 1 and checks["database"]["status"] == "fail", checks["database"]


def test_an_invalid_config_fails_with_the_key(tmp_path, clean_env):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text("[server]\nport = 'x'\n")
    code, checks = doctor(cfg)
    assert code == 1 and checks["config"]["status"] == "fail" and "server.port" in checks["config"]["detail"]


def test_the_human_table(tmp_path, fake, clean_env):
    result = gate("--config", config(tmp_path, fake.url), "doctor")
    assert result.exit_code == 0
    assert "upstream fake" in result.output and "ready" in result.output


# -- --airgap ----------------------------------------------------------------------------

def test_allowlist_parsing():
    allow = parse_allow(["127.0.0.0/8", "10.0.0.0/8", "fd00::/8", "gpu1.site.local", "*.lab.site"])
    assert allow.allows_ip("10.1.2.3") and allow.allows_ip("fd00::5") and not allow.allows_ip("8.8.8.8")
    assert allow.allows_name("gpu1.site.local") and allow.allows_name("x.lab.site")
    assert not allow.allows_name("evil.com") and not allow.allows_name("lab.site.evil.com")
    with pytest.raises(ValueError, match="neither a network"):
        parse_allow(["not a host!"])


def test_airgap_needs_an_allowlist(tmp_path, fake, clean_env):
    code, checks = doctor(config(tmp_path, fake.url), "--airgap")
    assert code == 1 and "no [airgap] allow" in checks["airgap allowlist"]["detail"]


def test_airgap_refuses_a_destination_outside_the_allowlist(tmp_path, fake, clean_env):
    cfg = config(tmp_path, "http://192.0.2.77:8000/v1", """
        [budgets]
        webhook = "http://hooks.example.invalid/x"

        [airgap]
        allow = ["127.0.0.0/8", "10.0.0.0/8"]
        """)
    loaded = load(cfg)
    assert loaded.settings is not None and loaded.allow is not None
    checks = {}
    for where, url in airgap.destinations(loaded.settings):
        check, _ = airgap.check_destination(where, url, loaded.allow)
        checks[check.name] = check
    assert checks["airgap providers.fake.url"].status == "fail"
    assert "192.0.2.77" in checks["airgap providers.fake.url"].detail
    assert checks["airgap budgets.webhook"].status == "fail"


def test_airgap_passes_a_loopback_site_with_a_live_audit(tmp_path, fake, clean_env):
    """A real `gate serve` answers test traffic; its sockets reach only loopback."""
    cfg = config(tmp_path, fake.url, """
        [airgap]
        allow = ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "gpu1.site.local"]
        """)
    code, checks = doctor(cfg, "--airgap")
    assert checks["airgap allowlist"]["status"] == "pass"
    assert checks["airgap providers.fake.url"]["status"] == "pass"
    assert "GET /health/ready 200" in checks["airgap traffic"]["detail"], checks["airgap traffic"]
    assert checks["airgap sockets"]["status"] == "pass", checks["airgap sockets"]
    assert f"127.0.0.1:{fake.port}" not in checks["airgap sockets"]["detail"]  # loopback: not listed
    assert code == 0 or checks["airgap traffic"]["status"] == "warn", checks
    assert not (tmp_path / "gate.db").exists()  # the audit served from its own scratch file


def _host_ip() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outgoing address
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") else ip


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self):
        self._answer(b'{"object": "list", "data": [{"id": "ok"}]}')

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(b'{"id": "x", "object": "chat.completion", "model": "ok", "choices": [{"index": 0, '
                     b'"message": {"role": "assistant", "content": "OK"}, "finish_reason": "stop"}], '
                     b'"usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}')

    def _answer(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_audit_sees_a_connection_to_a_non_loopback_address(tmp_path, clean_env):
    """An upstream on this host's own network address: the audit records the connection,
    and reports it as unexpected when it is not a configured destination."""
    ip = _host_ip()
    if ip is None:
        pytest.skip("this host has no non-loopback IPv4 address")
    server = ThreadingHTTPServer((ip, 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        cfg = config(tmp_path, f"http://{ip}:{port}/v1", f"""
            [airgap]
            allow = ["127.0.0.0/8", "{ip}/32"]
            """)
        loaded = load(cfg)
        result = airgap.audit(loaded)
        assert result.ready and result.answers["chat ok"] == 200, result
        assert any(r.ip == ip and r.port == port for r in result.seen), result.seen
        assert result.unexpected({(ip, port)}) == []
        unexpected = result.unexpected(set())
        assert unexpected and all(r.ip == ip and r.port == port for r in unexpected), unexpected
    finally:
        server.shutdown()


def test_snapshot_sees_a_child_process_connection(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import socket, subprocess, sys, time
        s = socket.create_connection(("127.0.0.1", {port}))
        # a grandchild holding a UDP socket 'connected' to another address
        g = subprocess.Popen([sys.executable, "-c",
            "import socket,time; u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "u.connect(('127.0.0.2', 5353)); print('ok', flush=True); time.sleep(30)"],
            stdout=subprocess.PIPE)
        g.stdout.readline()
        print("ready", flush=True)
        time.sleep(30)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        seen = sockets.snapshot(child.pid)
        assert sockets.Remote("tcp", "127.0.0.1", port) in seen
        assert sockets.Remote("udp", "127.0.0.2", 5353) in seen
        assert all(r.port != 0 for r in seen)
    finally:
        child.kill()
        child.wait()
        listener.close()
