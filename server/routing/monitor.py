"""What each worker knows of each provider: breaker, requests in flight, reported load.

A monitor polls the providers that want it (local OpenAI-compatible servers by default)
every `health_interval_s`: a failed probe opens the breaker, a good one closes it, and the
load a vLLM or llama.cpp server reports (queue depth, busy slots) feeds the balancer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from server.providers.base import Provider
from server.routing.breaker import Breaker

log = logging.getLogger("gate.health")


@dataclass
class ProviderHealth:
    name: str
    breaker: Breaker
    inflight: int = 0
    load: float | None = None          # what the server reports: waiting * 2 + running
    checked_at: float | None = None
    detail: str = "not checked yet"
    last_error: str | None = None
    tripped_by_check: bool = False  # the health check opened the breaker (so it may close it)
    served: int = 0
    failed: int = 0
    history: list[str] = field(default_factory=list)

    def busy(self) -> float:
        """How busy it looks: the reported load when known, plus what this worker sends."""
        return (self.load or 0.0) + self.inflight

    def snapshot(self) -> dict:
        return {"name": self.name, "breaker": self.breaker.state, "failures": self.breaker.failures,
                "inflight": self.inflight, "load": self.load, "detail": self.detail,
                "last_error": self.last_error, "served": self.served, "failed": self.failed,
                "checked_at": self.checked_at}


class HealthMonitor:
    def __init__(self, providers: dict[str, Provider], health: dict[str, ProviderHealth],
                 interval_s: float) -> None:
        self._providers = providers
        self._health = health
        self._interval = interval_s
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        watched = [n for n, p in self._providers.items() if p.health_checks]
        if watched:
            self._task = asyncio.create_task(self._run(watched), name="gate-health")

    async def _run(self, names: list[str]) -> None:
        while True:
            await asyncio.gather(*(self.probe(n) for n in names))
            await asyncio.sleep(self._interval)

    async def probe(self, name: str) -> None:
        result = await self._providers[name].probe()
        h = self._health[name]
        h.checked_at, h.detail = time.time(), result.detail
        if result.ok:
            h.load = result.load
            # A server that answers its health check may still fail real requests: only a
            # breaker the check itself opened is closed by it; others wait for a probe request.
            if h.tripped_by_check:
                log.info("provider %s is healthy again", name)
                h.breaker.success()
                h.tripped_by_check = False
        else:
            h.load = None
            if h.breaker.state != "open":
                log.warning("provider %s failed its health check: %s", name, result.detail)
                h.breaker.trip()
                h.tripped_by_check = True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
