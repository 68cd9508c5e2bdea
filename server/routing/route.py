"""An alias's route: tiers of targets, and how each tier spreads its load."""

from __future__ import annotations

from dataclasses import dataclass, field

from server.core.prices import price_for
from server.providers.base import Provider
from server.routing.breaker import Breaker
from server.routing.monitor import ProviderHealth
from server.routing.target import Target
from server.core.settings import Settings


@dataclass
class Route:
    alias: str
    tiers: list[list[Target]]
    balance: str = "least_busy"
    weights: dict[str, float] = field(default_factory=dict)
    cache: bool = True

    def targets(self) -> list[Target]:
        return [t for tier in self.tiers for t in tier]


def build_health(settings: Settings, providers: dict[str, Provider],
                 previous: dict[str, ProviderHealth] | None = None) -> dict[str, ProviderHealth]:
    """One ProviderHealth per provider; a reload keeps what it knew of unchanged ones."""
    r = settings.routing
    out = {}
    for name in providers:
        old = (previous or {}).get(name)
        out[name] = old if old is not None else ProviderHealth(name, Breaker(r.breaker_failures, r.breaker_cooldown_s))
    return out


def build_routes(settings: Settings, providers: dict[str, Provider],
                 health: dict[str, ProviderHealth]) -> dict[str, Route]:
    def target(spec: str) -> Target:
        name, model = spec.split(":", 1)
        price_in, price_out = price_for(settings, settings.providers[name], model)
        return Target(providers[name], model, health[name], price_in, price_out)

    return {alias: Route(alias, [[target(s) for s in tier] for tier in m.tiers()], m.balance, dict(m.weights),
                         m.cache)
            for alias, m in settings.models.items()}
