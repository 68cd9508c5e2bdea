"""gateway.toml's upstreams: `[providers.NAME]` (one Struct per kind, tagged by `kind`) and
`[models.ALIAS]` (a route of tiers of targets). Part of server/core/settings.py's Settings."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from server.core.settings_types import Positive, PositiveFloat, Price, SecretRef
from server.core.settings_types import Strict as _Strict


class OpenAIProvider(_Strict, tag="openai", tag_field="kind"):
    """Any OpenAI-compatible server: vLLM, llama.cpp server, TGI, Ollama, OpenAI, Azure."""

    url: Annotated[str, Meta(pattern=r"^https?://")]
    api_key: SecretRef | None = None
    locality: Literal["local", "cloud"] = "local"
    connect_timeout_s: PositiveFloat = 5.0
    # Until the response headers (JSON) or the first event (streams: time to first token).
    first_byte_timeout_s: PositiveFloat = 60.0
    timeout_s: PositiveFloat | None = None
    # Tokens (prompt + output) the model behind it takes; a request that cannot fit skips it.
    context_window: Positive | None = None
    # Poll the server for health and load (vLLM / llama.cpp server /metrics); default: local ones.
    health_checks: bool | None = None
    # Extra headers sent upstream (e.g. Azure's api-key scheme); values are secret refs.
    headers: dict[str, SecretRef] = {}
    # USD per million tokens; unset: [pricing.models], the shipped table, the site default.
    price_in: Price | None = None
    price_out: Price | None = None


class LlamaCppProvider(_Strict, tag="llamacpp", tag_field="kind"):
    """A GGUF model run in this process by llama-cpp-python.

    `model` is a path to a .gguf file (relative to gateway.toml) or `pypi:PACKAGE` for a
    model shipped as a PyPI package with an `assemble(path)` function.
    """

    model: str
    locality: Literal["local"] = "local"
    chat_format: Literal["gemma", "chatml"] = "gemma"
    n_ctx: Positive = 2048
    n_threads: Positive | None = None
    max_tokens: Positive = 256
    embedding: bool = False
    price_in: Price | None = None
    price_out: Price | None = None


ProviderSettings = OpenAIProvider | LlamaCppProvider


TargetSpec = Annotated[str, Meta(pattern=r"^[^:\s]+:.+$")]


class ModelSettings(_Strict):
    # Tiers tried in order. An entry is one target, "provider:upstream-model", or a list of
    # targets that share the load (a tier).
    route: Annotated[list[TargetSpec | list[TargetSpec]], Meta(min_length=1)]
    # How a tier spreads its load: the least busy target (by the load the servers report and
    # the requests in flight), or at random by `weights`.
    balance: Literal["least_busy", "weighted"] = "least_busy"
    weights: dict[str, Annotated[float, Meta(gt=0)]] = {}
    description: str = ""
    cache: bool = True
    guardrails: str | None = None  # a named policy of [guardrails.policies]

    def tiers(self) -> list[list[str]]:
        return [[entry] if isinstance(entry, str) else list(entry) for entry in self.route]
