"""A provider or model name the configuration refuses is named in the error (red team).

`gate providers add 'p[x]' ...` said: "invalid configuration at key '(top level)': Expected
`str` matching regex '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' - at `key` in `$.providers`": the
wrong place, a regex, and not the name at fault.
"""

from __future__ import annotations

import pytest

from server.core.settings import ConfigError, parse_settings
from tests.cli.conftest import gate

GOOD = '[providers.p]\nkind = "openai"\nurl = "http://127.0.0.1:9/v1"\n'


@pytest.mark.parametrize("text, section, name", [
    ('[providers."p[x]"]\nkind = "openai"\nurl = "http://127.0.0.1:9/v1"\n', "providers", "p[x]"),
    (GOOD + '[models."-m"]\nroute = ["p:m"]\n', "models", "-m"),
    (GOOD + '[models."m n"]\nroute = ["p:m"]\n', "models", "m n"),
])
def test_a_refused_name_is_named(text, section, name):
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "gateway.toml")
    message = str(caught.value)
    assert f"at key '{section}'" in message and repr(name) in message, message
    assert "(top level)" not in message and "regex" not in message, message
    assert "letters, digits" in message, message


def test_the_cli_says_so(cfg):
    result = gate(cfg, "providers", "add", "p[x]", "--url", "http://127.0.0.1:9/v1")
    assert result.exit_code == 1
    assert "'p[x]'" in result.output and "(top level)" not in result.output, result.output
    assert "p[x]" not in cfg.read_text()
