"""The static registry of upstream kinds: settings type -> adapter."""

from __future__ import annotations

import aiohttp

from server.providers.base import Provider
from server.providers.llamacpp import LlamaCpp
from server.providers.openai_compat import OpenAICompatible
from server.settings import LlamaCppProvider, OpenAIProvider, Settings


def build_providers(settings: Settings, session: aiohttp.ClientSession) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name, p in settings.providers.items():
        if isinstance(p, OpenAIProvider):
            providers[name] = OpenAICompatible(
                name, p, session, default_timeout_s=settings.server.request_timeout_s,
                source=settings.source)
        elif isinstance(p, LlamaCppProvider):
            providers[name] = LlamaCpp(name, p)
        else:  # pragma: no cover - the settings union admits no other type
            raise TypeError(f"no adapter for provider kind {type(p).__name__}")
    return providers


def new_session() -> aiohttp.ClientSession:
    """The worker's one pooled upstream session (aiohttp sets TCP_NODELAY itself)."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300,
                                     keepalive_timeout=30)
    return aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                 skip_auto_headers=("User-Agent",))
