"""Live checks of every provider at once, for `gate providers list` and the admin API."""

from __future__ import annotations

import asyncio

from server.providers.base import Provider


async def check_all(providers: dict[str, Provider]) -> list[dict]:
    names = list(providers)
    checks = await asyncio.gather(*(providers[n].check() for n in names))
    return [
        {"name": n, "kind": providers[n].kind, "locality": providers[n].locality,
         "ok": h.ok, "detail": h.detail, "latency_ms": h.latency_ms}
        for n, h in zip(names, checks, strict=True)
    ]
