"""Where admin commands act: the SQLite file on this host, or a gateway's admin API (--url).

Both return plain builtins (dicts and lists), so commands print them the same way.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any, Protocol

import msgspec

from server.settings import Settings
from server.store import db as store_db
from server.store import keys as key_store
from server.store import ledger as ledger_store


class BackendError(Exception):
    pass


class Backend(Protocol):
    def list_keys(self) -> list[dict]: ...
    def create_key(self, name: str, models: list[str] | None, expires_at: float | None) -> dict: ...
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

    def _keys(self, fn, *args) -> Any:
        try:
            return _plain(fn(self.conn, *args))
        except key_store.KeyError_ as exc:
            raise BackendError(str(exc)) from None

    def list_keys(self) -> list[dict]:
        return self._keys(key_store.list_keys)

    def create_key(self, name: str, models: list[str] | None, expires_at: float | None) -> dict:
        unknown = sorted(set(models or []) - set(self.settings.models))
        if unknown:
            raise BackendError(f"unknown models: {', '.join(unknown)} "
                               f"(configured: {', '.join(sorted(self.settings.models)) or 'none'})")
        try:
            return _plain(key_store.create_key(self.conn, name, models=models, expires_at=expires_at))
        except key_store.KeyError_ as exc:
            raise BackendError(str(exc)) from None

    def show_key(self, ref: str) -> dict:
        return self._keys(key_store.get_key, ref)

    def revoke_key(self, ref: str) -> dict:
        return self._keys(key_store.revoke_key, ref)

    def rotate_key(self, ref: str) -> dict:
        return self._keys(key_store.rotate_key, ref)

    def spend(self, by: str, since: float | None) -> list[dict]:
        try:
            return _plain(ledger_store.spend(self.conn, by, since))
        except ValueError as exc:
            raise BackendError(str(exc)) from None

    def recent(self, limit: int) -> list[dict]:
        return _plain(ledger_store.fetch_rows(self.conn, limit=limit))

    def providers(self) -> list[dict]:
        return asyncio.run(_check_providers(self.settings))


async def _check_providers(settings: Settings) -> list[dict]:
    from server.providers.health import check_all
    from server.providers.registry import build_providers, new_session

    session = new_session()
    try:
        return await check_all(build_providers(settings, session))
    finally:
        await session.close()


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
            with urllib.request.urlopen(request, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
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

    def create_key(self, name: str, models: list[str] | None, expires_at: float | None) -> dict:
        return self._call("POST", "/keys", {"name": name, "models": models, "expires_at": expires_at})

    def show_key(self, ref: str) -> dict:
        return self._call("GET", f"/keys/{urllib.request.quote(ref, safe='')}")

    def revoke_key(self, ref: str) -> dict:
        return self._call("POST", f"/keys/{urllib.request.quote(ref, safe='')}/revoke")

    def rotate_key(self, ref: str) -> dict:
        return self._call("POST", f"/keys/{urllib.request.quote(ref, safe='')}/rotate")

    def spend(self, by: str, since: float | None) -> list[dict]:
        query = f"?by={by}" + (f"&since={since}" if since is not None else "")
        return self._call("GET", "/spend" + query)

    def recent(self, limit: int) -> list[dict]:
        return self._call("GET", f"/requests?limit={limit}")

    def providers(self) -> list[dict]:
        return self._call("GET", "/providers")


def backend_for(g) -> Backend:
    """--url (or GATE_URL) selects the admin API; otherwise the local SQLite file."""
    if g.url:
        return RemoteBackend(g.url, g.admin_token)
    return LocalBackend(g.settings())
