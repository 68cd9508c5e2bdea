"""GatewayState: every runtime object of one worker, built in the lifespan."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field

import aiohttp
import apsw

from server.observe import metrics

from server.runtime import reload
from server.runtime.alerts import Alerts
from server.runtime.auth_cache import AuthCache
from server.cache.service import Cache
from server.providers.base import Provider
from server.providers.registry import new_session
from server.guardrails.policies import compile_policies
from server.routing import topology
from server.routing.route import Route
from server.routing.topology import Topology
from server.core.settings import Secret, Settings, admin_token
from server.store import budgets as budget_store
from server.store import db, orphans, provider_health
from server.store import traces as trace_store
from server.store.ledger_commit import LedgerCommit
from server.store.ledger_writer import LedgerWriter

log = logging.getLogger("gate")


@dataclass
class GatewayState:
    settings: Settings
    db: apsw.Connection
    ledger: LedgerWriter
    commit: LedgerCommit
    session: aiohttp.ClientSession
    topology: Topology
    admin_token: Secret | None
    vec_version: str
    alerts: Alerts
    cache: Cache
    started_at: float = field(default_factory=time.time)
    reloads: int = 0
    reload_error: str | None = None  # the last change of gateway.toml that could not apply at all
    auth: AuthCache = field(default_factory=AuthCache)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def providers(self) -> dict[str, Provider]:
        return self.topology.providers

    @property
    def routes(self) -> dict[str, Route]:
        return self.topology.routes

    @property
    def ready(self) -> bool:
        return self.topology.ready

    @property
    def config_error(self) -> str | None:
        """What of gateway.toml this worker could not apply, or None when all of it applies."""
        problems = ([self.reload_error] if self.reload_error else []) + self.topology.problems
        return "; ".join(problems) or None

    def apply(self, settings: Settings, new: Topology) -> None:
        """Swap in a reloaded configuration; requests in flight keep what they started with."""
        self.settings = settings
        self.topology = new
        self.reloads += 1

    @classmethod
    async def open(cls, settings: Settings) -> GatewayState:
        path = settings.database.path
        conn = db.connect(path, busy_timeout_ms=settings.database.busy_timeout_ms, checkpoints=False)
        writer_conn = db.connect(path, busy_timeout_ms=settings.database.busy_timeout_ms, migrate=False)
        ledger = LedgerWriter(writer_conn, flush_interval_ms=settings.ledger.flush_interval_ms,
                              batch_size=settings.ledger.batch_size)
        ledger.on_batch = metrics.write_batch  # counters and histograms, with each batch
        session = new_session()
        topo = await topology.build(settings, compile_policies(settings.guardrails, settings.source), session)
        cache = Cache(settings.cache, path, settings.database.busy_timeout_ms)
        await cache.start()
        alerts = Alerts(session, settings.budgets.webhook)
        state = cls(settings, conn, ledger, LedgerCommit(conn, ledger, alerts.publish), session, topo,
                    admin_token(settings), db.vec_version(conn), alerts, cache)
        if settings.telemetry.otlp_endpoint:
            from server.observe.telemetry import OtlpExport

            ledger.exporters.append(OtlpExport(settings.telemetry))
        ledger.on_events = alerts.publish
        state.charge_orphans()  # a respawned worker charges what the dead one left unsettled
        ledger.start()
        state._tasks.append(asyncio.create_task(state._tidy(), name="gate-housekeeping"))
        state._tasks.append(asyncio.create_task(state._publish(), name="gate-health-publish"))
        if settings.routing.reload and settings.source:
            state._tasks.append(asyncio.create_task(reload.watch(state), name="gate-reload"))
        log.info("gate: database %s (sqlite-vec %s), %d providers, %d models",
                 path, state.vec_version, len(topo.providers), len(topo.routes))
        return state

    def charge_orphans(self) -> None:
        """Reservations of dead workers become spend at their worst case, with ledger rows."""
        try:
            charged, events = orphans.charge(self.db, time.time())
        except apsw.BusyError:
            return  # another worker holds the lock: it or the next round charges them
        except apsw.Error as exc:
            log.error("cannot charge dead workers' reservations now: %s", exc)
            return
        if charged:
            log.warning("charged %d requests of a worker that died before settling them, at their "
                        "reserved worst case: %s", len(charged), ", ".join(charged[:10]))
        if events:
            self.alerts.publish(events)

    async def _tidy(self, every_s: float = 60.0) -> None:
        """Dead workers' reservations are charged; old rate windows, caches and traces go."""
        while True:
            try:
                self.charge_orphans()
                budget_store.prune(self.db, time.time())
                await self.cache.prune()
                retention = self.settings.telemetry.trace_retention_h * 3600
                await self.ledger.run_in_thread(trace_store.prune, time.time() - retention)
            except apsw.BusyError:
                pass  # another worker holds the lock: it or the next round will tidy
            await asyncio.sleep(every_s)

    def health_rows(self) -> list[dict]:
        return [h.snapshot() for h in self.topology.health.values()]

    async def _publish(self, every_s: float = 2.0) -> None:
        """This worker's breaker states and counters, for `gate providers list`."""
        while True:
            try:
                provider_health.publish(self.db, os.getpid(), self.health_rows(), time.time())
            except apsw.BusyError:
                pass  # the next round publishes
            await asyncio.sleep(every_s)

    async def close(self) -> None:
        self.commit.flush()  # rows of requests that ended without awaiting theirs
        for task in self._tasks:
            task.cancel()
        await self.alerts.close()
        await topology.close(self.topology)
        await self.cache.close()
        await self.ledger.close()
        for exporter in self.ledger.exporters:
            exporter.shutdown()
        await self.session.close()
        self.db.close()
