"""What a token costs at each target, decided once when the gateway starts.

In order: the provider's own `price_in`/`price_out`; then `[pricing.models."NAME"]` in
gateway.toml; then, for cloud providers, the price table shipped with gate (prices.toml,
versioned, never fetched); then the site's default for local models (`[pricing]`).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

import msgspec

from server.core.settings import LlamaCppProvider, ModelPrice, ProviderSettings, Settings


class PriceTable(msgspec.Struct, forbid_unknown_fields=True):
    version: str
    currency: str
    models: dict[str, ModelPrice]


@lru_cache(maxsize=1)
def shipped() -> PriceTable:
    return msgspec.toml.decode(files("server.core").joinpath("prices.toml").read_bytes(), type=PriceTable)


def price_for(settings: Settings, provider: ProviderSettings, upstream_model: str) -> tuple[float, float]:
    """(USD per million input tokens, USD per million output tokens)."""
    if provider.price_in is not None or provider.price_out is not None:
        return provider.price_in or 0.0, provider.price_out or 0.0
    override = settings.pricing.models.get(upstream_model)
    if override is not None:
        return override.input, override.output
    if not isinstance(provider, LlamaCppProvider) and provider.locality == "cloud":
        table = shipped().models
        entry = table.get(upstream_model) or table.get(upstream_model.rsplit("/", 1)[-1])
        if entry is not None:
            return entry.input, entry.output
    return settings.pricing.local_input, settings.pricing.local_output
