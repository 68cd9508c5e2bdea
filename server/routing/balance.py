"""The order in which one tier's targets are tried."""

from __future__ import annotations

import random

from server.routing.target import Target


def order(tier: list[Target], strategy: str, weights: dict[str, float]) -> list[Target]:
    if len(tier) == 1:
        return tier
    if strategy == "weighted":
        # Weighted random order without replacement (Efraimidis-Spirakis keys).
        return sorted(tier, key=lambda t: -random.random() ** (1.0 / weights.get(t.label, 1.0)))
    # least_busy: closed breakers first, then the least busy; ties broken at random.
    return sorted(tier, key=lambda t: (t.health.breaker.state != "closed", t.health.busy(), random.random()))
