"""A provider the gateway could not build (e.g. a secret reference that does not resolve).

It stands in the provider's place so the rest of the configuration applies: its routes
skip it at once (as a refused connection would), `gate providers list` and `gate doctor`
show why, and the next reload tries to build it again.
"""

from __future__ import annotations

from server.core.errors import UpstreamUnavailable
from server.providers.base import ALL_OPS, Health, Probe, Reply, UpstreamCall
from server.core.settings import LlamaCppProvider, ProviderSettings


class Unavailable:
    health_checks = False
    context_window = None
    address = None
    ops = ALL_OPS
    ready = True  # the gateway serves without it: readiness says so in config_error

    def __init__(self, name: str, wanted: ProviderSettings, reason: str) -> None:
        self.name = name
        self.kind = "llamacpp" if isinstance(wanted, LlamaCppProvider) else "openai"
        self.locality = getattr(wanted, "locality", "local")
        self.reason = reason
        self.wanted = wanted  # not `settings`: a reload never keeps it, it builds it again

    def _refuse(self) -> UpstreamUnavailable:
        # The reason (which setting, which variable) is for the operator, not for clients.
        return UpstreamUnavailable(f"provider '{self.name}' is not available: its configuration "
                                   "could not be applied (gate doctor shows why)")

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send(self, call: UpstreamCall) -> Reply:
        raise self._refuse()

    async def open_stream(self, call: UpstreamCall):
        raise self._refuse()

    def count_tokens(self, text: str) -> int | None:
        return None

    async def check(self) -> Health:
        return Health(False, f"not applied: {self.reason}")

    async def probe(self) -> Probe:
        return Probe(False, f"not applied: {self.reason}")
