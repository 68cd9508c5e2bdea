"""Requests and tokens per minute per key, correct across processes.

A sliding window estimated from two fixed one-minute counters (the previous minute's count
weighted by how much of it still overlaps the last 60 s, plus the current minute's), kept
in the SQLite file and updated in one BEGIN IMMEDIATE transaction per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import apsw

from server.store.db import immediate

MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class Limit:
    kind: str          # "requests" | "tokens"
    limit: int
    remaining: int
    reset_s: float     # until one more unit is free


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    limits: list[Limit]
    minute: float
    retry_after_s: float = 0.0
    refused_by: str | None = None


def _estimate(prev: int, curr: int, weight: float) -> float:
    return prev * weight + curr


def _wait(prev: int, curr: int, limit: int, need: int, now: float, minute: float) -> float:
    """Seconds until prev*w + curr + need <= limit, w falling from now on."""
    elapsed = now - minute
    if curr + need <= limit and prev > 0:
        # prev * (1 - (elapsed + t) / 60) <= limit - curr - need
        t = MINUTE * (1 - (limit - curr - need) / prev) - elapsed
        return max(0.0, t)
    # The current minute alone is too full: wait for it to become the previous one, then
    # for its weight to fall enough.
    until_next = MINUTE - elapsed
    if curr <= 0 or need > limit:
        return until_next
    t = MINUTE * (1 - (limit - need) / curr)
    return until_next + max(0.0, t)


def admit(conn: apsw.Connection, key_id: str, rpm: int | None, tpm: int | None,
          tokens: int, now: float) -> Admission:
    with immediate(conn):
        return admit_in(conn, key_id, rpm, tpm, tokens, now)


def admit_in(conn: apsw.Connection, key_id: str, rpm: int | None, tpm: int | None,
             tokens: int, now: float) -> Admission:
    """admit() inside a transaction the caller holds (reserve's, so one write per request).

    A request never counts fewer than 0 tokens: a negative count would lower the window's
    tally and report more room than the limit itself."""
    tokens = max(0, tokens)
    minute = math.floor(now / MINUTE) * MINUTE
    weight = 1 - (now - minute) / MINUTE
    counts = dict.fromkeys((minute - MINUTE, minute), (0, 0))
    for m, r, t in conn.execute(
            "SELECT minute, requests, tokens FROM rate_windows WHERE key_id = ? AND minute >= ?",
            (key_id, minute - MINUTE)):
        counts[m] = (r, t)
    (prev_r, prev_t), (curr_r, curr_t) = counts[minute - MINUTE], counts[minute]
    limits, refused, retry = [], None, 0.0
    for kind, limit, prev, curr, need in (("requests", rpm, prev_r, curr_r, 1),
                                          ("tokens", tpm, prev_t, curr_t, tokens)):
        if not limit:
            continue
        used = _estimate(prev, curr, weight)
        ok = used + need <= limit
        if not ok and refused is None:
            refused, retry = kind, _wait(prev, curr, limit, need, now, minute)
        after = used + (need if ok else 0)
        limits.append(Limit(kind, limit, min(limit, max(0, int(limit - after))),
                            _wait(prev, curr + (need if ok else 0), limit, 1, now, minute)))
    if refused is None:
        conn.execute(
            "INSERT INTO rate_windows(key_id, minute, requests, tokens) VALUES (?, ?, 1, ?) "
            "ON CONFLICT(key_id, minute) DO UPDATE SET requests = requests + 1, tokens = tokens + ?",
            (key_id, minute, tokens, tokens))
    return Admission(refused is None, limits, minute, retry, refused)


def adjust_tokens(conn: apsw.Connection, key_id: str, minute: float, delta: int) -> None:
    """Replace the tokens charged at admission (a worst case) with what was really used.

    Called inside a transaction the caller holds (settle's)."""
    if delta:
        conn.execute("UPDATE rate_windows SET tokens = max(0, tokens + ?) WHERE key_id = ? AND minute = ?",
                     (delta, key_id, minute))
