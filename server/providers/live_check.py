"""Live checks of every provider at once, for `gate providers list` and the admin API."""

from __future__ import annotations

import asyncio

from server.providers.base import Provider


async def check_all(providers: dict[str, Provider], known: dict[str, dict] | None = None) -> list[dict]:
    """A live check of each provider, with what the gateway knows of it (breaker, counters)."""
    names = list(providers)
    checks = await asyncio.gather(*(providers[n].check() for n in names))
    known = known or {}
    return [
        {"name": n, "kind": providers[n].kind, "locality": providers[n].locality,
         "ok": h.ok, "detail": h.detail, "latency_ms": h.latency_ms,
         "breaker": known.get(n, {}).get("breaker"), "inflight": known.get(n, {}).get("inflight"),
         "served": known.get(n, {}).get("served"), "failed": known.get(n, {}).get("failed"),
         "load": known.get(n, {}).get("load"), "last_error": known.get(n, {}).get("last_error")}
        for n, h in zip(names, checks, strict=True)
    ]
