"""Where admin commands act: the SQLite file on this host, or a gateway's admin API (--url).

Both return plain builtins (dicts and lists), so commands print them the same way.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

import msgspec

from server import admin_ops
from server.cache import store as cache_store
from server.settings import Settings
from server.store import budgets as budget_store
from server.store import db as store_db
from server.store import keys as key_store
from server.store import ledger as ledger_store
from server.store import provider_health
from server.store import teams as team_store
from server.store import traces as trace_store


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


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value)


class LocalBackend:
    """Acts on the SQLite file named by gateway.toml (the gateway may be running)."""

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
            return _plain(fn(self.conn, *args))
        except (key_store.KeyError_, admin_ops.OpError) as exc:
            raise BackendError(str(exc)) from None

    def list_keys(self) -> list[dict]:
        return self._op(key_store.list_keys)

    def create_key(self, spec: dict) -> dict:
        return self._op(admin_ops.create_key, self.settings, msgspec.convert(spec, admin_ops.KeySpec))

    def key_limits(self, ref: str, rpm: int | None, tpm: int | None) -> dict:
        return self._op(admin_ops.set_rate_limits, ref, rpm, tpm)

    def list_teams(self) -> list[dict]:
        return _plain(team_store.list_teams(self.conn))

    def create_team(self, spec: dict) -> dict:
        return self._op(admin_ops.create_team, self.settings, msgspec.convert(spec, admin_ops.TeamSpec))

    def budgets(self) -> list[dict]:
        return _plain(budget_store.status(self.conn))

    def set_budget(self, spec: dict) -> list[dict]:
        return self._op(admin_ops.set_budget, self.settings, msgspec.convert(spec, admin_ops.BudgetSpec))

    def remove_budget(self, scope: str, ref: str) -> None:
        self._op(admin_ops.remove_budget, scope, ref)

    def events(self, limit: int) -> list[dict]:
        return _plain(budget_store.events(self.conn, limit))

    def cache_stats(self) -> dict:
        return _plain(cache_store.stats(self.conn))

    def traces(self, limit: int, after: float | None) -> list[dict]:
        return _plain(trace_store.recent(self.conn, limit, after))

    def trace(self, request_id: str) -> dict:
        found = trace_store.get(self.conn, request_id)
        if found is None:
            raise BackendError(f"no trace for request '{request_id}'")
        return _plain(found)

    def cache_entries(self, search: str | None, limit: int) -> list[dict]:
        return _plain(cache_store.inspect(self.conn, search, limit))

    def cache_clear(self, alias: str | None) -> int:
        return cache_store.clear(self.conn, alias)

    def show_key(self, ref: str) -> dict:
        return self._op(key_store.get_key, ref)

    def revoke_key(self, ref: str) -> dict:
        return self._op(key_store.revoke_key, ref)

    def rotate_key(self, ref: str) -> dict:
        return self._op(key_store.rotate_key, ref)

    def spend(self, by: str, since: float | None) -> list[dict]:
        try:
            return _plain(ledger_store.spend(self.conn, by, since))
        except ValueError as exc:
            raise BackendError(str(exc)) from None

    def recent(self, limit: int) -> list[dict]:
        return _plain(ledger_store.fetch_rows(self.conn, limit=limit))

    def providers(self) -> list[dict]:
        return asyncio.run(_check_providers(self.settings, provider_health.latest(self.conn)))


async def _check_providers(settings: Settings, known: dict[str, dict]) -> list[dict]:
    from server.providers.health import check_all
    from server.providers.registry import build_providers, new_session

    session = new_session()
    try:
        return await check_all(build_providers(settings, session), known)
    finally:
        await session.close()


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

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + "/admin" + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"})
        try:
            with _OPENER.open(request, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise BackendError(f"{self.base} answered {exc.code}, a redirect: not followed "
                                   "(the admin token goes only to --url)") from None
            try:
                message = json.loads(exc.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = exc.reason
            raise BackendError(f"{self.base} answered {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendError(f"cannot reach {self.base}: {reason}") from None

    def list_keys(self) -> list[dict]:
        return self._call("GET", "/keys")

    def create_key(self, spec: dict) -> dict:
        return self._call("POST", "/keys", spec)

    def key_limits(self, ref: str, rpm: int | None, tpm: int | None) -> dict:
        return self._call("POST", f"/keys/{_q(ref)}/limits", {"rpm": rpm, "tpm": tpm})

    def list_teams(self) -> list[dict]:
        return self._call("GET", "/teams")

    def create_team(self, spec: dict) -> dict:
        return self._call("POST", "/teams", spec)

    def budgets(self) -> list[dict]:
        return self._call("GET", "/budgets")

    def set_budget(self, spec: dict) -> list[dict]:
        return self._call("POST", "/budgets", spec)

    def remove_budget(self, scope: str, ref: str) -> None:
        self._call("POST", f"/budgets/{_q(scope)}/{_q(ref)}/remove")

    def events(self, limit: int) -> list[dict]:
        return self._call("GET", f"/events?limit={limit}")

    def cache_stats(self) -> dict:
        return self._call("GET", "/cache")

    def traces(self, limit: int, after: float | None) -> list[dict]:
        return self._call("GET", f"/traces?limit={limit}" + (f"&after={after}" if after else ""))

    def trace(self, request_id: str) -> dict:
        return self._call("GET", f"/traces/{_q(request_id)}")

    def cache_entries(self, search: str | None, limit: int) -> list[dict]:
        query = f"?limit={limit}" + (f"&search={_q(search)}" if search else "")
        return self._call("GET", "/cache/entries" + query)

    def cache_clear(self, alias: str | None) -> int:
        return self._call("POST", "/cache/clear" + (f"?alias={_q(alias)}" if alias else ""))["removed"]

    def show_key(self, ref: str) -> dict:
        return self._call("GET", f"/keys/{_q(ref)}")

    def revoke_key(self, ref: str) -> dict:
        return self._call("POST", f"/keys/{_q(ref)}/revoke")

    def rotate_key(self, ref: str) -> dict:
        return self._call("POST", f"/keys/{_q(ref)}/rotate")

    def spend(self, by: str, since: float | None) -> list[dict]:
        query = f"?by={by}" + (f"&since={since}" if since is not None else "")
        return self._call("GET", "/spend" + query)

    def recent(self, limit: int) -> list[dict]:
        return self._call("GET", f"/requests?limit={limit}")

    def providers(self) -> list[dict]:
        return self._call("GET", "/providers")


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def backend_for(g) -> Backend:
    """--url (or GATE_URL) selects the admin API; otherwise the local SQLite file."""
    if g.url:
        return RemoteBackend(g.url, g.admin_token)
    return LocalBackend(g.settings())


def call(ctx, method: str, *args):
    """Run one admin operation for a command; a failure prints its reason and exits 1."""
    from cli.context import fail, globals_

    try:
        return getattr(backend_for(globals_(ctx)), method)(*args)
    except BackendError as exc:
        fail(str(exc))
