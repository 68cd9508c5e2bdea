"""The admin API client behind `gate top`: aiohttp on the app's own event loop, never blocking.

Errors come in three kinds the screens treat differently: the gateway cannot be reached
(retry with backoff, keep the last data), it refused the admin token (say so clearly), or
one endpoint failed (that panel keeps its last data and shows a note).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from cli.tui.model import Snapshot
from server.admin.endpoints import PREFIX, error_fields
from server.admin.endpoints import path as admin_path
from server.admin.operations import TRACE_NOT_FOUND

# Fetched on every tick; the rest (health checks, cache, key names) every SLOW_EVERY ticks.
FAST = ("stats", "requests", "budgets", "spend_key", "spend_team")
SLOW = ("providers", "cache", "keys", "teams")
SLOW_EVERY = 5


class AdminError(Exception):
    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class Unreachable(AdminError):
    """No HTTP answer at all: refused, reset, timed out, not HTTP."""


class Unauthorized(AdminError):
    """401: a wrong admin token, or the admin API is off on that gateway."""


class AdminClient:
    def __init__(self, url: str, token: str, *, window: int = 60, limit: int = 50,
                 timeout_s: float = 5.0) -> None:
        self.base = url.rstrip("/")
        self.window = window
        self.limit = limit
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 3.0))
        self._session: aiohttp.ClientSession | None = None
        self._last = Snapshot()
        self._ticks = 0
        self._full_at = 0

    # -- HTTP --------------------------------------------------------------------------
    def _session_(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"Authorization": f"Bearer {self._token}"})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str) -> Any:
        url = f"{self.base}{PREFIX}{path}"
        try:
            # Never follow a redirect: the session would send the admin token along to it.
            async with self._session_().get(url, allow_redirects=False) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise Unreachable(_reason(exc)) from None
        if 300 <= status < 400:
            raise AdminError(f"{path} answered {status}, a redirect: not followed", status)
        try:
            data = json.loads(body) if body else None
        except ValueError:
            if status >= 400:
                raise AdminError(f"{path} answered {status}", status) from None
            raise Unreachable(f"{self.base} did not answer with JSON (is it a gate gateway?)") from None
        if status < 400:
            return data
        message, code = error_fields(data)
        message = message or f"HTTP {status}"
        if status == 401:
            raise Unauthorized(message, status, code)
        raise AdminError(message, status, code)

    # -- one poll ------------------------------------------------------------------------
    def _paths(self, full: bool) -> dict[str, str]:
        paths = {
            "stats": admin_path("stats", window=self.window),
            "requests": admin_path("recent", limit=self.limit),
            "budgets": admin_path("budgets"),
            "spend_key": admin_path("spend", by="key"),
            "spend_team": admin_path("spend", by="team"),
        }
        if full:
            paths |= {"providers": admin_path("providers"), "cache": admin_path("cache_stats"),
                      "keys": admin_path("list_keys"), "teams": admin_path("list_teams")}
        return paths

    async def poll(self, full: bool = False) -> Snapshot:
        """Fetch what changed; raises Unreachable or Unauthorized when nothing can be shown."""
        full = full or self._ticks % SLOW_EVERY == 0 or (
            self._needs_names(self._last) and self._ticks - self._full_at >= 2)
        if full:
            self._full_at = self._ticks
        self._ticks += 1
        paths = self._paths(full)
        results = await asyncio.gather(*(self.get(p) for p in paths.values()), return_exceptions=True)
        answers = dict(zip(paths, results, strict=True))
        for kind in (Unauthorized, Unreachable):
            for value in answers.values():
                if isinstance(value, kind):
                    raise value
        for value in answers.values():
            if isinstance(value, BaseException) and not isinstance(value, AdminError):
                raise value
        failed = [v for v in answers.values() if isinstance(v, AdminError)]
        if len(failed) == len(answers):  # a proxy answering for a gateway that is not there
            raise Unreachable(f"every admin endpoint failed: {failed[0].message}", failed[0].status)
        return self._merge(answers)

    def _merge(self, answers: dict[str, Any]) -> Snapshot:
        last = self._last
        snap = Snapshot(at=time.time(), stats=last.stats, requests=last.requests, budgets=last.budgets,
                        providers=last.providers, spend_key=last.spend_key, spend_team=last.spend_team,
                        cache=last.cache,
                        key_names=last.key_names, team_names=last.team_names,
                        errors={k: v for k, v in last.errors.items() if k not in answers})
        for name, value in answers.items():
            if isinstance(value, AdminError):
                snap.errors[name] = value.message
                continue
            if name == "keys":
                snap.key_names = {k["id"]: k["name"] for k in value}
            elif name == "teams":
                snap.team_names = {t["id"]: t["name"] for t in value}
            else:
                setattr(snap, name, value)
        self._last = snap
        return snap

    @staticmethod
    def _needs_names(snap: Snapshot) -> bool:
        """A request from a key (or team) this client has not seen: fetch names next tick."""
        return any((r.get("key_id") and r["key_id"] not in snap.key_names)
                   or (r.get("team_id") and r["team_id"] not in snap.team_names)
                   for r in snap.requests[:10])

    async def trace(self, request_id: str) -> dict | None:
        """The stored trace of one request; None when the gateway has not stored it (yet)."""
        try:
            return await self.get(admin_path("trace", request_id=request_id))
        except AdminError as exc:
            if exc.status == 404 and exc.code == TRACE_NOT_FOUND:
                return None
            raise


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return f"connection refused by {exc.host}:{exc.port}"
        return f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the gateway closed the connection"
    return str(exc) or type(exc).__name__
