"""One place an alias can be served: what routing plans, balances and dispatch tries."""

from __future__ import annotations

from dataclasses import dataclass

from server.providers.base import Provider
from server.routing.monitor import ProviderHealth


@dataclass(slots=True)
class Target:
    """A provider, its name for the model, what this worker knows of the provider's health,
    and the model's prices."""

    provider: Provider
    upstream_model: str
    health: ProviderHealth
    price_in: float = 0.0   # USD per million input tokens (server.core.prices decides)
    price_out: float = 0.0  # USD per million output tokens

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.price_in + output_tokens * self.price_out) / 1_000_000

    @property
    def label(self) -> str:
        return f"{self.provider.name}:{self.upstream_model}"
