"""What every command shares: the config file, parsing helpers, and (from cli.output) output."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer

from cli.output import console, err_console, esc, fail, print_json
from server.core.settings import ConfigError, Settings, config_path, load_settings
from server.guardrails.policies import checked

__all__ = ["KEEP", "Globals", "console", "err_console", "esc", "fail", "globals_", "merged", "parse_duration",
           "parse_limit", "parse_since", "print_json", "when"]


@dataclass
class Globals:
    config: Path
    url: str | None
    admin_token: str | None

    def settings(self) -> Settings:
        try:
            return checked(load_settings(self.config))
        except ConfigError as exc:
            fail(str(exc))


def globals_(ctx: typer.Context) -> Globals:
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        root.obj = Globals(config_path(None), None, None)
    return root.obj


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """'30d', '12h', '90m', '2w', '45s' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise typer.BadParameter(f"'{text}' is not a duration like 30d, 12h, 90m or 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_since(text: str | None) -> float | None:
    """A duration ago ('7d') or a date/time ('2026-11-01', '2026-11-01T08:00')."""
    if not text:
        return None
    if re.fullmatch(r"\s*\d+(?:\.\d+)?\s*[smhdw]\s*", text):
        return time.time() - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is neither a duration (7d) nor a date (2026-11-01)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class _Keep:
    """An option left out: the value it would change stays as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()
CLEAR_WORD = "none"


def parse_limit(text: str | None, option: str, kind: type = int, minimum: float = 1):
    """A flag that changes one limit: omitted -> KEEP, 'none' -> None (no limit), else a number.

    Leaving a flag out never clears what it names: clearing is said out loud (`--tpm none`)."""
    if text is None:
        return KEEP
    if text.strip().lower() == CLEAR_WORD:
        return None
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value != value or value < minimum or value in (float("inf"), float("-inf")):
        what = "a whole number" if kind is int else "a number"
        raise typer.BadParameter(f"'{text}' is neither {what} of at least {minimum:g} nor '{CLEAR_WORD}' "
                                 f"(which removes the limit)", param_hint=option)
    return value


def merged(change, current):
    """The value after a flag parsed by parse_limit: KEEP leaves `current`."""
    return current if change is KEEP else change


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")
