"""Budgets: reserve the worst case before dispatch, settle to real usage after.

Every reservation and settlement is one short BEGIN IMMEDIATE transaction, so budgets
hold across all gateway processes sharing the file: the sum of settled spend and live
reservations never passes a limit. A reservation counts until it is settled; one left by a
worker that died is charged in full (server/store/orphans.py), never forgiven.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import apsw
import msgspec

from server.core.periods import normalize, window
from server.store import liveness
from server.store.db import immediate


class Budget(msgspec.Struct, frozen=True):
    id: int
    scope: str
    owner_id: str
    owner_name: str
    limit_usd: float | None
    limit_tokens: int | None
    period: str
    soft_pct: float


@dataclass(frozen=True, slots=True)
class Refusal:
    budget: Budget
    spent_usd: float
    spent_tokens: int
    held_usd: float
    held_tokens: int
    resets_at: float
    enough_without_holds: bool  # would fit once requests in flight settle


@dataclass(frozen=True, slots=True)
class InFlight:
    """What a reservation records of its request, for the ledger row if its worker dies."""
    endpoint: str
    alias: str | None
    key_id: str | None
    team_id: str | None


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    budget: Budget
    detail: str


_BUDGET = ("SELECT b.id, b.scope, b.owner_id, coalesce(k.name, t.name, b.owner_id), b.limit_usd, "
           "b.limit_tokens, b.period, b.soft_pct FROM budgets b "
           "LEFT JOIN keys k ON b.scope = 'key' AND k.id = b.owner_id "
           "LEFT JOIN teams t ON b.scope = 'team' AND t.id = b.owner_id ")


def budgets_for(conn: apsw.Connection, key_id: str, team_id: str | None) -> list[Budget]:
    rows = conn.execute(_BUDGET + "WHERE (b.scope = 'key' AND b.owner_id = ?) "
                        "OR (b.scope = 'team' AND b.owner_id = ?) ORDER BY b.scope", (key_id, team_id or ""))
    return [Budget(*r) for r in rows]


def budgets_by_id(conn: apsw.Connection, ids: set[int]) -> dict[int, Budget]:
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    return {r[0]: Budget(*r) for r in conn.execute(_BUDGET + f"WHERE b.id IN ({marks})", tuple(ids))}


def all_budgets(conn: apsw.Connection) -> list[Budget]:
    return [Budget(*r) for r in conn.execute(_BUDGET + "ORDER BY b.scope, 4")]


def set_budget(conn: apsw.Connection, scope: str, owner_id: str, *, usd: float | None,
               tokens: int | None, period: str, soft_pct: float) -> None:
    conn.execute(
        "INSERT INTO budgets(scope, owner_id, limit_usd, limit_tokens, period, soft_pct, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(scope, owner_id) DO UPDATE SET "
        "limit_usd = excluded.limit_usd, limit_tokens = excluded.limit_tokens, "
        "period = excluded.period, soft_pct = excluded.soft_pct",
        (scope, owner_id, usd, tokens, normalize(period), soft_pct, time.time()))


def remove_budget(conn: apsw.Connection, scope: str, owner_id: str) -> bool:
    conn.execute("DELETE FROM budgets WHERE scope = ? AND owner_id = ?", (scope, owner_id))
    return conn.changes() > 0


def spent(conn: apsw.Connection, budget: Budget, now: float) -> tuple[float, int]:
    since = window(budget.period, now).since
    usd, tokens = conn.execute(
        "SELECT coalesce(sum(usd), 0), coalesce(sum(tokens), 0) FROM budget_spend "
        "WHERE budget_id = ? AND bucket >= ?", (budget.id, since)).fetchone()
    return usd, tokens


def held(conn: apsw.Connection, budget: Budget) -> tuple[float, int]:
    """What requests in flight hold: every reservation until it is settled or charged."""
    usd, tokens = conn.execute(
        "SELECT coalesce(sum(usd), 0), coalesce(sum(tokens), 0) FROM reservations "
        "WHERE budget_id = ?", (budget.id,)).fetchone()
    return usd, tokens


def _over(limit: float | int | None, used: float, extra: float) -> bool:
    return limit is not None and used + extra > limit + 1e-12


def reserve(conn: apsw.Connection, request_id: str, budgets: list[Budget], usd: float,
            tokens: int, now: float, ttl_s: float) -> Refusal | None:
    """Hold `usd` and `tokens` against every budget, or none of them: None when held."""
    with immediate(conn):
        return reserve_in(conn, request_id, budgets, usd, tokens, now, ttl_s)


def reserve_in(conn: apsw.Connection, request_id: str, budgets: list[Budget], usd: float,
               tokens: int, now: float, ttl_s: float, request: InFlight | None = None) -> Refusal | None:
    """reserve() inside a transaction the caller holds; on a refusal nothing is written.

    The rows name this process and the request, so that should the process die before it
    settles, another one charges them in full (orphans.charge); `ttl_s` is only for a
    holder no process can judge alive or dead (another host or container)."""
    for b in budgets:
        s_usd, s_tok = spent(conn, b, now)
        h_usd, h_tok = held(conn, b)
        if _over(b.limit_usd, s_usd + h_usd, usd) or _over(b.limit_tokens, s_tok + h_tok, tokens):
            fits = not (_over(b.limit_usd, s_usd, usd) or _over(b.limit_tokens, s_tok, tokens))
            return Refusal(b, s_usd, s_tok, h_usd, h_tok, window(b.period, now).resets_at, fits)
    r = request or InFlight("unknown", None, None, None)
    worker = liveness.me()
    conn.executemany(
        "INSERT INTO reservations(request_id, budget_id, usd, tokens, expires_at, worker, created_at, "
        "key_id, team_id, endpoint, alias) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(request_id, b.id, usd, tokens, now + ttl_s, worker, now, r.key_id, r.team_id, r.endpoint, r.alias)
         for b in budgets])
    return None


def settle(conn: apsw.Connection, request_id: str, budgets: list[Budget], usd: float,
           tokens: int, now: float) -> list[Event]:
    """Drop the request's reservations and add what it really used; report crossings."""
    with immediate(conn):
        return settle_in(conn, request_id, budgets, usd, tokens, now)


