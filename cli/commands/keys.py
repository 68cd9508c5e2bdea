"""gate keys: virtual keys (create, list, show, revoke, rotate)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from cli.backend import call as _run
from cli.context import KEEP, console, esc, merged, parse_duration, parse_limit, print_json, when
from server.core.periods import PERIOD_HELP

app = typer.Typer(help="Manage virtual keys.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]



def _models(value: list[str] | None) -> str:
    return ", ".join(value) if value else "all"


def _table(keys: list[dict]) -> Table:
    table = Table(title="Virtual keys", title_justify="left")
    for col in ("name", "prefix", "team", "models", "rpm/tpm", "status", "expires"):
        table.add_column(col, no_wrap=col in ("name", "prefix"))
    colors = {"active": "green", "revoked": "red", "expired": "yellow"}
    for k in keys:
        limits = f"{k.get('rpm') or '-'}/{k.get('tpm') or '-'}"
        table.add_row(esc(k["name"]), esc(k["prefix"]) + "…", esc(k.get("team") or "-"), esc(_models(k["models"])),
                      limits,
                      f"[{colors.get(k['status'], 'white')}]{k['status']}[/]", when(k["expires_at"])[:10])
    return table


def _show_secret(created: dict, verb: str) -> None:
    info = created["info"]
    console.print(Panel.fit(
        f"[bold]{esc(created['key'])}[/]\n\nThis secret is shown once; only its hash is stored.",
        title=f"key '{esc(info['name'])}' {verb} ({esc(info['id'])})", border_style="green"), highlight=False)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="A unique name for the key.")],
    models: Annotated[str | None, typer.Option(help="Comma-separated aliases it may use (default: all).")] = None,
    expires: Annotated[str | None, typer.Option(help="Lifetime such as 30d, 12h or 2w.")] = None,
    budget: Annotated[float | None, typer.Option(help="Budget in USD per period.")] = None,
    budget_tokens: Annotated[int | None, typer.Option(help="Budget in tokens per period.")] = None,
    period: Annotated[str, typer.Option(help=PERIOD_HELP)] = "monthly",
    rpm: Annotated[int | None, typer.Option(help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute.")] = None,
    team: Annotated[str | None, typer.Option(help="Team (name or id); its budget applies too.")] = None,
    allow_cloud: Annotated[bool | None, typer.Option("--allow-cloud/--no-allow-cloud",
                                                     help="May it use cloud targets? (default: [egress] keys_default)")] = None,
    sensitive: Annotated[bool, typer.Option("--sensitive", help="Its requests never go to a cloud target.")] = False,
    guardrails: Annotated[str | None, typer.Option(help="A named policy of [guardrails.policies].")] = None,
    log_bodies: Annotated[bool, typer.Option("--log-bodies", help="Keep its prompts and answers on traces, "
                                             "redacted (off by default).")] = False,
    json: JsonOpt = False,
) -> None:
    """Create a key and print its secret once."""
    model_list = [m.strip() for m in models.split(",") if m.strip()] if models else None
    expires_at = time.time() + parse_duration(expires) if expires else None
    spec = {"name": name, "models": model_list, "expires_at": expires_at, "team": team, "rpm": rpm,
            "tpm": tpm, "budget_usd": budget, "budget_tokens": budget_tokens, "period": period,
            "allow_cloud": allow_cloud, "sensitive": sensitive, "guardrails": guardrails,
            "log_bodies": log_bodies}
    created = _run(ctx, "create_key", spec)
    if json:
        print_json({"key": created["key"], **created["info"]})
    else:
        _show_secret(created, "created")


@app.command("list")
def list_(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List keys (never their secrets)."""
    keys = _run(ctx, "list_keys")
    if json:
        print_json(keys)
    elif not keys:
        console.print("No keys yet: [bold]gate keys create --name NAME[/]")
    else:
        console.print(_table(keys))


@app.command("show")
def show(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Key id or name.")],
         json: JsonOpt = False) -> None:
    """Show one key."""
    info = _run(ctx, "show_key", key)
    print_json(info) if json else console.print(_table([info]))


@app.command("revoke")
def revoke(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Key id or name.")],
           json: JsonOpt = False) -> None:
    """Revoke a key: it stops working at once."""
    info = _run(ctx, "revoke_key", key)
    if json:
        print_json(info)
    else:
        console.print(f"revoked [bold]{esc(info['name'])}[/] ({esc(info['id'])})", highlight=False)


@app.command("rotate")
def rotate(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Key id or name.")],
           json: JsonOpt = False) -> None:
    """Give a key a new secret; the old secret stops working at once."""
    created = _run(ctx, "rotate_key", key)
    if json:
        print_json({"key": created["key"], **created["info"]})
    else:
        _show_secret(created, "rotated")


@app.command("limits")
def limits(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Key id or name.")],
    rpm: Annotated[str | None, typer.Option(
        metavar="N|none", help="Requests per minute; 'none' removes the limit; omitted: unchanged.")] = None,
    tpm: Annotated[str | None, typer.Option(
        metavar="N|none", help="Tokens per minute; 'none' removes the limit; omitted: unchanged.")] = None,
    json: JsonOpt = False,
) -> None:
    """Change a key's rate limits: each flag changes only its own limit (--tpm none removes one)."""
    new_rpm, new_tpm = parse_limit(rpm, "--rpm"), parse_limit(tpm, "--tpm")
    if new_rpm is KEEP and new_tpm is KEEP:
        raise typer.BadParameter("give --rpm, --tpm or both (a number, or 'none' to remove that limit)",
                                 param_hint="'--rpm' / '--tpm'")
    current = _run(ctx, "show_key", key)
    info = _run(ctx, "key_limits", key, merged(new_rpm, current["rpm"]), merged(new_tpm, current["tpm"]))
    print_json(info) if json else console.print(_table([info]))
