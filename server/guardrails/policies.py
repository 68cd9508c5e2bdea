"""Compile gateway.toml's guardrail policies into Guards: the default one (under the key
None) and every named one. Settings stay plain data; the runtime calls this where it builds
its topology (start and reload), and the CLI to check a file, so a bad pattern stops the
start, a reload or `gate config check` with its key."""

from __future__ import annotations

from server.core.settings import ConfigError, Settings
from server.core.settings_guardrails import GuardrailSettings
from server.guardrails.runtime import Guard

Guards = dict[str | None, Guard]


def compile_policies(guardrails: GuardrailSettings, source: str) -> Guards:
    """One Guard per policy; a policy that does not compile raises ConfigError naming its key."""
    named = {None: ("guardrails", guardrails)}
    named.update({n: (f"guardrails.policies.{n}", p) for n, p in guardrails.policies.items()})
    guards: Guards = {}
    for name, (key, policy) in named.items():
        try:
            guards[name] = Guard(policy, name)
        except ValueError as exc:
            raise ConfigError(f"{source}: invalid configuration at key '{key}': {exc}") from None
    return guards


def checked(settings: Settings) -> Settings:
    """`settings`, once its guardrail policies are known to compile (for the CLI's checks)."""
    compile_policies(settings.guardrails, settings.source)
    return settings
