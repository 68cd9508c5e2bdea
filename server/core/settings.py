"""gateway.toml as frozen msgspec Structs.

`load_settings(path)` reads the file, validates it strictly (an unknown key or a bad value
is a `ConfigError` naming the file, the key path and what was expected), makes relative
paths relative to the file, and applies the `GATE_DB` and `GATE_ADMIN_TOKEN` overrides.
Secrets are never literal: they are references (`env:NAME`, `file:PATH`) resolved by
`resolve_secret`, and the resolved value is a `Secret` that never prints itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from server.core.errors import GateError
from server.core.settings_guardrails import GuardrailSettings
from server.core.settings_types import SECRET_REF_PATTERN, Name, Port, Positive, PositiveFloat, Price, SecretRef
from server.core.settings_types import Strict as _Strict
# Providers and models live in their own module; imported back, so every name is still here.
from server.core.settings_upstreams import (
    LlamaCppProvider,
    ModelSettings,
    OpenAIProvider,  # noqa: F401 (used through server.core.settings)
    ProviderSettings,
)

DEFAULT_CONFIG = "gateway.toml"
CONFIG_ENV = "GATE_CONFIG"  # the environment variable naming the config file


class ConfigError(GateError):
    """gateway.toml is missing, malformed or invalid; the message says where and why."""


class Secret:
    """A resolved secret. It never shows its value in repr/str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: Port = 4000
    workers: Positive = 1
    max_body_bytes: Positive = 4 * 1024 * 1024
    # The wall-clock limit for one upstream call when a provider sets none.
    request_timeout_s: PositiveFloat = 600.0


class DatabaseSettings(_Strict):
    path: str = "gate.db"
    busy_timeout_ms: Positive = 5000


class AdminSettings(_Strict):
    # A reference to the admin token; GATE_ADMIN_TOKEN (the token itself) overrides it.
    token: SecretRef | None = None


class LedgerSettings(_Strict):
    flush_interval_ms: Positive = 200
    batch_size: Positive = 500


class ModelPrice(_Strict):
    input: Price
    output: Price = 0.0


class PricingSettings(_Strict):
    # The site's internal price for local models, USD per million tokens.
    local_input: Price = 0.0
    local_output: Price = 0.0
    models: dict[str, ModelPrice] = {}


class BudgetSettings(_Strict):
    # The output a request may use when the client sets no max_tokens, for keys with a
    # budget or a token rate limit (the gateway then sends this max_tokens upstream).
    default_max_tokens: Positive = 4096
    # What the worst case counts for what the gateway cannot see as text: an image part
    # (the most any known model bills for one: Qwen2.5-VL at its default max_pixels), and
    # what a chat template adds once per request (a default system prompt, a tools preamble).
    image_tokens: Positive = 16384
    template_tokens: Positive = 64
    # A crashed worker's reservations stop counting after this long.
    reservation_ttl_s: Positive = 900
    # Cut a stream with an SSE error event once it outgrows what its budget allows.
    cut_streams: bool = True
    soft_pct: Annotated[float, Meta(gt=0, le=1)] = 0.8
    # Budget events are posted here as JSON (a local receiver; optional).
    webhook: Annotated[str, Meta(pattern=r"^https?://")] | None = None


class RoutingSettings(_Strict):
    # Tries per target on 429, 5xx and timeouts (a refused connection moves on at once).
    retries: Annotated[int, Meta(ge=0, le=10)] = 1
    backoff_base_ms: Positive = 100
    backoff_max_ms: Positive = 2000
    # A Retry-After longer than this moves on to the next target instead of waiting.
    max_retry_after_s: PositiveFloat = 2.0
    breaker_failures: Positive = 5
    breaker_cooldown_s: PositiveFloat = 30.0
    health_interval_s: PositiveFloat = 10.0
    # Re-read gateway.toml when it changes (providers, models, routing, egress, pricing).
    reload: bool = True


class CacheSettings(_Strict):
    enabled: bool = True
    semantic: bool = True
    # Whose answers a request may get: its key's team's (or the key's, without a team), or
    # only its own key's.
    scope: Literal["team", "key"] = "team"
    ttl_s: Positive = 3600
    max_entries: Positive = 100_000
    # Cosine similarity for a semantic hit; unset: the measured default (server/cache/defaults.py).
    threshold: Annotated[float, Meta(gt=0, le=1)] | None = None
    # The second stage that rejects look-alikes (numbers, negations, entities, antonyms).
    verify: bool = True
    # Not cached unless allowed: sampling hotter than this, requests with tools, and
    # requests that name an end user (`user`: per-user context).
    max_temperature: Annotated[float, Meta(ge=0)] = 0.5
    cache_tools: bool = False
    cache_per_user: bool = False
    # The embedding model: a .gguf path, or unset for all-MiniLM-L6-v2 as the set-up built it.
    embedder: str | None = None
    # Where the bit vectors are searched: a copy in each worker's memory (~1 ms at 100k
    # entries, ~60 bytes per entry), or sqlite-vec's vec0 table in the file (3-7 ms at 100k).
    index: Literal["memory", "sqlite-vec"] = "memory"
    # Longer questions (in the embedder's tokens) skip the semantic cache (the exact cache
    # still serves them): one core embeds ~2 tokens a millisecond, so a 256-token question
    # would add 0.1-0.2 s to its miss (measured: 67 tokens 35 ms, 256 tokens 215 ms).
    semantic_max_tokens: Annotated[int, Meta(ge=2, le=256)] = 64


