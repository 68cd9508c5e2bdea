"""The Typer root: global options and the command registry; nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.commands import (
    backup,
    budgets,
    bundles,
    cache,
    config,
    doctor,
    egress,
    keys,
    models,
    providers,
    serve,
    spend,
    teams,
    top,
    traces,
)
from cli.context import Globals
from cli.output import UNWRAPPED, on_terminal
from server.core.settings import config_path

app = typer.Typer(
    name="gate",
    help="A local AI gateway: one OpenAI-compatible endpoint for a site's own models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help is Click's plain text: Rich markup would read "[server] host" in a help string
    # as a style tag and print "(default:  host)". Sub-commands inherit this.
    rich_markup_mode=None,
    # Piped or redirected, help is not wrapped either (Click wraps at 80 by itself).
    context_settings={} if on_terminal(sys.stdout) else {"max_content_width": UNWRAPPED,
                                                           "terminal_width": UNWRAPPED},
)


@app.callback()
def root(
    ctx: typer.Context,
    config_file: Annotated[Path | None, typer.Option(
        "--config", "-c", help="gateway.toml to use (else GATE_CONFIG, else ./gateway.toml).")] = None,
    url: Annotated[str | None, typer.Option(
        envvar="GATE_URL", help="Act on a running gateway's admin API instead of the local file.")] = None,
    admin_token: Annotated[str | None, typer.Option(
        envvar="GATE_ADMIN_TOKEN", show_envvar=True, help="Admin token for --url.")] = None,
) -> None:
    ctx.obj = Globals(config_path(config_file), url, admin_token)


app.command("serve")(serve.serve)
app.command("spend")(spend.spend)
app.command("top")(top.top)
app.add_typer(keys.app, name="keys")
app.add_typer(teams.app, name="teams")
app.add_typer(budgets.app, name="budgets")
app.add_typer(providers.app, name="providers")
app.add_typer(models.app, name="models")
app.add_typer(egress.app, name="egress")
app.add_typer(cache.app, name="cache")
app.add_typer(traces.app, name="traces")
app.add_typer(config.app, name="config")
app.add_typer(bundles.app, name="bundles")
app.command("doctor")(doctor.doctor)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)


def run() -> None:
    import multiprocessing

    multiprocessing.freeze_support()
    app()
