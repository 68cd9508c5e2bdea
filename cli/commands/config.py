"""gate config check: validate gateway.toml without starting."""

from __future__ import annotations

import typer

from cli.context import console, esc, fail, globals_
from server.core.settings import ConfigError, admin_token, resolve_secret, secret_refs

app = typer.Typer(help="Check the configuration.", no_args_is_help=True)


@app.command("check")
def check(ctx: typer.Context) -> None:
    """Validate gateway.toml (and that its secret references resolve) without starting."""
    g = globals_(ctx)
    settings = g.settings()
    try:
        admin_token(settings)
        for _, key, ref in secret_refs(settings):
            resolve_secret(ref, settings.source, key)
    except ConfigError as exc:
        fail(str(exc))
    console.print(f"[green]ok[/] {esc(settings.source)}: {len(settings.providers)} providers, "
                  f"{len(settings.models)} models, database {esc(settings.database.path)}", highlight=False)
