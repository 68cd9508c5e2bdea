"""gate backup / restore through SQLite's online backup API, with a live gateway under load."""

from __future__ import annotations

import threading
import time

import apsw
import pytest

from tests.bundles.conftest import gate_process
from tests.fake_upstream import FakeUpstream
from tests.live.conftest import Gate, live_config


@pytest.fixture(scope="module")
def fake():
    upstream = FakeUpstream().start_in_thread()
    yield upstream
    upstream.stop_thread()


def counts(path) -> tuple[str, int, int]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return (conn.execute("PRAGMA quick_check").fetchone()[0],
                conn.execute("SELECT count(*) FROM ledger").fetchone()[0],
                conn.execute("SELECT count(*) FROM keys").fetchone()[0])
    finally:
        conn.close()


def test_backup_while_serving_under_load_then_restore(tmp_path, fake):
    server = Gate(tmp_path / "site", live_config(fake.url))
    key = server.create_key("load")
    server.start()
    stop = threading.Event()
    sent = []

    def load():
        client = server.client(key)
        while not stop.is_set():
            client.chat.completions.create(model="ok", messages=[{"role": "user", "content": "hi"}])
            sent.append(1)

    workers = [threading.Thread(target=load) for _ in range(4)]
    try:
        for w in workers:
            w.start()
        while len(sent) < 50:
            time.sleep(0.05)
        backups = []
        for i in range(3):
            path = tmp_path / f"backup-{i}.db"
            result = server.cli("backup", str(path))
            assert "quick_check ok" in result.stdout
            backups.append(path)
            time.sleep(0.3)
        assert server.alive
        before = len(sent)
        time.sleep(0.3)
        assert len(sent) > before  # still serving during and after the backups
        for path in backups:
            check, ledger, keys = counts(path)
            assert check == "ok" and ledger > 0 and keys == 1
            assert not path.with_name(path.name + "-wal").exists()  # one self-contained file
        # Each backup is a snapshot: later ones hold at least as many rows.
        rows = [counts(p)[1] for p in backups]
        assert rows == sorted(rows) and rows[-1] > rows[0]

        # Restore refuses while the gateway has the file open, and names it.
        refused = gate_process("-c", server.config, "restore", backups[0])
        assert refused.returncode == 1
        assert "is open in another process (pid " in refused.stderr and ": gate serve" in refused.stderr, refused.stderr
        assert "--force" in refused.stderr
        # Overwriting an existing backup needs --force too.
        again = gate_process("-c", server.config, "backup", backups[0])
        assert again.returncode == 1 and "exists" in again.stderr
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=30)
        server.stop()
    live_rows = counts(server.db_path)[1]
    assert live_rows >= rows[-1]
    restored = gate_process("-c", server.config, "restore", backups[0])
    assert restored.returncode == 0, restored.stderr
    check, ledger, keys = counts(server.db_path)
    assert check == "ok" and ledger == rows[0] and keys == 1
    saved = server.db_path.with_name("gate.db.before-restore")
    assert counts(saved)[1] == live_rows  # what was replaced is kept beside it
    # The restored file serves again.
    server.start()
    try:
        reply = server.client(key).chat.completions.create(model="ok", messages=[{"role": "user", "content": "x"}])
        assert reply.choices[0].message.content
    finally:
        server.stop()


def test_restore_with_force_while_serving(tmp_path, fake):
    server = Gate(tmp_path / "site", live_config(fake.url))
    key = server.create_key("first")
    snapshot = tmp_path / "one-key.db"
    server.cli("backup", str(snapshot))
    server.create_key("second")
    server.start()
    try:
        forced = gate_process("-c", server.config, "restore", "--force", snapshot)
        assert forced.returncode == 0, forced.stderr
        assert "--force" in forced.stdout
        assert counts(server.db_path)[2] == 1
        # The running gateway reads the restored file: the first key still works.
        reply = server.client(key).chat.completions.create(model="ok", messages=[{"role": "user", "content": "x"}])
        assert reply.choices[0].message.content
    finally:
        server.stop()


def test_restore_refuses_what_is_not_a_gate_backup(tmp_path, fake):
    server = Gate(tmp_path / "site", live_config(fake.url))
    server.create_key("x")
    junk = tmp_path / "junk.db"
    conn = apsw.Connection(str(junk))
    conn.execute("CREATE TABLE t(x)")
    conn.close()
    result = gate_process("-c", server.config, "restore", junk)
    assert result.returncode == 1 and "not a gate database" in result.stderr
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"x" * 10000)
    result = gate_process("-c", server.config, "restore", garbage)
    assert result.returncode == 1 and "not a readable SQLite database" in result.stderr
