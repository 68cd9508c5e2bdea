"""Live reload: when gateway.toml changes, build a new topology and swap it in.

An invalid file is logged and ignored (the running configuration stays). A valid one always
applies: a provider that cannot be built (a secret that does not resolve) is left out and
the rest applies, so one bad change never blocks the ones after it. What could not be
applied is `state.config_error` (/health/ready, /admin/stats, gate doctor, gate top). The
database, server and admin sections are read at start only; changing them needs a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from server.guardrails.policies import compile_policies
from server.routing import topology
from server.core.settings import ConfigError, load_settings

if TYPE_CHECKING:
    from server.runtime.state import GatewayState

log = logging.getLogger("gate.reload")


def _stamp(path: str) -> tuple[float, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime, st.st_size


async def watch(state: "GatewayState", every_s: float = 1.0) -> None:
    path = state.settings.source
    seen = _stamp(path)
    while True:
        await asyncio.sleep(every_s)
        now = _stamp(path)
        if now is None or now == seen:
            continue
        seen = now
        await reload(state)


async def reload(state: "GatewayState") -> bool:
    try:
        settings = load_settings(state.settings.source)
        guards = compile_policies(settings.guardrails, settings.source)
    except ConfigError as exc:
        log.error("gateway.toml changed but is invalid; keeping the running configuration: %s", exc)
        state.reload_error = f"gateway.toml is invalid, the running configuration stays: {exc}"
        return False
    for section in ("database", "server", "admin"):
        if getattr(settings, section) != getattr(state.settings, section):
            log.warning("[%s] changed: it takes effect at the next restart", section)
    old = state.topology
    try:
        new = await topology.build(settings, guards, state.session, old)
    except ConfigError as exc:  # what build cannot leave out by itself
        log.error("cannot apply the new configuration: %s", exc)
        state.reload_error = f"cannot apply the new configuration: {exc}"
        return False
    state.reload_error = None
    state.apply(settings, new)
    asyncio.get_running_loop().create_task(topology.retire(old, new))
    log.info("configuration reloaded: %d providers, %d models%s", len(new.providers), len(new.routes),
             f" ({len(new.problems)} not applied: see gate doctor)" if new.problems else "")
    return True
