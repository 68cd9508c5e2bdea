"""Settings are plain data; server/guardrails/policies.py compiles the guardrail policies and
names the key of one that does not compile."""

from __future__ import annotations

import msgspec
import pytest

from server.core.settings import ConfigError, parse_settings
from server.guardrails.policies import compile_policies
from server.guardrails.runtime import Guard

BAD = '[guardrails.policies.strict]\ncustom = { ticket = "(unclosed" }\n'


def test_settings_load_a_policy_without_compiling_it() -> None:
    settings = parse_settings(BAD, "gateway.toml")
    values = msgspec.structs.asdict(settings.guardrails)
    assert values["policies"]["strict"].custom == {"ticket": "(unclosed"}
    assert not any(isinstance(v, Guard) for v in values.values())


def test_a_policy_that_does_not_compile_is_named_by_its_key() -> None:
    settings = parse_settings(BAD, "gateway.toml")
    with pytest.raises(ConfigError, match=r"gateway.toml: invalid configuration at key "
                                          r"'guardrails.policies.strict': .*invalid regex"):
        compile_policies(settings.guardrails, "gateway.toml")


def test_every_policy_compiles_under_its_name() -> None:
    settings = parse_settings('[guardrails.policies.strict]\npii_action = "block"\n', "gateway.toml")
    guards = compile_policies(settings.guardrails, "gateway.toml")
    assert set(guards) == {None, "strict"}
    assert guards[None].name == "default" and guards["strict"].action("email") == "block"
