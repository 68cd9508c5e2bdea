"""GatewayState: every runtime object of one worker, built in the lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp
import apsw

from server.alerts import Alerts
from server.prices import price_for
from server.providers.base import Provider, Target
from server.providers.registry import build_providers, new_session
from server.settings import Secret, Settings, admin_token
from server.store import budgets as budget_store
from server.store import db
from server.store.ledger_writer import LedgerWriter

log = logging.getLogger("gate")


def target(settings: Settings, providers: dict[str, Provider], spec: str) -> Target:
    name, model = spec.split(":", 1)
    price_in, price_out = price_for(settings, settings.providers[name], model)
    return Target(providers[name], model, price_in, price_out)


@dataclass
class GatewayState:
    settings: Settings
    db: apsw.Connection
    ledger: LedgerWriter
    session: aiohttp.ClientSession
    providers: dict[str, Provider]
    routes: dict[str, list[Target]]
    admin_token: Secret | None
    vec_version: str
    alerts: Alerts
    started_at: float = field(default_factory=time.time)
    _housekeeping: asyncio.Task | None = None

    @property
    def ready(self) -> bool:
        return all(p.ready for p in self.providers.values())

    @classmethod
    async def open(cls, settings: Settings) -> GatewayState:
        path = settings.database.path
        conn = db.connect(path, busy_timeout_ms=settings.database.busy_timeout_ms)
        writer_conn = db.connect(path, busy_timeout_ms=settings.database.busy_timeout_ms, migrate=False)
        ledger = LedgerWriter(writer_conn, flush_interval_ms=settings.ledger.flush_interval_ms,
                              batch_size=settings.ledger.batch_size)
        session = new_session()
        providers = build_providers(settings, session)
        routes = {alias: [target(settings, providers, t) for t in model.route]
                  for alias, model in settings.models.items()}
        state = cls(settings, conn, ledger, session, providers, routes, admin_token(settings),
                    db.vec_version(conn), Alerts(session, settings.budgets.webhook))
        ledger.start()
        state._housekeeping = asyncio.create_task(state._tidy(), name="gate-housekeeping")
        for provider in providers.values():
            await provider.start()
        log.info("gate: database %s (sqlite-vec %s), %d providers, %d models",
                 path, state.vec_version, len(providers), len(routes))
        return state

    async def _tidy(self, every_s: float = 60.0) -> None:
        """Expired reservations (a crashed worker's) and old rate windows go."""
        while True:
            try:
                dropped = budget_store.prune(self.db, time.time())
                if dropped:
                    log.warning("released %d expired budget reservations", dropped)
            except apsw.BusyError:
                pass  # another worker holds the lock: it or the next round will tidy
            await asyncio.sleep(every_s)

    async def close(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        await self.alerts.close()
        for provider in self.providers.values():
            await provider.close()
        await self.ledger.close()
        await self.session.close()
        self.db.close()