class TelemetrySettings(_Strict):
    # Traces kept in the SQLite file for `gate traces` and `gate top`.
    traces: bool = True
    trace_retention_h: PositiveFloat = 72.0
    # OTLP/HTTP export to the site's own collector, e.g. "http://127.0.0.1:4318"; off when unset.
    otlp_endpoint: Annotated[str, Meta(pattern=r"^https?://")] | None = None
    service_name: str = "gate"
    # Prometheus metrics at GET /metrics.
    metrics: bool = True


class AirgapSettings(_Strict):
    # Where the gateway may connect (networks in CIDR, host names, "*.site.local");
    # `gate doctor --airgap` proves every configured upstream is inside and audits sockets.
    allow: list[str] = []


class EgressSettings(_Strict):
    # May any request leave the site for a cloud provider at all?
    allow_cloud: bool = False
    # Whether new keys may use cloud targets (gate keys create --allow-cloud overrides).
    keys_default: bool = False


class Settings(_Strict):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    admin: AdminSettings = AdminSettings()
    ledger: LedgerSettings = LedgerSettings()
    pricing: PricingSettings = PricingSettings()
    budgets: BudgetSettings = BudgetSettings()
    routing: RoutingSettings = RoutingSettings()
    egress: EgressSettings = EgressSettings()
    cache: CacheSettings = CacheSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    airgap: AirgapSettings | None = None
    guardrails: GuardrailSettings = GuardrailSettings()
    providers: dict[Name, ProviderSettings] = {}
    models: dict[Name, ModelSettings] = {}
    # Set by load_settings, not by the file.
    source: str = ""
    admin_token_override: str | None = None

    def db_path(self) -> Path:
        return Path(self.database.path)


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """--config, else GATE_CONFIG, else ./gateway.toml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path(DEFAULT_CONFIG)


def _key_path(message: str) -> tuple[str, str]:
    """Split msgspec's 'Expected `int`, got `str` - at `$.server.port`' into (path, what)."""
    match = re.search(r" - at `\$(.*)`$", message)
    if not match:
        return "", message
    raw = match.group(1)
    path = re.sub(r"\[(\d+)\]", r"[\1]", raw).lstrip(".")
    path = re.sub(r"\[['\"]([^'\"]+)['\"]\]", r".\1", path).lstrip(".")
    return path, message[: match.start()]


_FRIENDLY = {
    SECRET_REF_PATTERN: "a secret reference 'env:NAME' or 'file:PATH' (never the secret itself)",
    r"^https?://": "an http:// or https:// URL",
    r"^[^:\s]+:.+$": "a target 'provider:upstream-model'",
}


def _friendly(path: str, what: str) -> str:
    def name(m: re.Match) -> str:
        pattern = m.group(1).replace("\\\\", "\\")
        return _FRIENDLY.get(pattern, m.group(0))

    what = re.sub(r"`str` matching regex '(.*)'", name, what)
    if path.endswith(".kind") and what.startswith("Invalid value"):
        what += " (expected one of: openai, llamacpp)"
    return what


_NAME_RULE = ("letters, digits, '.', '_' and '-', starting with a letter or digit, "
              "64 characters at most")


def _bad_name(text: str | bytes, message: str) -> str | None:
    """msgspec's 'Expected `str` matching regex ... - at `key` in `$.providers`': a table
    name (a provider's or a model's) is refused. Which one, in words."""
    match = re.search(r" - at `key` in `\$\.?([A-Za-z_.]*)`$", message)
    if not match:
        return None
    section = match.group(1)
    table = msgspec.toml.decode(text)
    for part in section.split(".") if section else []:
        table = table.get(part) if isinstance(table, dict) else None
    pattern = Name.__metadata__[0].pattern
    bad = next((k for k in (table if isinstance(table, dict) else {}) if not re.fullmatch(pattern, k)), None)
    return f"at key '{section}': the name {bad!r} is not allowed (a name has {_NAME_RULE})"


