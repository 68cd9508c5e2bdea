"""Names and texts from outside reach the operator's terminal as text, never as control codes.

Found by the red team: `gate keys create --name $'new\\nline'` was accepted and `gate keys
list` then showed a second row ("line") that is no key; a name holding `ESC [31m` or an OSC
title sequence was written raw to the terminal, and so was an upstream's error text (kept
as the provider's last error, shown by `gate providers list`). Names of keys and teams are
now one line of visible text, and the CLI shows any control character as `\\x..`.
"""

from __future__ import annotations

import time

import apsw
import pytest

from cli.output import esc
from tests.cli.conftest import gate

HOSTILE = {
    "newline": "new\nline",
    "escape": "esc\x1b[31mRED",
    "osc title": "t\x1b]0;pwned\x07",
    "carriage return": "ok\rEVIL",
    "zero width": "adm\u200bin",
    "bidi override": "abc\u202etxt.exe",
    "nul": "a\x00b",
    "blank": "   ",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_key_or_team_name_that_is_not_one_line_of_visible_text_is_refused(cfg, name):
    value = HOSTILE[name]
    for args in (["keys", "create", "--name", value], ["teams", "create", value]):
        result = gate(cfg, *args)
        assert result.exit_code == 1, (args, result.output)
        assert "name" in result.output and "\x1b" not in result.output
    listed = gate(cfg, "keys", "list", "--json")
    assert listed.exit_code == 0 and value not in listed.output


@pytest.mark.parametrize("value", ["ünï😀", "a[b]", "[red]x[/red]", "日本語 チーム"])
def test_names_with_unicode_and_brackets_are_kept_and_shown_as_they_are(cfg, value):
    assert gate(cfg, "keys", "create", "--name", value).exit_code == 0
    assert gate(cfg, "teams", "create", value).exit_code == 0
    assert value in gate(cfg, "keys", "list").output
    assert value in gate(cfg, "teams", "list").output


def test_control_characters_are_shown_not_sent_to_the_terminal():
    shown = esc("a\x1b[31mb\x07c\rd\x9be\x7ff")
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in shown), repr(shown)
    assert shown == "a\\x1b[31mb\\x07c\\x0dd\\x9be\\x7ff"
    assert esc("two\nlines\tand a tab") == "two\nlines\tand a tab"


def test_an_upstream_error_with_escape_sequences_reaches_the_terminal_as_text(cfg):
    assert gate(cfg, "keys", "list").exit_code == 0  # creates the file with its tables
    db = cfg.parent / "gate.db"
    conn = apsw.Connection(str(db))
    try:
        conn.execute("INSERT INTO provider_health(worker, name, breaker, failures, inflight, load, served, "
                     "failed, last_error, updated_at) VALUES (1, 'builtin', 'open', 3, 0, NULL, 0, 3, ?, ?)",
                     ("upstream said \x1b]0;pwned\x07\x1b[2J gone", time.time()))
    finally:
        conn.close()
    result = gate(cfg, "providers", "list")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "upstream said \\x1b]0;pwned\\x07\\x1b[2J gone" in result.output
