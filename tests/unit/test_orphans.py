"""A worker that dies holding reservations: its requests are charged in full, never forgiven.

The dead worker is a real process: a Python child that reserves on the same SQLite file and
exits without settling, as a worker killed mid-request does.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from server.store import budgets as budget_store
from server.store import db, liveness, orphans
from server.store import keys as key_store
from server.store import teams as team_store

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
from server.store import budgets, db, liveness
conn = db.connect(sys.argv[1])
held = budgets.budgets_for(conn, sys.argv[2], sys.argv[3])
request = budgets.InFlight("chat", "ok", sys.argv[2], sys.argv[3])
assert budgets.reserve_in(conn, "req_lost", held, 0.4, 100, time.time(), 900, request) is None
print(liveness.me())
"""


def key_and_team_budgets(conn):
    team = team_store.create_team(conn, "ml")
    key = key_store.create_key(conn, "member", team_id=team.id).info.id
    budget_store.set_budget(conn, "key", key, usd=1.0, tokens=None, period="monthly", soft_pct=0.8)
    budget_store.set_budget(conn, "team", team.id, usd=None, tokens=1000, period="monthly", soft_pct=0.8)
    return key, team.id, budget_store.budgets_for(conn, key, team.id)


def dead_worker_reserves(path: Path, key: str, team: str) -> str:
    """A real process reserves, then exits without settling; returns its worker name."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), key, team], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_dead_workers_reservations_are_charged_in_full_with_a_ledger_row(conn, tmp_path):
    key, team, budgets = key_and_team_budgets(conn)
    worker = dead_worker_reserves(tmp_path / "gate.db", key, team)
    assert liveness.alive(worker) is False
    now = time.time()
    # Until charged, the dead worker's hold still counts: nothing can spend it twice.
    assert budget_store.reserve(conn, "next", budgets, 0.7, 1, now, 900) is not None

    charged, _ = orphans.charge(conn, now)

    assert charged == ["req_lost"]
    assert conn.execute("SELECT count(*) FROM reservations").fetchone()[0] == 0
    assert {b.scope: budget_store.spent(conn, b, now) for b in budgets} == {
        "key": (pytest.approx(0.4), 100), "team": (pytest.approx(0.4), 100)}
    row = conn.execute("SELECT request_id, key_id, team_id, endpoint, alias, status, cost, error "
                       "FROM ledger").fetchall()
    assert len(row) == 1
    rid, k, t, endpoint, alias, status, cost, error = row[0]
    assert (rid, k, t, endpoint, alias, status) == ("req_lost", key, team, "chat", "ok", orphans.LOST)
    assert cost == pytest.approx(0.4) and error.startswith("worker_lost: ")
    assert orphans.charge(conn, now) == ([], [])  # once only
    # The charge is spend now: a request that fits what is left passes, one that does not, not.
    assert budget_store.reserve(conn, "next", budgets, 0.7, 1, now, 900) is not None
    assert budget_store.reserve(conn, "next", budgets, 0.6, 1, now, 900) is None


def test_a_live_workers_reservation_is_never_charged_even_past_its_ttl(conn):
    key, team, budgets = key_and_team_budgets(conn)
    now = time.time()
    assert budget_store.reserve(conn, "req_slow", budgets, 0.4, 100, now, 60) is None
    assert orphans.charge(conn, now + 3600) == ([], [])
    assert conn.execute("SELECT count(*) FROM reservations").fetchone()[0] == 2
    # Its own settlement, not the worst case, becomes the spend.
    budget_store.settle(conn, "req_slow", budgets, 0.1, 30, now)
    assert budget_store.spent(conn, budgets[0], now) == (pytest.approx(0.1), 30)


def test_a_holder_no_one_can_judge_is_charged_once_its_reservation_expires(conn):
    key, team, budgets = key_and_team_budgets(conn)
    now = time.time()
    assert budget_store.reserve(conn, "req_far", budgets, 0.4, 100, now, 60) is None
    conn.execute("UPDATE reservations SET worker = 'another-host:ns:42:1234'")
    assert orphans.charge(conn, now + 30) == ([], [])
    assert orphans.charge(conn, now + 61)[0] == ["req_far"]
    assert budget_store.spent(conn, budgets[0], now) == (pytest.approx(0.4), 100)


def test_a_late_settlement_after_the_charge_adds_nothing(conn):
    key, team, budgets = key_and_team_budgets(conn)
    now = time.time()
    assert budget_store.reserve(conn, "req_far", budgets, 0.4, 100, now, 60) is None
    conn.execute("UPDATE reservations SET worker = NULL")  # a row from before the owner was kept
    assert orphans.charge(conn, now + 61)[0] == ["req_far"]
    with db.immediate(conn):
        budget_store.settle_in(conn, "req_far", budgets, 0.1, 30, now, reserved=True)
    assert budget_store.spent(conn, budgets[0], now) == (pytest.approx(0.4), 100)


def test_worker_names():
    me = liveness.me()
    assert liveness.alive(me) is True
    assert liveness.alive("not a worker name") is None
    boot, ns, pid, start = me.split(":")
    assert liveness.alive(f"{boot}:{ns}:{pid}:{int(start) + 1}") is False  # the pid, reused later
    assert liveness.alive(f"other-boot:{ns}:{pid}:{start}") is None