def _locate(text: str | bytes, exc: msgspec.ValidationError) -> str:
    """msgspec writes dict keys as [...]; find which provider or model is at fault."""
    named = _bad_name(text, str(exc))
    if named is not None:
        return named
    path, what = _key_path(str(exc))
    section = path.split("[", 1)[0]
    entry_type = {"providers": ProviderSettings, "models": ModelSettings}.get(section)
    if entry_type is not None and path.startswith(f"{section}[...]"):
        raw = msgspec.toml.decode(text)
        for name, value in (raw.get(section) or {}).items():
            try:
                msgspec.convert(value, entry_type)
            except msgspec.ValidationError as inner:
                sub, what = _key_path(str(inner))
                path = f"{section}.{name}" + (f".{sub}" if sub and not sub.startswith("[") else sub)
                break
    return f"at key '{path or '(top level)'}': {_friendly(path, what)}"


def parse_settings(text: str | bytes, source: str = DEFAULT_CONFIG) -> Settings:
    try:
        settings = msgspec.toml.decode(text, type=Settings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: invalid configuration {_locate(text, exc)}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    _check_routes(settings, source)
    return settings


def _check_routes(settings: Settings, source: str) -> None:
    for alias, model in settings.models.items():
        specs = [t for tier in model.tiers() for t in tier]
        for i, entry in enumerate(model.route):
            for target in [entry] if isinstance(entry, str) else entry:
                provider = target.split(":", 1)[0]
                if provider not in settings.providers:
                    known = ", ".join(sorted(settings.providers)) or "none"
                    raise ConfigError(
                        f"{source}: invalid configuration at key 'models.{alias}.route[{i}]': "
                        f"unknown provider '{provider}' (configured providers: {known})"
                    )
        if model.guardrails and model.guardrails not in settings.guardrails.policies:
            raise ConfigError(f"{source}: invalid configuration at key 'models.{alias}.guardrails': "
                              f"no policy '{model.guardrails}' in [guardrails.policies]")
        for spec in model.weights:
            if spec not in specs:
                raise ConfigError(f"{source}: invalid configuration at key 'models.{alias}.weights': "
                                  f"'{spec}' is not a target of this route")


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Load and validate gateway.toml; relative paths become relative to the file."""
    file = config_path(path)
    try:
        text = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found (use --config or GATE_CONFIG)") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config file: {exc.strerror}") from None
    settings = parse_settings(text, str(file))
    base = file.resolve().parent
    db = os.environ.get("GATE_DB") or settings.database.path
    providers = {
        name: _anchor_provider(p, base) for name, p in settings.providers.items()
    }
    cache = settings.cache
    if cache.embedder:
        cache = msgspec.structs.replace(cache, embedder=str(_anchor(cache.embedder, base)))
    return msgspec.structs.replace(
        settings,
        database=msgspec.structs.replace(settings.database, path=str(_anchor(db, base))),
        cache=cache,
        providers=providers,
        source=str(file),
        admin_token_override=os.environ.get("GATE_ADMIN_TOKEN") or None,
    )


def _anchor(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or path == ":memory:" else base / p


def _anchor_provider(provider: ProviderSettings, base: Path) -> ProviderSettings:
    if isinstance(provider, LlamaCppProvider) and not provider.model.startswith("pypi:"):
        return msgspec.structs.replace(provider, model=str(_anchor(provider.model, base)))
    return provider


def secret_refs(settings: Settings) -> list[tuple[str, str, str]]:
    """Every provider's secret reference: (provider, its key path, the reference). The one
    walk that `config check`, `serve`'s warnings and the error scrubber share."""
    out = []
    for name, p in settings.providers.items():
        if isinstance(p, OpenAIProvider):
            if p.api_key:
                out.append((name, f"providers.{name}.api_key", p.api_key))
            out += [(name, f"providers.{name}.headers.{h}", ref) for h, ref in p.headers.items()]
    return out


def resolve_secret(ref: str, source: str = "", key: str = "") -> Secret:
    """Resolve env:NAME or file:PATH; errors name the reference, never a value."""
    where = f"{source}: key '{key}': " if source or key else ""
    kind, _, target = ref.partition(":")
    if kind == "env":
        value = os.environ.get(target)
        if value is None:
            raise ConfigError(f"{where}environment variable {target} is not set")
        return Secret(value)
    if kind == "file":
        try:
            return Secret(Path(target).expanduser().read_text().strip())
        except OSError as exc:
            raise ConfigError(f"{where}cannot read secret file {target}: {exc.strerror}") from None
    raise ConfigError(f"{where}a secret must be a reference 'env:NAME' or 'file:PATH'")


def admin_token(settings: Settings) -> Secret | None:
    if settings.admin_token_override:
        return Secret(settings.admin_token_override)
    if settings.admin.token:
        return resolve_secret(settings.admin.token, settings.source, "admin.token")
    return None
