"""Where admin commands act: the SQLite file on this host, or a gateway's admin API (--url).

Both return plain builtins (dicts and lists), so commands print them the same way.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import msgspec

from server.admin import operations as ops
from server.admin.endpoints import ENDPOINT, PREFIX, error_fields
from server.admin.refusal import Refused
from server.core.settings import Settings
from server.store import db as store_db


T = TypeVar("T")


class BackendError(Exception):
    pass


class Backend(Protocol):
    def list_keys(self) -> list[dict]: ...
    def create_key(self, spec: dict) -> dict: ...
    def key_limits(self, ref: str, rpm: int | None, tpm: int | None) -> dict: ...
    def list_teams(self) -> list[dict]: ...
    def create_team(self, spec: dict) -> dict: ...
    def budgets(self) -> list[dict]: ...
    def set_budget(self, spec: dict) -> list[dict]: ...
    def remove_budget(self, scope: str, ref: str) -> None: ...
    def events(self, limit: int) -> list[dict]: ...
    def cache_stats(self) -> dict: ...
    def traces(self, limit: int, after: float | None) -> list[dict]: ...
    def trace(self, request_id: str) -> dict: ...
    def cache_entries(self, search: str | None, limit: int) -> list[dict]: ...
    def cache_clear(self, alias: str | None) -> int: ...
    def show_key(self, ref: str) -> dict: ...
    def revoke_key(self, ref: str) -> dict: ...
    def rotate_key(self, ref: str) -> dict: ...
    def spend(self, by: str, since: float | None) -> list[dict]: ...
    def recent(self, limit: int) -> list[dict]: ...
    def providers(self) -> list[dict]: ...


class LocalBackend:
    """Acts on the SQLite file named by gateway.toml (the gateway may be running), through the
    same admin operations as the admin API."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn = None

    @property
    def conn(self):
        if self._conn is None:
            try:
                self._conn = store_db.connect(self.settings.database.path,
                                              busy_timeout_ms=self.settings.database.busy_timeout_ms)
            except store_db.StoreError as exc:
                raise BackendError(str(exc)) from None
        return self._conn

    def _op(self, fn, *args) -> Any:
        """`fn(conn, *args)` as plain builtins; its refusals become BackendErrors."""
        try:
            result = fn(self.conn, *args)
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
        except Refused as exc:
            raise BackendError(str(exc)) from None
        return msgspec.to_builtins(result)

    def list_keys(self) -> list[dict]:
        return self._op(ops.list_keys)

    def create_key(self, spec: dict) -> dict:
        return self._op(ops.create_key, self.settings, msgspec.convert(spec, ops.KeySpec))

    def key_limits(self, ref: str, rpm: int | None, tpm: int | None) -> dict:
        return self._op(ops.set_rate_limits, ref, rpm, tpm)

    def list_teams(self) -> list[dict]:
        return self._op(ops.list_teams)

    def create_team(self, spec: dict) -> dict:
        return self._op(ops.create_team, self.settings, msgspec.convert(spec, ops.TeamSpec))

    def budgets(self) -> list[dict]:
        return self._op(ops.budgets)

    def set_budget(self, spec: dict) -> list[dict]:
        return self._op(ops.set_budget, self.settings, msgspec.convert(spec, ops.BudgetSpec))

    def remove_budget(self, scope: str, ref: str) -> None:
        self._op(ops.remove_budget, scope, ref)

    def events(self, limit: int) -> list[dict]:
        return self._op(ops.events, limit)

    def cache_stats(self) -> dict:
        return self._op(ops.cache_stats)

    def traces(self, limit: int, after: float | None) -> list[dict]:
        return self._op(ops.traces, limit, after)

    def trace(self, request_id: str) -> dict:
        return self._op(ops.trace, request_id)

    def cache_entries(self, search: str | None, limit: int) -> list[dict]:
        return self._op(ops.cache_entries, search, limit)

    def cache_clear(self, alias: str | None) -> int:
        return self._op(ops.cache_clear, alias)["removed"]

    def show_key(self, ref: str) -> dict:
        return self._op(ops.show_key, ref)

    def revoke_key(self, ref: str) -> dict:
        return self._op(ops.revoke_key, ref)

    def rotate_key(self, ref: str) -> dict:
        return self._op(ops.rotate_key, ref)

    def spend(self, by: str, since: float | None) -> list[dict]:
        return self._op(ops.spend, by, since)

    def recent(self, limit: int) -> list[dict]:
        return self._op(ops.recent, limit)

    def providers(self) -> list[dict]:
        return self._op(ops.check_providers, self.settings)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is answered, not followed: urllib would resend the admin token to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 (urllib's signature)
        return None


# No proxy handler either way: the environment's proxies apply as urlopen's would.
_OPENER = urllib.request.build_opener(_NoRedirect())


class RemoteBackend:
    """Calls a gateway's admin API; the admin token goes in the Authorization header."""

    def __init__(self, url: str, token: str | None) -> None:
        self.base = url.rstrip("/")
        if not token:
            raise BackendError("--url needs an admin token: set GATE_ADMIN_TOKEN or pass --admin-token")
        self._token = token

    def _call(self, name: str, body: dict | None = None, **values: Any) -> Any:
        """The admin endpoint `name` (server.admin.endpoints) with these path and query values."""
        endpoint = ENDPOINT[name]
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + PREFIX + endpoint.url(**values), data=data, method=endpoint.method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"})
        try:
            with _OPENER.open(request, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise BackendError(f"{self.base} answered {exc.code}, a redirect: not followed "
                                   "(the admin token goes only to --url)") from None
            try:
                message = error_fields(json.loads(exc.read()))[0]
            except ValueError:
                message = None
            raise BackendError(f"{self.base} answered {exc.code}: {message or exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendError(f"cannot reach {self.base}: {reason}") from None

    def list_keys(self) -> list[dict]:
        return self._call("list_keys")

    def create_key(self, spec: dict) -> dict:
        return self._call("create_key", spec)

    def key_limits(self, ref: str, rpm: int | None, tpm: int | None) -> dict:
        return self._call("key_limits", {"rpm": rpm, "tpm": tpm}, ref=ref)

    def list_teams(self) -> list[dict]:
        return self._call("list_teams")

    def create_team(self, spec: dict) -> dict:
        return self._call("create_team", spec)

    def budgets(self) -> list[dict]:
        return self._call("budgets")

    def set_budget(self, spec: dict) -> list[dict]:
        return self._call("set_budget", spec)

    def remove_budget(self, scope: str, ref: str) -> None:
        self._call("remove_budget", kind=scope, ref=ref)

    def events(self, limit: int) -> list[dict]:
        return self._call("events", limit=limit)

    def cache_stats(self) -> dict:
        return self._call("cache_stats")

    def traces(self, limit: int, after: float | None) -> list[dict]:
        return self._call("traces", limit=limit, after=after or None)

    def trace(self, request_id: str) -> dict:
        return self._call("trace", request_id=request_id)

    def cache_entries(self, search: str | None, limit: int) -> list[dict]:
        return self._call("cache_entries", limit=limit, search=search)

    def cache_clear(self, alias: str | None) -> int:
        return self._call("cache_clear", alias=alias)["removed"]

    def show_key(self, ref: str) -> dict:
        return self._call("show_key", ref=ref)

    def revoke_key(self, ref: str) -> dict:
        return self._call("revoke_key", ref=ref)

    def rotate_key(self, ref: str) -> dict:
        return self._call("rotate_key", ref=ref)

    def spend(self, by: str, since: float | None) -> list[dict]:
        return self._call("spend", by=by, since=since)

    def recent(self, limit: int) -> list[dict]:
        return self._call("recent", limit=limit)

    def providers(self) -> list[dict]:
        return self._call("providers")


def backend_for(g) -> Backend:
    """--url (or GATE_URL) selects the admin API; otherwise the local SQLite file."""
    if g.url:
        return RemoteBackend(g.url, g.admin_token)
    return LocalBackend(g.settings())


def call(ctx, method: str, *args):
    """Run one admin operation for a command; a failure prints its reason and exits 1."""
    return run(ctx, lambda backend: getattr(backend, method)(*args))


def run(ctx, action: Callable[[Backend], T]) -> T:
    """`action(backend)` for a command: the one place a BackendError becomes its reason on
    stderr and exit code 1."""
    from cli.context import fail, globals_

    try:
        return action(backend_for(globals_(ctx)))
    except BackendError as exc:
        fail(str(exc))
