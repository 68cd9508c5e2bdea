"""gate backup / gate restore: the one SQLite file through SQLite's online backup API.

Backup is safe while gateways serve: the file is in WAL mode, so the backup's one read
transaction sees a consistent snapshot and never blocks their writes (it is copied in one
step: a stepped copy would restart each time a gateway commits). The copy goes to a temp
file, passes PRAGMA quick_check, becomes a self-contained file (journal_mode=DELETE, no
-wal beside it) and is renamed into place.

Restore refuses while any process holds the database open (a running gateway, found
through /proc/*/fd): its caches and in-flight budget reservations would no longer match
the file. `--force` restores anyway (the backup API takes SQLite's locks, so the running
gateways see the restored data at their next transaction). The file being replaced is
first saved beside itself as <db>.before-restore.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import apsw
import typer

from cli.context import console, esc, fail, globals_, print_json
from server.store import db as store_db


def _copy(source: apsw.Connection, dest: apsw.Connection) -> None:
    with dest.backup("main", source, "main") as job:
        while not job.done:
            job.step(-1)


def _summary(conn: apsw.Connection) -> dict:
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name IN ('keys', 'ledger', 'schema_migrations')")]
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in sorted(tables)}


def _write_backup(source: apsw.Connection, path: Path) -> dict:
    """Back up into `path` via a temp file; returns the copy's row counts."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        dest = apsw.Connection(str(tmp))
        try:
            _copy(source, dest)
            if not store_db.integrity_ok(dest):
                fail(f"the copy of the database failed PRAGMA quick_check ({tmp})")
            dest.execute("PRAGMA journal_mode=DELETE")
            counts = _summary(dest)
        finally:
            dest.close()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            leftover.unlink(missing_ok=True)
    return counts


def backup(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The backup file to write.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Copy the SQLite file to PATH (online: gateways may keep serving)."""
    settings = globals_(ctx).settings()
    db_path = Path(settings.database.path)
    if not db_path.exists():
        fail(f"{db_path} does not exist")
    if path.exists() and not force:
        fail(f"{path} exists (--force overwrites it)")
    started = time.perf_counter()
    try:
        source = store_db.connect(db_path, busy_timeout_ms=settings.database.busy_timeout_ms, migrate=False)
    except store_db.StoreError as exc:
        fail(str(exc))
    try:
        counts = _write_backup(source, path)
    except apsw.Error as exc:
        fail(f"backup of {db_path} failed: {exc}")
    finally:
        source.close()
    result = {"database": str(db_path), "backup": str(path), "bytes": path.stat().st_size,
              "seconds": round(time.perf_counter() - started, 3), "rows": counts}
    if json_out:
        print_json(result)
    else:
        console.print(esc(f"backed up {db_path} to {path}: {result['bytes'] / 1e6:.1f} MB, "
                          f"{', '.join(f'{k} {v}' for k, v in counts.items())}, quick_check ok, "
                          f"{result['seconds']:.2f} s"), highlight=False)


def holders(db_path: Path) -> list[tuple[int, str]]:
    """Other processes that have the database (or its WAL) open: (pid, command line)."""
    names = {str(db_path.resolve()), str(db_path.resolve()) + "-wal"}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if links & names:
            try:
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                argv = ["?"]
            found.append((int(entry.name), "gate serve" if "serve" in argv else Path(argv[0]).name))
    return sorted(found)


def _open_backup(path: Path) -> apsw.Connection:
    try:
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        if not store_db.integrity_ok(conn):
            fail(f"{path} fails PRAGMA quick_check: not restoring it")
        if "schema_migrations" not in _summary(conn):
            fail(f"{path} is not a gate database (no schema_migrations table)")
        return conn
    except apsw.Error as exc:
        fail(f"{path} is not a readable SQLite database: {exc}")


def restore(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file made by `gate backup`.")],
    force: Annotated[bool, typer.Option(
        "--force", help="Restore even while a gateway has the database open.")] = False,
) -> None:
    """Replace the SQLite file's contents with a backup (the old file is kept as .before-restore)."""
    settings = globals_(ctx).settings()
    db_path = Path(settings.database.path)
    if not path.is_file():
        fail(f"{path} does not exist")
    running = holders(db_path) if db_path.exists() else []
    if running and not force:
        pids = ", ".join(f"pid {pid}: {cmd}" for pid, cmd in running)
        fail(f"{db_path} is open in another process ({pids}); stop the gateway first, "
             "or restore into the live file with --force")
    source = _open_backup(path)
    try:
        target = store_db.connect(db_path, busy_timeout_ms=settings.database.busy_timeout_ms, migrate=False)
        try:
            if _summary(target):
                _write_backup(target, db_path.with_name(db_path.name + ".before-restore"))
            _copy(source, target)
            target.execute("PRAGMA journal_mode=WAL")
            if not store_db.integrity_ok(target):
                fail(f"{db_path} fails PRAGMA quick_check after the restore; "
                     f"the previous file is {db_path.name}.before-restore")
            counts = _summary(target)
        finally:
            target.close()
    except (apsw.Error, store_db.StoreError) as exc:
        fail(f"restore into {db_path} failed: {exc}")
    finally:
        source.close()
    console.print(esc(f"restored {db_path} from {path}: {', '.join(f'{k} {v}' for k, v in counts.items())}"
                      + (f" (while {len(running)} process(es) had it open: --force)" if running else "")),
                  highlight=False)
