"""GatewayState: every runtime object of one worker, built in the lifespan."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import aiohttp
import apsw

from server.providers.base import Provider, Target
from server.providers.registry import build_providers, new_session
from server.settings import Secret, Settings, admin_token
from server.store import db
from server.store.ledger_writer import LedgerWriter

log = logging.getLogger("gate")


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
    started_at: float = field(default_factory=time.time)

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
        routes = {
            alias: [Target(providers[t.split(":", 1)[0]], t.split(":", 1)[1]) for t in model.route]
            for alias, model in settings.models.items()
        }
        state = cls(settings, conn, ledger, session, providers, routes, admin_token(settings),
                    db.vec_version(conn))
        ledger.start()
        for provider in providers.values():
            await provider.start()
        log.info("gate: database %s (sqlite-vec %s), %d providers, %d models",
                 path, state.vec_version, len(providers), len(routes))
        return state

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()
        await self.ledger.close()
        await self.session.close()
        self.db.close()
