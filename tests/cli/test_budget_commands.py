"""Teams, budgets, key limits and spend exports through the CLI."""

from __future__ import annotations

import csv
import io
import json

from tests.cli.conftest import gate


def test_key_with_budget_team_and_limits(cfg):
    assert gate(cfg, "teams", "create", "ml", "--budget", "500", "--period", "monthly").exit_code == 0
    created = gate(cfg, "keys", "create", "--name", "ml-team", "--team", "ml", "--budget", "50",
                   "--period", "monthly", "--tpm", "100000", "--rpm", "60", "--json")
    assert created.exit_code == 0, created.output
    info = json.loads(created.stdout)
    assert (info["team"], info["rpm"], info["tpm"]) == ("ml", 60, 100000)

    budgets = json.loads(gate(cfg, "budgets", "show", "--json").stdout)
    by_owner = {(b["scope"], b["owner"]): b for b in budgets}
    assert by_owner[("key", "ml-team")]["limit_usd"] == 50
    assert by_owner[("team", "ml")]["limit_usd"] == 500
    assert by_owner[("key", "ml-team")]["period"] == "monthly"
    teams = json.loads(gate(cfg, "teams", "list", "--json").stdout)
    assert teams[0]["name"] == "ml" and teams[0]["keys"] == 1

    table = gate(cfg, "budgets", "show")
    assert "ml-team" in table.stdout and "$50.00" in table.stdout


def test_budgets_set_changes_only_what_its_flags_name(cfg):
    gate(cfg, "keys", "create", "--name", "app")
    out = gate(cfg, "budgets", "set", "key", "app", "--tokens", "1000", "--period", "7d", "--json")
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.stdout)
    assert (row["limit_tokens"], row["limit_usd"], row["period"], row["soft_pct"]) == (1000, None, "rolling:7", 0.8)

    def budget(*flags: str) -> tuple:
        result = gate(cfg, "budgets", "set", "key", "app", *flags, "--json")
        assert result.exit_code == 0, result.output
        (r,) = json.loads(result.stdout)
        return r["limit_usd"], r["limit_tokens"], r["period"], r["soft_pct"]

    assert budget("--usd", "5") == (5, 1000, "rolling:7", 0.8)       # the tokens and the period stay
    assert budget("--soft", "0.5") == (5, 1000, "rolling:7", 0.5)
    assert budget("--period", "monthly") == (5, 1000, "monthly", 0.5)
    assert budget("--tokens", "none") == (5, None, "monthly", 0.5)    # clearing is said out loud
    assert budget("--tokens", "20", "--usd", "NONE") == (None, 20, "monthly", 0.5)
    assert budget("--usd", "0") == (0, 20, "monthly", 0.5)

    nothing_left = gate(cfg, "budgets", "set", "key", "app", "--usd", "none", "--tokens", "none")
    assert nothing_left.exit_code == 1 and "gate budgets remove key app" in nothing_left.stderr
    nothing = gate(cfg, "budgets", "set", "key", "app")
    assert nothing.exit_code == 1 and "nothing to change" in nothing.stderr
    assert json.loads(gate(cfg, "budgets", "show", "--json").stdout)[0]["limit_tokens"] == 20

    assert gate(cfg, "budgets", "remove", "key", "app").exit_code == 0
    assert json.loads(gate(cfg, "budgets", "show", "--json").stdout) == []


def test_a_team_budget_is_found_by_name_or_id(cfg):
    team = json.loads(gate(cfg, "teams", "create", "ml", "--budget", "100", "--budget-tokens", "9000",
                           "--json").stdout)
    (row,) = json.loads(gate(cfg, "budgets", "set", "team", team["id"], "--usd", "50", "--json").stdout)
    assert (row["owner"], row["limit_usd"], row["limit_tokens"]) == ("ml", 50, 9000)


def test_budget_and_limit_errors_are_clear(cfg):
    gate(cfg, "keys", "create", "--name", "app")
    for args, text in [
        (("budgets", "set", "key", "ghost", "--usd", "5"), "no key"),
        (("budgets", "set", "team", "ghost", "--usd", "5"), "no team"),
        (("budgets", "set", "key", "app"), "USD, in tokens, or both"),
        (("budgets", "set", "key", "app", "--usd", "5", "--period", "yearly"), "not a period"),
        (("budgets", "set", "wallet", "app", "--usd", "5"), "scope must be"),
        (("keys", "create", "--name", "x", "--team", "ghost"), "no team"),
        (("keys", "create", "--name", "y", "--rpm", "0"), "rpm must be at least 1"),
        (("teams", "create", "t", "--budget", "-1"), "cannot be negative"),
        (("budgets", "remove", "key", "app"), "has no budget"),
    ]:
        result = gate(cfg, *args)
        assert result.exit_code == 1, (args, result.output)
        assert text in result.stderr, (args, result.stderr)


