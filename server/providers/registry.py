"""The static registry of upstream kinds: settings type -> adapter."""

from __future__ import annotations

import aiohttp

from server.providers.base import Provider
from server.providers.llamacpp import LlamaCpp
from server.providers.openai_compat import OpenAICompatible
from server.providers.scrub import Scrubber
from server.providers.unavailable import Unavailable
from server.core.settings import ConfigError, LlamaCppProvider, OpenAIProvider, ProviderSettings, Settings


def build_provider(name: str, p: ProviderSettings, settings: Settings,
                   session: aiohttp.ClientSession, scrubber: Scrubber | None = None) -> Provider:
    """`scrubber` cleans upstream errors of every configured secret (built from `settings`
    when not given: pass one to share it between providers)."""
    if isinstance(p, OpenAIProvider):
        return OpenAICompatible(name, p, session, default_timeout_s=settings.server.request_timeout_s,
                                source=settings.source, scrubber=scrubber or Scrubber.from_settings(settings))
    if isinstance(p, LlamaCppProvider):
        return LlamaCpp(name, p)
    raise TypeError(f"no adapter for provider kind {type(p).__name__}")  # the union admits no other


def build_or_leave_out(name: str, p: ProviderSettings, settings: Settings,
                       session: aiohttp.ClientSession, scrubber: Scrubber | None = None) -> Provider:
    """The provider, or an Unavailable in its place that says why it could not be built
    (a secret reference that does not resolve), so everything else still works."""
    try:
        return build_provider(name, p, settings, session, scrubber)
    except ConfigError as exc:
        return Unavailable(name, p, str(exc).removeprefix(f"{settings.source}: "))


def build_providers(settings: Settings, session: aiohttp.ClientSession) -> dict[str, Provider]:
    scrubber = Scrubber.from_settings(settings)
    return {name: build_or_leave_out(name, p, settings, session, scrubber) for name, p in settings.providers.items()}


def new_session() -> aiohttp.ClientSession:
    """The worker's one pooled upstream session (aiohttp sets TCP_NODELAY itself)."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300,
                                     keepalive_timeout=30)
    return aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                 skip_auto_headers=("User-Agent",))
