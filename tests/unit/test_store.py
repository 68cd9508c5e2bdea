"""The one SQLite file: WAL, sqlite-vec, migrations, keys and the ledger."""

from __future__ import annotations

import asyncio
import time

import apsw
import pytest

from server.store import db
from server.store import keys as key_store
from server.store import ledger as ledger_store
from server.store.ledger_writer import LedgerWriter
from server.store.migrations import MIGRATIONS


def test_wal_mode_and_sqlite_vec(conn):
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.vec_version(conn).startswith("v0.")
    assert db.integrity_ok(conn)


def test_migrations_are_named_ordered_and_applied_once(tmp_path):
    path = tmp_path / "gate.db"
    first = db.connect(path)
    assert db.applied_migrations(first) == [name for name, _ in MIGRATIONS]
    second = db.connect(path)  # a second process opening the same file
    assert db.apply_migrations(second) == []
    assert db.applied_migrations(second) == [name for name, _ in MIGRATIONS]
    first.close()
    second.close()


def test_migration_names_are_unique_and_sorted():
    names = [name for name, _ in MIGRATIONS]
    assert names == sorted(names) and len(set(names)) == len(names)


def test_a_failed_migration_leaves_nothing_half_done(tmp_path, monkeypatch):
    import server.store.db as dbmod

    monkeypatch.setattr(dbmod, "MIGRATIONS", MIGRATIONS + [("9999_broken", "CREATE TABLE t(x); SELEC oops;")])
    with pytest.raises(apsw.SQLError):
        dbmod.connect(tmp_path / "gate.db")
    monkeypatch.setattr(dbmod, "MIGRATIONS", MIGRATIONS)
    conn = dbmod.connect(tmp_path / "gate.db")
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()[0] == 0


def test_keys_store_only_a_hash(conn, tmp_path):
    created = key_store.create_key(conn, "app", models=["b", "a"])
    assert created.key.startswith("sk-gate-") and len(created.key) > 40
    assert created.info.models == ["a", "b"] and created.info.status == "active"
    raw = (tmp_path / "gate.db").read_bytes()
    assert created.key.encode() not in raw
    stored = conn.execute("SELECT hash FROM keys").fetchone()[0]
    assert stored == key_store.hash_secret(created.key)


def test_authenticate(conn):
    created = key_store.create_key(conn, "app", models=["ok"])
    principal = key_store.authenticate(conn, created.key, time.time())
    assert principal is not None and principal.name == "app"
    assert principal.may_use("ok") and not principal.may_use("other")
    assert key_store.authenticate(conn, created.key + "x", time.time()) is None
    assert key_store.authenticate(conn, "", time.time()) is None


def test_expiry_revocation_and_rotation(conn):
    soon = key_store.create_key(conn, "soon", expires_at=time.time() + 60)
    assert key_store.authenticate(conn, soon.key, time.time()) is not None
    assert key_store.authenticate(conn, soon.key, time.time() + 61) is None

    app = key_store.create_key(conn, "app")
    rotated = key_store.rotate_key(conn, "app")
    assert rotated.key != app.key and rotated.info.id == app.info.id
    assert key_store.authenticate(conn, app.key, time.time()) is None
    assert key_store.authenticate(conn, rotated.key, time.time()) is not None

    revoked = key_store.revoke_key(conn, app.info.id)
    assert revoked.status == "revoked"
    assert key_store.authenticate(conn, rotated.key, time.time()) is None
    with pytest.raises(key_store.StoreRefused, match="revoked"):
        key_store.rotate_key(conn, "app")


def test_key_names_are_unique_and_lookups_clear(conn):
    key_store.create_key(conn, "app")
    with pytest.raises(key_store.StoreRefused, match="already exists"):
        key_store.create_key(conn, "app")
    with pytest.raises(key_store.StoreRefused, match="no key"):
        key_store.get_key(conn, "ghost")
    assert [k.name for k in key_store.list_keys(conn)] == ["app"]


