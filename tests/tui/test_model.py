"""The pure parts of `gate top`: numbers, bars, budgets, attempts, nesting."""

from __future__ import annotations

import pytest

from cli.tui.model import attempts, bar, budget_fraction, budget_style, count, ms, span_bar, usd
from cli.tui.widgets.requests import COLUMNS, widths
from cli.tui.widgets.waterfall import depths, ordered


@pytest.mark.parametrize("value,text", [(None, "-"), (0.25, "250µs"), (2.345, "2.3ms"), (180.0, "180ms"),
                                        (1234.0, "1.2s"), (30012.0, "30s")])
def test_ms(value, text):
    assert ms(value) == text


@pytest.mark.parametrize("value,text", [(0, "$0"), (0.000019, "$0.00002"), (0.164, "$0.164"),
                                        (41.2, "$41.20"), (1234.5, "$1,234")])
def test_usd(value, text):
    assert usd(value) == text


def test_count():
    assert [count(5), count(18234), count(2_900_000)] == ["5", "18.2k", "2.9M"]


def test_bars_fill_in_eighths_and_keep_their_width():
    assert bar(0.5, 10, "green").plain == "█████·····"
    assert bar(0.0625, 2, "green").plain == "▏·"
    assert bar(1.7, 4, "red").plain == "████"  # over the limit: full, not longer
    assert len(bar(0.33, 13, "green").plain) == 13


def test_budget_colours_follow_the_soft_threshold():
    assert budget_style(0.5, 0.8) == "green"
    assert budget_style(0.8, 0.8) == "yellow"
    assert budget_style(1.0, 0.8) == "bold red"


def test_budget_fraction_counts_reservations_and_takes_the_tighter_limit():
    b = {"limit_usd": 10.0, "spent_usd": 4.0, "reserved_usd": 1.0,
         "limit_tokens": 1000, "spent_tokens": 700, "reserved_tokens": 0}
    assert budget_fraction(b) == pytest.approx(0.7)
    assert budget_fraction({"limit_usd": None, "limit_tokens": None}) is None


def test_attempts_parse_the_ledger_column():
    row = {"attempts": "down:x=502,fake:fail500=500,fake:ok=ok"}
    assert attempts(row) == [("down:x", "502"), ("fake:fail500", "500"), ("fake:ok", "ok")]
    assert attempts({"attempts": None}) == []


def test_span_bars_sit_on_one_time_axis():
    assert span_bar(0, 100, 100, 10, "blue").plain == "██████████"
    assert span_bar(50, 25, 100, 10, "blue").plain == "·····██···"
    assert span_bar(99.9, 0.001, 100, 10, "blue").plain == "·········█"  # never invisible


def test_nesting_comes_from_containment():
    spans = ordered([
        {"name": "gate.dispatch", "start_ms": 2.0, "duration_ms": 8.0},
        {"name": "request", "start_ms": 0.0, "duration_ms": 10.0},
        {"name": "attempt", "start_ms": 3.0, "duration_ms": 2.0},
        {"name": "gate.parse", "start_ms": 0.5, "duration_ms": 1.5},
    ])
    assert [s["name"] for s in spans] == ["request", "gate.parse", "gate.dispatch", "attempt"]
    assert depths(spans) == [0, 1, 1, 2]


def test_request_columns_fit_80_columns_and_grow_with_the_terminal():
    narrow = widths(79)
    assert sum(narrow) + 2 * len(COLUMNS) <= 79
    wide = widths(159)
    assert sum(wide) + 2 * len(COLUMNS) <= 159
    assert wide[3] > narrow[3] and wide[0] == narrow[0]  # upstream grows, the clock does not
