"""Teams: a key may belong to one; a team's budget applies to all its keys together."""

from __future__ import annotations

import secrets
import time

import apsw
import msgspec

from server.store.keys import StoreRefused


class TeamInfo(msgspec.Struct):
    id: str
    name: str
    created_at: float
    keys: int


def create_team(conn: apsw.Connection, name: str) -> TeamInfo:
    tid = "team_" + secrets.token_hex(5)
    try:
        conn.execute("INSERT INTO teams(id, name, created_at) VALUES (?, ?, ?)", (tid, name, time.time()))
    except apsw.ConstraintError:
        raise StoreRefused(f"a team named '{name}' already exists") from None
    return get_team(conn, tid)


def get_team(conn: apsw.Connection, ref: str) -> TeamInfo:
    row = conn.execute(
        "SELECT t.id, t.name, t.created_at, (SELECT count(*) FROM keys k WHERE k.team_id = t.id) "
        "FROM teams t WHERE t.id = ? OR t.name = ?", (ref, ref)).fetchone()
    if row is None:
        raise StoreRefused(f"no team with id or name '{ref}'")
    return TeamInfo(*row)


def list_teams(conn: apsw.Connection) -> list[TeamInfo]:
    return [TeamInfo(*r) for r in conn.execute(
        "SELECT t.id, t.name, t.created_at, (SELECT count(*) FROM keys k WHERE k.team_id = t.id) "
        "FROM teams t ORDER BY t.name")]