def row(i: int, **kw) -> ledger_store.LedgerRow:
    base = dict(request_id=f"r{i}", ts=1_700_000_000.0 + i * 3600, key_id=None, endpoint="chat",
                alias="m", provider="p", status=200, input_tokens=10, output_tokens=5, cost=0.5)
    base.update(kw)
    return ledger_store.LedgerRow(**base)


def test_spend_groups(conn):
    k = key_store.create_key(conn, "team-a").info.id
    ledger_store.insert_rows(conn, [row(0, key_id=k), row(1, key_id=k, status=500, cost=0.0),
                                    row(30, alias="n", usage_estimated=True)])
    by_key = {line.group: line for line in ledger_store.spend(conn, "key")}
    assert by_key["team-a"].requests == 2 and by_key["team-a"].errors == 1
    assert by_key["-"].estimated == 1
    by_model = {line.group: line.input_tokens for line in ledger_store.spend(conn, "model")}
    assert by_model == {"m": 20, "n": 10}
    days = {d.group: d.requests for d in ledger_store.spend(conn, "day")}
    assert days == {"2023-11-14": 2, "2023-11-16": 1}
    assert ledger_store.spend(conn, "model", since=1_700_000_000.0 + 10 * 3600)[0].group == "n"
    with pytest.raises(ValueError, match="cannot group by"):
        ledger_store.spend(conn, "colour")


async def test_ledger_writer_batches_and_flushes_on_close(tmp_path):
    path = tmp_path / "gate.db"
    writer_conn = db.connect(path)
    writer = LedgerWriter(writer_conn, flush_interval_ms=60_000, batch_size=1000)
    writer.start()
    for i in range(250):
        writer.add(row(i))
    await asyncio.sleep(0.05)
    reader = db.connect(path)
    assert ledger_store.count_rows(reader) == 0  # nothing written on the request path
    await writer.close()
    assert ledger_store.count_rows(reader) == 250 and writer.written == 250


async def test_ledger_writer_writes_early_when_a_batch_is_full(tmp_path):
    path = tmp_path / "gate.db"
    writer = LedgerWriter(db.connect(path), flush_interval_ms=60_000, batch_size=10)
    writer.start()
    for i in range(10):
        writer.add(row(i))
    reader = db.connect(path)
    deadline = time.monotonic() + 5
    while ledger_store.count_rows(reader) < 10 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert ledger_store.count_rows(reader) == 10
    await writer.close()


def test_auth_cache_follows_changes_from_any_connection(tmp_path):
    from server.runtime.auth_cache import AuthCache

    path = tmp_path / "gate.db"
    worker, cli = db.connect(path), db.connect(path)
    created = key_store.create_key(cli, "app")
    cache = AuthCache()
    now = time.time()
    assert cache.principal(worker, created.key, now).name == "app"
    assert cache.principal(worker, created.key, now).name == "app" and cache.hits == 1
    key_store.revoke_key(cli, "app")  # another process revokes it
    assert cache.principal(worker, created.key, now) is None
    soon = key_store.create_key(cli, "soon", expires_at=now + 10)
    assert cache.principal(worker, soon.key, now) is not None
    assert cache.principal(worker, soon.key, now + 11) is None  # expiry is checked on hits too
    assert cache.principal(worker, "sk-gate-unknown", now) is None


def test_auth_version_moves_with_keys_teams_and_budgets(conn):
    from server.store import budgets as budget_store
    from server.store import teams as team_store

    seen = [key_store.auth_version(conn)]
    k = key_store.create_key(conn, "k")
    seen.append(key_store.auth_version(conn))
    team_store.create_team(conn, "t")
    seen.append(key_store.auth_version(conn))
    budget_store.set_budget(conn, "key", k.info.id, usd=1, tokens=None, period="daily", soft_pct=0.8)
    seen.append(key_store.auth_version(conn))
    ledger_store.insert_rows(conn, [row(1)])
    seen.append(key_store.auth_version(conn))
    assert seen[0] < seen[1] < seen[2] < seen[3] == seen[4]  # the ledger does not bump it
