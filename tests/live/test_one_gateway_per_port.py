"""One gateway per port: granian binds with SO_REUSEPORT, so without a check a second
`gate serve` on a port in use started, loaded its models and the kernel split the
connections between the two."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request

import pytest

from tests.live.conftest import BUILTIN, Gate, live_config


def test_a_second_gate_serve_on_a_port_in_use_exits_at_once(tmp_path, fake_upstream):
    first = Gate(tmp_path / "first", live_config(fake_upstream.url)).start()
    try:
        # The second one would load the built-in model; it must stop before that, and
        # before it opens (creates) its SQLite file.
        second = Gate(tmp_path / "second", live_config(fake_upstream.url, BUILTIN))
        cwd, env = second.serve_env()
        proc = subprocess.Popen([*second.program, "-c", str(second.config), "serve", "--host", "127.0.0.1",
                                 "--port", str(first.port)], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # it serves beside the first: stop it and its workers
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"a second gate serve kept running on port {first.port}:\n{out}\n{err}")
        assert proc.returncode != 0, out + err
        assert f"127.0.0.1:{first.port} is already in use" in err, err
        assert "Traceback" not in err and "Listening" not in out + err
        assert not second.db_path.exists()
        assert first.alive
        with urllib.request.urlopen(first.base_url + "/health/ready", timeout=5) as resp:
            assert resp.status == 200
    finally:
        first.stop()
    # Once it is gone the port is free again, though the served connections may linger in
    # TIME_WAIT: those are no conflict.
    from cli.commands.serve import port_taken

    assert port_taken("127.0.0.1", first.port) is None


def test_a_port_held_by_another_program_is_refused_too(tmp_path):
    import socket

    from cli.commands.serve import port_taken

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        reason = port_taken("127.0.0.1", port)
        assert reason is not None and "already in use" in reason
        assert port_taken("0.0.0.0", port) is not None  # the wildcard address overlaps it
