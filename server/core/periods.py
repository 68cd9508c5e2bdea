"""Budget periods: calendar-aligned (UTC) daily, weekly, monthly, or rolling N days.

Spend is kept in buckets: the period's start for calendar periods, one bucket per day for
rolling ones (so `rolling:30` is today plus the 29 days before it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from server.core.errors import GateError

DAY = 86400.0
PERIOD_HELP = "daily, weekly, monthly (calendar-aligned, UTC) or Nd (rolling N days)"


class PeriodError(GateError, ValueError):
    pass


def normalize(text: str) -> str:
    """'monthly' -> 'monthly'; '30d' or 'rolling:30' -> 'rolling:30'."""
    text = text.strip().lower()
    if text in ("daily", "weekly", "monthly"):
        return text
    match = re.fullmatch(r"(?:rolling:)?(\d{1,4})d?", text)
    if match and 1 <= int(match.group(1)) <= 3660:
        return f"rolling:{int(match.group(1))}"
    raise PeriodError(f"'{text}' is not a period: use {PERIOD_HELP}")


@dataclass(frozen=True, slots=True)
class Window:
    bucket: float      # where spend made now is added
    since: float       # the oldest bucket that still counts
    resets_at: float   # when the oldest spend stops counting


def _midnight(now: float) -> datetime:
    d = datetime.fromtimestamp(now, timezone.utc)
    return d.replace(hour=0, minute=0, second=0, microsecond=0)


def window(period: str, now: float) -> Window:
    day = _midnight(now)
    if period == "daily":
        return Window(day.timestamp(), day.timestamp(), day.timestamp() + DAY)
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return Window(start.timestamp(), start.timestamp(), (start + timedelta(days=7)).timestamp())
    if period == "monthly":
        start = day.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return Window(start.timestamp(), start.timestamp(), nxt.timestamp())
    if period.startswith("rolling:"):
        days = int(period.split(":", 1)[1])
        return Window(day.timestamp(), day.timestamp() - (days - 1) * DAY, day.timestamp() + DAY)
    raise PeriodError(f"unknown period '{period}'")
