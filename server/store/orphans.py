"""Reservations whose worker died: charged in full, never forgiven.

A request settles its reservation (real usage) in the same transaction that writes its
ledger row, before its answer's last byte goes out. A reservation still there after its
worker died belongs to a request that never settled: the upstream may have been paid for
it, so its whole reserved worst case becomes spend, with a ledger row that says so. A
worker runs this when it starts (so a respawned worker charges the one it replaces) and
then every minute.
"""

from __future__ import annotations

from collections import defaultdict

import apsw

from server.store import liveness
from server.store.budgets import Event, budgets_by_id, settle_in
from server.store.db import immediate
from server.store.ledger import LedgerRow, insert_rows

LOST = 500  # the ledger status of a request its worker never finished


def _lost(conn: apsw.Connection, now: float) -> list[tuple]:
    """Reservations of dead workers, and expired ones of workers no one can judge."""
    verdicts: dict[str | None, bool | None] = {}
    lost = []
    for row in conn.execute(
            "SELECT request_id, budget_id, usd, tokens, worker, coalesce(created_at, ?), key_id, team_id, "
            "endpoint, alias, expires_at FROM reservations ORDER BY id", (now,)):
        worker = row[4]
        if worker not in verdicts:
            verdicts[worker] = liveness.alive(worker) if worker is not None else None
        alive = verdicts[worker]
        if alive is False or (alive is None and row[10] <= now):
            lost.append(row)
    return lost


def charge(conn: apsw.Connection, now: float) -> tuple[list[str], list[Event]]:
    """Charge every dead worker's reservations in full; (request ids charged, alerts)."""
    if not _lost(conn, now):  # a read: the write lock only when there is work
        return [], []
    events: list[Event] = []
    with immediate(conn):
        rows = _lost(conn, now)
        by_request: dict[str, list[tuple]] = defaultdict(list)
        for row in rows:
            by_request[row[0]].append(row)
        budgets = budgets_by_id(conn, {r[1] for r in rows})
        ledger = []
        for request_id, held in by_request.items():
            _, _, usd, tokens, worker, created, key_id, team_id, endpoint, alias, _ = held[0]
            mine = [budgets[r[1]] for r in held if r[1] in budgets]
            events += settle_in(conn, request_id, mine, usd, tokens, created)
            pid = worker.split(":")[2] if worker and worker.count(":") == 3 else "?"
            ledger.append(LedgerRow(
                request_id=request_id, ts=created, key_id=key_id, team_id=team_id,
                endpoint=endpoint or "unknown", alias=alias, status=LOST, cost=usd, usage_estimated=True,
                error=f"worker_lost: worker {pid} ended before this request settled; "
                      f"charged its reserved worst case (${usd:.6f}, {tokens} tokens)"))
        insert_rows(conn, ledger)
    return list(by_request), events

