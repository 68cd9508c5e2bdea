"""Everything built from the providers and models of gateway.toml, swapped whole on reload.

A request takes the topology current when it starts and keeps its targets to the end, so
a reload never drops one in flight. Providers whose settings did not change are kept as
they are (an in-process model is not loaded twice); removed or changed ones are closed once
their last request is done. A provider that cannot be built is left out (its routes skip
it) and reported, and every other change still applies.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from server.providers.base import Provider
from server.providers.openai_compat import OpenAICompatible
from server.providers.registry import build_or_leave_out
from server.providers.scrub import Scrubber
from server.providers.unavailable import Unavailable
from server.routing.monitor import HealthMonitor, ProviderHealth
from server.routing.route import Route, build_health, build_routes
from server.core.settings import Settings

if TYPE_CHECKING:
    from server.guardrails.policies import Guards

log = logging.getLogger("gate.topology")
DRAIN_LIMIT_S = 600.0


@dataclass
class Topology:
    providers: dict[str, Provider]
    health: dict[str, ProviderHealth]
    routes: dict[str, Route]
    monitor: HealthMonitor
    guards: Guards                     # the compiled guardrail policies (the runtime compiles them)
    problems: list[str] = field(default_factory=list)  # what could not be applied, and why

    @property
    def ready(self) -> bool:
        return all(p.ready for p in self.providers.values())


async def build(settings: Settings, guards: Guards, session: aiohttp.ClientSession,
                previous: Topology | None = None) -> Topology:
    """Everything that can be built; a provider that cannot (a secret reference that does
    not resolve) is left out in its own place and named in `problems`, so the rest applies."""
    providers: dict[str, Provider] = {}
    kept: dict[str, ProviderHealth] = {}
    problems: list[str] = []
    scrubber = Scrubber.from_settings(settings)  # every secret of this configuration
    for name, p in settings.providers.items():
        old = previous.providers.get(name) if previous else None
        if old is not None and getattr(old, "settings", None) == p:
            providers[name] = old
            kept[name] = previous.health[name]  # type: ignore[union-attr]
            if isinstance(old, OpenAICompatible):
                old.scrubber = scrubber  # it learns the secrets a reload added
            continue
        providers[name] = provider = build_or_leave_out(name, p, settings, session, scrubber)
        if isinstance(provider, Unavailable):
            problems.append(f"provider '{name}' left out: {provider.reason}")
            log.error("provider %s is left out until its configuration can be applied: %s", name, provider.reason)
            continue
        await provider.start()
    health = build_health(settings, providers, kept)
    routes = build_routes(settings, providers, health)
    monitor = HealthMonitor(providers, health, settings.routing.health_interval_s)
    monitor.start()
    return Topology(providers, health, routes, monitor, guards, problems)


async def retire(old: Topology, new: Topology) -> None:
    """Stop the old monitor; close providers the new topology dropped, once drained."""
    await old.monitor.close()
    gone = [(n, p) for n, p in old.providers.items() if new.providers.get(n) is not p]
    for name, provider in gone:
        health = old.health[name]
        waited = 0.0
        while health.inflight > 0 and waited < DRAIN_LIMIT_S:
            await asyncio.sleep(0.1)
            waited += 0.1
        await provider.close()
        log.info("provider %s retired after reload", name)


async def close(topology: Topology) -> None:
    await topology.monitor.close()
    for provider in topology.providers.values():
        await provider.close()
