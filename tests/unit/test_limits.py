"""Periods, budgets (reserve/settle), rate windows and prices, on a real SQLite file."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from server.core.periods import PeriodError, normalize, window
from server.core.prices import price_for, shipped
from server.core.settings import parse_settings
from server.store import budgets as budget_store
from server.store import keys as key_store
from server.store import ratelimits
from server.store import teams as team_store


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_periods_are_calendar_aligned_in_utc():
    now = ts("2026-11-18T15:30:00")  # a Wednesday
    assert window("daily", now).since == ts("2026-11-18T00:00:00")
    assert window("weekly", now).since == ts("2026-11-16T00:00:00")
    assert window("weekly", now).resets_at == ts("2026-11-23T00:00:00")
    assert window("monthly", now).since == ts("2026-11-01T00:00:00")
    assert window("monthly", ts("2026-12-31T23:59:59")).resets_at == ts("2027-01-01T00:00:00")
    rolling = window("rolling:7", now)
    assert rolling.bucket == ts("2026-11-18T00:00:00") and rolling.since == ts("2026-11-12T00:00:00")


def test_period_names():
    assert normalize("Monthly") == "monthly"
    assert normalize("30d") == normalize("rolling:30") == "rolling:30"
    for bad in ("yearly", "0d", "d"):
        with pytest.raises(PeriodError):
            normalize(bad)


def make_budget(conn, usd=None, tokens=None, period="monthly", scope="key"):
    if scope == "key":
        owner = key_store.create_key(conn, f"k{usd}{tokens}{period}").info.id
    else:
        owner = team_store.create_team(conn, f"t{usd}{tokens}").id
    budget_store.set_budget(conn, scope, owner, usd=usd, tokens=tokens, period=period, soft_pct=0.8)
    return [b for b in budget_store.all_budgets(conn) if b.owner_id == owner]


def test_reserve_holds_until_settled_and_never_passes_the_limit(conn):
    budgets = make_budget(conn, usd=1.0)
    now = ts("2026-11-18T12:00:00")
    assert budget_store.reserve(conn, "r1", budgets, 0.6, 10, now, 900) is None
    refused = budget_store.reserve(conn, "r2", budgets, 0.6, 10, now, 900)
    assert refused is not None and refused.enough_without_holds  # it fits once r1 settles
    budget_store.settle(conn, "r1", budgets, 0.25, 10, now)
    assert budget_store.reserve(conn, "r2", budgets, 0.6, 10, now, 900) is None
    budget_store.settle(conn, "r2", budgets, 0.6, 10, now)
    refused = budget_store.reserve(conn, "r3", budgets, 0.2, 1, now, 900)
    assert refused is not None and not refused.enough_without_holds
    assert refused.spent_usd == pytest.approx(0.85)
    assert budget_store.reserve(conn, "r4", budgets, 0.15, 1, now, 900) is None  # exactly to the limit


def test_every_budget_must_pass_and_none_is_held_on_refusal(conn):
    key = key_store.create_key(conn, "member")
    team = team_store.create_team(conn, "ml")
    budget_store.set_budget(conn, "key", key.info.id, usd=10, tokens=None, period="daily", soft_pct=0.8)
    budget_store.set_budget(conn, "team", team.id, usd=None, tokens=100, period="daily", soft_pct=0.8)
    budgets = budget_store.budgets_for(conn, key.info.id, team.id)
    assert {b.scope for b in budgets} == {"key", "team"}
    now = ts("2026-11-18T12:00:00")
    assert budget_store.reserve(conn, "r1", budgets, 0.01, 150, now, 900) is not None  # the team's tokens
    assert conn.execute("SELECT count(*) FROM reservations").fetchone()[0] == 0


def test_a_reservation_counts_until_settled_even_past_its_ttl(conn):
    budgets = make_budget(conn, tokens=100)
    now = ts("2026-11-18T12:00:00")
    assert budget_store.reserve(conn, "slow", budgets, 0, 100, now, 60) is None
    assert budget_store.reserve(conn, "next", budgets, 0, 1, now + 30, 60) is not None
    assert budget_store.reserve(conn, "next", budgets, 0, 1, now + 61, 60) is not None  # not forgiven
    budget_store.prune(conn, now + 200)
    assert conn.execute("SELECT count(*) FROM reservations").fetchone()[0] == 1
    budget_store.settle(conn, "slow", budgets, 0, 40, now + 300)
    assert budget_store.reserve(conn, "next", budgets, 0, 60, now + 300, 60) is None


def test_spend_resets_with_the_period(conn):
    budgets = make_budget(conn, usd=1.0, period="daily")
    day1 = ts("2026-11-18T23:00:00")
    budget_store.settle(conn, "a", budgets, 1.0, 5, day1)
    assert budget_store.reserve(conn, "b", budgets, 0.5, 1, day1, 900) is not None
    assert budget_store.reserve(conn, "b", budgets, 0.5, 1, day1 + 3600, 900) is None


def test_rolling_periods_forget_old_days(conn):
    budgets = make_budget(conn, usd=1.0, period="rolling:2")
    d = ts("2026-11-18T12:00:00")
    budget_store.settle(conn, "a", budgets, 1.0, 1, d)
    assert budget_store.reserve(conn, "b", budgets, 0.1, 1, d + 86400, 900) is not None
    assert budget_store.reserve(conn, "b", budgets, 0.1, 1, d + 2 * 86400, 900) is None


def test_soft_and_exhausted_events(conn):
    budgets = make_budget(conn, usd=1.0)
    now = ts("2026-11-18T12:00:00")
    assert budget_store.settle(conn, "a", budgets, 0.5, 1, now) == []
    kinds = [e.kind for e in budget_store.settle(conn, "b", budgets, 0.35, 1, now)]
    assert kinds == ["budget_soft"]
    kinds = [e.kind for e in budget_store.settle(conn, "c", budgets, 0.15, 1, now)]
    assert kinds == ["budget_exhausted"]
    assert [e.kind for e in budget_store.events(conn)] == ["budget_exhausted", "budget_soft"]


def test_rate_window_requests_and_retry_after(conn):
    minute = ts("2026-11-18T12:00:00")
    for i in range(3):
        assert ratelimits.admit(conn, "k", 3, None, 0, minute + i).allowed
    refused = ratelimits.admit(conn, "k", 3, None, 0, minute + 10)
    assert not refused.allowed and refused.refused_by == "requests"
    # The full current minute must become the previous one (50 s), then weigh at most 2/3
    # (20 s more): 3 * 2/3 + 1 <= 3. Retry-After says exactly that.
    assert refused.retry_after_s == pytest.approx(70.0)
    assert not ratelimits.admit(conn, "k", 3, None, 0, minute + 79).allowed
    assert ratelimits.admit(conn, "k", 3, None, 0, minute + 80).allowed
    assert not ratelimits.admit(conn, "k", 3, None, 0, minute + 81).allowed


def test_rate_window_tokens_and_headers(conn):
    now = ts("2026-11-18T12:00:05")
    first = ratelimits.admit(conn, "k", None, 1000, 600, now)
    assert first.allowed
    (lim,) = first.limits
    assert (lim.kind, lim.limit, lim.remaining) == ("tokens", 1000, 400)
    assert not ratelimits.admit(conn, "k", None, 1000, 600, now + 1).allowed
    ratelimits.adjust_tokens(conn, "k", first.minute, -500)  # it really used 100
    assert ratelimits.admit(conn, "k", None, 1000, 600, now + 2).allowed


def test_prices_in_order():
    settings = parse_settings("""
        [pricing]
        local_input = 0.05
        local_output = 0.1
        [pricing.models."gpt-4o"]
        input = 1.0
        output = 2.0
        [providers.vllm]
        kind = "openai"
        url = "http://127.0.0.1:1/v1"
        [providers.fixed]
        kind = "openai"
        url = "http://127.0.0.1:1/v1"
        price_in = 7
        price_out = 8
        [providers.cloud]
        kind = "openai"
        url = "https://api.example.com/v1"
        locality = "cloud"
        api_key = "env:X"
    """)
    p = settings.providers
    assert price_for(settings, p["fixed"], "gpt-4o") == (7, 8)
    assert price_for(settings, p["cloud"], "gpt-4o") == (1.0, 2.0)
    mini = shipped().models["gpt-4o-mini"]
    assert price_for(settings, p["cloud"], "gpt-4o-mini") == (mini.input, mini.output)
    assert price_for(settings, p["vllm"], "llama-3") == (0.05, 0.1)
    assert shipped().version
