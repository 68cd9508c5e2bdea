"""The one SQLite file: connections, WAL, sqlite-vec, migrations.

apsw is the binding: this machine's stdlib sqlite3 cannot load extensions, and apsw ships
its own SQLite everywhere. The stdlib module is never used for this file, so vec0 is never
loaded into two SQLite libraries in one process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import apsw
import sqlite_vec

from server.core.errors import GateError
from server.store.migrations import MIGRATIONS


class StoreError(GateError):
    """The SQLite file cannot be opened or is not usable."""


def connect(path: str | Path, *, busy_timeout_ms: int = 5000, migrate: bool = True,
            checkpoints: bool = True) -> apsw.Connection:
    """Open the file in WAL mode with sqlite-vec loaded; apply pending migrations.

    checkpoints=False leaves WAL checkpoints to other connections (the request path's
    connection does, so a checkpoint's fsync never blocks the event loop)."""
    path = str(path)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = apsw.Connection(path)
    except apsw.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    conn.setbusytimeout(busy_timeout_ms)
    try:
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
    except apsw.Error as exc:
        raise StoreError(f"cannot load sqlite-vec into {path}: {exc}") from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        if not checkpoints:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        if migrate:
            apply_migrations(conn)
    except (apsw.CorruptError, apsw.NotADBError, apsw.CantOpenError, apsw.ReadOnlyError) as exc:
        conn.close()
        raise StoreError(f"database {path} is not usable: {exc}") from None
    return conn


@contextmanager
def immediate(conn: apsw.Connection) -> Iterator[apsw.Connection]:
    """One BEGIN IMMEDIATE transaction: the write lock is taken first (the busy timeout
    applies), so concurrent processes serialize instead of failing on a stale snapshot."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def vec_version(conn: apsw.Connection) -> str:
    return conn.execute("SELECT vec_version()").fetchone()[0]


def applied_migrations(conn: apsw.Connection) -> list[str]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations("
        "name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    return [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY rowid")]


def apply_migrations(conn: apsw.Connection) -> list[str]:
    """Apply, in order, every named migration the file has not recorded yet.

    Runs under BEGIN IMMEDIATE so several processes starting at once apply each one once.
    """
    applied: list[str] = []
    with immediate(conn):
        done = set(applied_migrations(conn))
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)", (name, time.time())
            )
            applied.append(name)
    return applied


def integrity_ok(conn: apsw.Connection) -> bool:
    return conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