def settle_in(conn: apsw.Connection, request_id: str, budgets: list[Budget], usd: float,
              tokens: int, now: float, reserved: bool = False) -> list[Event]:
    """settle() inside a transaction the caller holds. `reserved`: the request held
    reservations; if none is left, they were charged in full already (orphans): add nothing."""
    events: list[Event] = []
    conn.execute("DELETE FROM reservations WHERE request_id = ?", (request_id,))
    if (usd <= 0 and tokens <= 0) or (reserved and conn.changes() == 0):
        return events
    for b in budgets:
        before_usd, before_tok = spent(conn, b, now)
        conn.execute(
            "INSERT INTO budget_spend(budget_id, bucket, usd, tokens) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(budget_id, bucket) DO UPDATE SET usd = usd + excluded.usd, "
            "tokens = tokens + excluded.tokens", (b.id, window(b.period, now).bucket, usd, tokens))
        events.extend(_crossings(b, before_usd, before_usd + usd, b.limit_usd, "USD"))
        events.extend(_crossings(b, before_tok, before_tok + tokens, b.limit_tokens, "tokens"))
    for e in events:
        conn.execute("INSERT INTO events(ts, kind, scope, owner_id, detail) VALUES (?, ?, ?, ?, ?)",
                     (now, e.kind, e.budget.scope, e.budget.owner_id, e.detail))
    return events


def _crossings(b: Budget, before: float, after: float, limit: float | int | None, unit: str) -> list[Event]:
    if not limit:
        return []
    out = []
    soft = limit * b.soft_pct
    who = f"{b.scope} '{b.owner_name}'"
    if before < soft <= after:
        out.append(Event("budget_soft", b, f"{who} used {after:g} of {limit:g} {unit} "
                                           f"({b.soft_pct:.0%} threshold, {b.period})"))
    if before < limit <= after + 1e-12:
        out.append(Event("budget_exhausted", b, f"{who} used its whole budget of {limit:g} {unit} ({b.period})"))
    return out


def prune(conn: apsw.Connection, now: float) -> int:
    """Drop old rate windows (reservations are settled or charged, never dropped)."""
    with immediate(conn):
        conn.execute("DELETE FROM rate_windows WHERE minute < ?", (now - 180,))
        return conn.changes()


class BudgetStatus(msgspec.Struct):
    scope: str
    owner: str
    period: str
    limit_usd: float | None
    limit_tokens: int | None
    spent_usd: float
    spent_tokens: int
    reserved_usd: float
    reserved_tokens: int
    soft_pct: float
    resets_at: float


def status(conn: apsw.Connection, now: float | None = None) -> list[BudgetStatus]:
    now = now or time.time()
    out = []
    for b in all_budgets(conn):
        s_usd, s_tok = spent(conn, b, now)
        h_usd, h_tok = held(conn, b)
        out.append(BudgetStatus(b.scope, b.owner_name, b.period, b.limit_usd, b.limit_tokens,
                                s_usd, s_tok, h_usd, h_tok, b.soft_pct, window(b.period, now).resets_at))
    return out


class EventRow(msgspec.Struct):
    ts: float
    kind: str
    scope: str
    owner: str
    detail: str


def events(conn: apsw.Connection, limit: int = 50) -> list[EventRow]:
    rows = conn.execute(
        "SELECT e.ts, e.kind, e.scope, coalesce(k.name, t.name, e.owner_id), e.detail FROM events e "
        "LEFT JOIN keys k ON e.scope = 'key' AND k.id = e.owner_id "
        "LEFT JOIN teams t ON e.scope = 'team' AND t.id = e.owner_id ORDER BY e.id DESC LIMIT ?", (limit,))
    return [EventRow(*r) for r in rows]
