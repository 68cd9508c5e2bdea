"""Budget events out of the request path: logged, and posted to a local webhook if set.

The events themselves are already in the SQLite file (`gate budgets events`); the webhook
is a convenience, so a failed post is logged and dropped, never retried on the hot path.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp

from server.store.budgets import Event

log = logging.getLogger("gate.alerts")


class Alerts:
    def __init__(self, session: aiohttp.ClientSession, webhook: str | None) -> None:
        self._session = session
        self._webhook = webhook
        self._tasks: set[asyncio.Task] = set()

    def publish(self, events: list[Event]) -> None:
        for e in events:
            log.warning("%s: %s", e.kind, e.detail)
        if self._webhook:
            task = asyncio.get_running_loop().create_task(self._post(events))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, events: list[Event]) -> None:
        payload = {"events": [{"kind": e.kind, "scope": e.budget.scope, "owner": e.budget.owner_name,
                               "period": e.budget.period, "detail": e.detail, "ts": time.time()}
                              for e in events]}
        try:
            # A redirect is never followed: the events go to the configured address or nowhere.
            async with self._session.post(self._webhook, json=payload, allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status >= 300:
                    log.warning("alert webhook answered %d", resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("alert webhook failed: %s", type(exc).__name__)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