def test_key_limits_change_only_their_own_limit(cfg):
    gate(cfg, "keys", "create", "--name", "app", "--rpm", "60", "--tpm", "1000")

    def limits(*flags: str) -> tuple:
        result = gate(cfg, "keys", "limits", "app", *flags, "--json")
        assert result.exit_code == 0, result.output
        info = json.loads(result.stdout)
        return info["rpm"], info["tpm"]

    assert limits("--rpm", "5") == (5, 1000)          # the tpm stays
    assert limits("--tpm", "500") == (5, 500)
    assert limits("--tpm", "none") == (5, None)       # clearing is explicit
    assert limits("--rpm", "None", "--tpm", "7") == (None, 7)
    assert json.loads(gate(cfg, "keys", "show", "app", "--json").stdout)["tpm"] == 7


def test_key_limits_refuse_what_they_cannot_read(cfg):
    gate(cfg, "keys", "create", "--name", "app", "--rpm", "60")
    for flags, text in [((), "give --rpm, --tpm or both"), (("--rpm", "0"), "at least 1"),
                        (("--tpm", "lots"), "'lots' is neither a whole number"), (("--rpm", "2.5"), "whole number")]:
        result = gate(cfg, "keys", "limits", "app", *flags)
        assert result.exit_code == 2 and text in result.output, (flags, result.output)
    assert json.loads(gate(cfg, "keys", "show", "app", "--json").stdout)["rpm"] == 60
    ghost = gate(cfg, "keys", "limits", "ghost", "--rpm", "5")
    assert ghost.exit_code == 1 and "no key" in ghost.stderr


def test_limit_help_says_how_to_clear(cfg):
    help_text = " ".join(gate(cfg, "keys", "limits", "--help").stdout.split())
    assert "'none' removes the limit; omitted: unchanged" in help_text
    help_text = " ".join(gate(cfg, "budgets", "set", "--help").stdout.split())
    assert "'none' removes it; omitted: unchanged" in help_text


def test_spend_csv_and_by_team(cfg):
    from server.core.settings import load_settings
    from server.store import db, ledger

    settings = load_settings(cfg)
    gate(cfg, "teams", "create", "ml")
    key = json.loads(gate(cfg, "keys", "create", "--name", "app", "--team", "ml", "--json").stdout)
    conn = db.connect(settings.database.path)
    team_id = conn.execute("SELECT team_id FROM keys WHERE name = 'app'").fetchone()[0]
    ledger.insert_rows(conn, [ledger.LedgerRow(request_id="r1", ts=1e9 + 1, key_id=key["id"], team_id=team_id,
                                               endpoint="chat", alias="local", input_tokens=3, output_tokens=4,
                                               cost=0.25)])
    conn.close()
    out = gate(cfg, "spend", "--by", "team", "--csv")
    assert out.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert rows == [{"team": "ml", "requests": "1", "errors": "0", "input_tokens": "3", "output_tokens": "4",
                     "cost_usd": "0.250000", "estimated_rows": "0"}]


def test_limits_and_budgets_change_one_part_through_the_admin_api(tmp_path, fake):
    """--url: the same rule against a running gateway (its admin API takes whole values)."""
    from cli.main import app
    from tests.cli.conftest import runner
    from tests.conftest import gateway_toml
    from tests.live.conftest import ADMIN_TOKEN, Gate

    served = Gate(tmp_path / "gw", gateway_toml(fake.url)).start()
    try:
        def remote(*args: str) -> dict | list:
            result = runner.invoke(app, ["--url", served.base_url, "--admin-token", ADMIN_TOKEN, *args, "--json"])
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout)

        remote("keys", "create", "--name", "app", "--rpm", "60", "--tpm", "1000")
        info = remote("keys", "limits", "app", "--rpm", "5")
        assert (info["rpm"], info["tpm"]) == (5, 1000)
        remote("budgets", "set", "key", "app", "--usd", "5", "--tokens", "100", "--period", "7d")
        (row,) = remote("budgets", "set", "key", "app", "--tokens", "none")
        assert (row["limit_usd"], row["limit_tokens"], row["period"]) == (5, None, "rolling:7")
    finally:
        served.stop()
