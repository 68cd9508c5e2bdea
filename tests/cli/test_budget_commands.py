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


def test_budgets_set_replace_and_remove(cfg):
    gate(cfg, "keys", "create", "--name", "app")
    out = gate(cfg, "budgets", "set", "key", "app", "--tokens", "1000", "--period", "7d", "--json")
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.stdout)
    assert (row["limit_tokens"], row["limit_usd"], row["period"]) == (1000, None, "rolling:7")
    (row,) = json.loads(gate(cfg, "budgets", "set", "key", "app", "--usd", "5", "--json").stdout)
    assert (row["limit_tokens"], row["limit_usd"], row["period"]) == (None, 5, "monthly")
    assert gate(cfg, "budgets", "remove", "key", "app").exit_code == 0
    assert json.loads(gate(cfg, "budgets", "show", "--json").stdout) == []


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


def test_key_limits_command(cfg):
    gate(cfg, "keys", "create", "--name", "app")
    info = json.loads(gate(cfg, "keys", "limits", "app", "--rpm", "10", "--json").stdout)
    assert (info["rpm"], info["tpm"]) == (10, None)
    info = json.loads(gate(cfg, "keys", "limits", "app", "--json").stdout)
    assert (info["rpm"], info["tpm"]) == (None, None)


def test_spend_csv_and_by_team(cfg):
    from server.settings import load_settings
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
