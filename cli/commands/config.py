"""gate config check: validate gateway.toml without starting."""

from __future__ import annotations

import typer

from cli.context import console, esc, fail, globals_
from server.core.settings import ConfigError, LlamaCppProvider, admin_token, resolve_secret

app = typer.Typer(help="Check the configuration.", no_args_is_help=True)


@app.command("check")
def check(ctx: typer.Context) -> None:
    """Validate gateway.toml (and that its secret references resolve) without starting."""
    g = globals_(ctx)
    settings = g.settings()
    try:
        admin_token(settings)
        for name, p in settings.providers.items():
            if not isinstance(p, LlamaCppProvider):
                if p.api_key:
                    resolve_secret(p.api_key, settings.source, f"providers.{name}.api_key")
                for header, ref in p.headers.items():
                    resolve_secret(ref, settings.source, f"providers.{name}.headers.{header}")
    except ConfigError as exc:
        fail(str(exc))
    console.print(f"[green]ok[/] {esc(settings.source)}: {len(settings.providers)} providers, "
                  f"{len(settings.models)} models, database {esc(settings.database.path)}", highlight=False)
