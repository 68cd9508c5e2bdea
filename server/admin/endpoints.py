"""The admin HTTP API, as one table: method, path, operation, and how its arguments are read.

`server.web.routes.admin` registers one handler per row; `gate --url ...` (the CLI's remote
backend) and `gate top` build their URLs from the same rows with `path()`. Paths are
templates under `PREFIX`; `{name}` is a path segment. Query values and bodies are read
here, so a bad one is refused the same way as a bad operation: with `Refused`.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from server.core import json_limits
from server.admin import operations as ops
from server.admin.refusal import Refused
from server.admin.specs import MAX_LIMIT, MAX_WINDOW_S, BudgetSpec, KeySpec, RateLimits, TeamSpec

PREFIX = "/admin"

_INT = re.compile(r"-?\d{1,18}")
_NUMBER = re.compile(r"-?\d{1,20}(?:\.\d{1,20})?")
_SEGMENT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Count:
    """A query parameter that must be a whole number in [low, high]."""

    name: str
    default: int
    low: int
    high: int

    def read(self, value: str | None) -> int:
        if value is None:
            return self.default
        if _INT.fullmatch(value) is None or not self.low <= int(value) <= self.high:
            raise Refused(f"query parameter '{self.name}' must be a whole number from {self.low} to {self.high}",
                          param=self.name)
        return int(value)


@dataclass(frozen=True, slots=True)
class Time:
    """A query parameter that must be a finite number (a Unix time); absent is None."""

    name: str

    def read(self, value: str | None) -> float | None:
        if value is None:
            return None
        number = float(value) if _NUMBER.fullmatch(value) else math.nan
        if not math.isfinite(number):
            raise Refused(f"query parameter '{self.name}' must be a finite number (a Unix time)", param=self.name)
        return number


@dataclass(frozen=True, slots=True)
class Text:
    """A query parameter taken as it is."""

    name: str
    default: str | None = None

    def read(self, value: str | None) -> str | None:
        return self.default if value is None else value


@dataclass(frozen=True, slots=True)
class Body:
    """A JSON body of `type`: passed whole as `spec`, or, with `fields`, one argument per field."""

    type: Any
    fields: tuple[str, ...] = ()

    def read(self, body: bytes) -> dict[str, Any]:
        try:
            value = json_limits.decode_checked(lambda b: msgspec.json.decode(b, type=self.type), body)
        except (msgspec.DecodeError, msgspec.ValidationError, json_limits.JsonLimitError) as exc:
            raise Refused(f"invalid request: {exc}") from None
        if self.fields:
            return {name: value.get(name) for name in self.fields}
        return {"spec": value}


Query = Count | Time | Text


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str                    # the CLI backend's method of the same name calls it
    method: Literal["GET", "POST"]
    # Under PREFIX; {name} segments are the operation's arguments (not Litestar's reserved
    # names: scope, state, query, body, request, headers, cookies, data, socket).
    path: str
    op: Callable[..., Any]
    # What the operation takes first: the store connection, that and the settings, or the
    # worker's GatewayState (for what only a running gateway knows).
    takes: Literal["conn", "conn+settings", "state"] = "conn"
    query: tuple[Query, ...] = ()
    body: Body | None = None
    status: int = 200
    flush: bool = False          # the ledger writer's queue goes to the file before the operation reads

    @property
    def segments(self) -> list[str]:
        return _SEGMENT.findall(self.path)

    def arguments(self, path: Mapping[str, str], query: Callable[[str], str | None],
                  body: bytes | None) -> dict[str, Any]:
        """The operation's keyword arguments from the request's path, query and body."""
        args: dict[str, Any] = {name: path[name] for name in self.segments}
        for param in self.query:
            args[param.name] = param.read(query(param.name))
        if self.body is not None:
            args |= self.body.read(body or b"")
        return args

    def url(self, **values: Any) -> str:
        """This endpoint's path (under PREFIX) with `values` in its segments and query; a
        query value that is None or empty is left out."""
        segments = self.segments
        names = {*segments, *(q.name for q in self.query)}
        if set(values) - names or set(segments) - set(values):
            raise TypeError(f"{self.name} takes {sorted(names)}, got {sorted(values)}")
        path = _SEGMENT.sub(lambda m: _quote(values[m.group(1)]), self.path)
        query = "&".join(f"{q.name}={_quote(values[q.name])}" for q in self.query
                         if values.get(q.name) not in (None, ""))
        return f"{path}?{query}" if query else path


def _quote(value: Any) -> str:
    return urllib.parse.quote(str(value), safe="")


_LIMIT = Count("limit", 50, 1, MAX_LIMIT)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("list_keys", "GET", "/keys", ops.list_keys),
    Endpoint("create_key", "POST", "/keys", ops.create_key, "conn+settings", body=Body(KeySpec), status=201),
    Endpoint("show_key", "GET", "/keys/{ref}", ops.show_key),
    Endpoint("revoke_key", "POST", "/keys/{ref}/revoke", ops.revoke_key),
    Endpoint("rotate_key", "POST", "/keys/{ref}/rotate", ops.rotate_key),
    Endpoint("key_limits", "POST", "/keys/{ref}/limits", ops.set_rate_limits,
             body=Body(RateLimits, fields=("rpm", "tpm"))),
    Endpoint("list_teams", "GET", "/teams", ops.list_teams),
    Endpoint("create_team", "POST", "/teams", ops.create_team, "conn+settings", body=Body(TeamSpec), status=201),
    Endpoint("budgets", "GET", "/budgets", ops.budgets),
    Endpoint("set_budget", "POST", "/budgets", ops.set_budget, "conn+settings", body=Body(BudgetSpec)),
    Endpoint("remove_budget", "POST", "/budgets/{kind}/{ref}/remove", ops.remove_budget),
    Endpoint("events", "GET", "/events", ops.events, query=(_LIMIT,)),
    Endpoint("spend", "GET", "/spend", ops.spend, query=(Text("by", "key"), Time("since")), flush=True),
    Endpoint("recent", "GET", "/requests", ops.recent, query=(_LIMIT,), flush=True),
    Endpoint("providers", "GET", "/providers", ops.providers, "state"),
    Endpoint("stats", "GET", "/stats", ops.stats, "state", query=(Count("window", 60, 5, MAX_WINDOW_S),),
             flush=True),
    Endpoint("traces", "GET", "/traces", ops.traces, query=(_LIMIT, Time("after")), flush=True),
    Endpoint("trace", "GET", "/traces/{request_id}", ops.trace, flush=True),
    Endpoint("cache_stats", "GET", "/cache", ops.cache_status, "state"),
    Endpoint("cache_entries", "GET", "/cache/entries", ops.cache_entries,
             query=(Count("limit", 20, 1, MAX_LIMIT), Text("search"))),
    Endpoint("cache_clear", "POST", "/cache/clear", ops.cache_clear, query=(Text("alias"),)),
)

ENDPOINT: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}


def path(name: str, **values: Any) -> str:
    """The path (under PREFIX) of the endpoint `name` with these values: `path("events", limit=5)`."""
    return ENDPOINT[name].url(**values)


def error_fields(data: Any) -> tuple[str | None, str | None]:
    """The message and code of an admin API error body (the OpenAI error envelope), if it is one."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    message, code = error.get("message"), error.get("code")
    return (message if isinstance(message, str) else None), (code if isinstance(code, str) else None)
