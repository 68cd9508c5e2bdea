"""gate egress: may requests leave the site for cloud providers? (edits gateway.toml)"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.config_edit import edit, table
from cli.context import console, esc, fail, globals_, print_json
from server.core.settings import ConfigError

app = typer.Typer(help="The egress policy: cloud targets on or off for the site.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context, json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The site's policy and which providers and models it affects."""
    s = globals_(ctx).settings()
    cloud = sorted(n for n, p in s.providers.items() if p.locality == "cloud")
    cloud_only = sorted(a for a, m in s.models.items()
                        if all(s.providers[t.split(":", 1)[0]].locality == "cloud" for tier in m.tiers() for t in tier))
    data = {"allow_cloud": s.egress.allow_cloud, "keys_default": s.egress.keys_default,
            "cloud_providers": cloud, "cloud_only_models": cloud_only}
    if json:
        print_json(data)
        return
    out = Table(title="Egress", title_justify="left", show_header=False)
    out.add_row("cloud allowed for the site", "[green]yes[/]" if s.egress.allow_cloud else "[red]no[/]")
    out.add_row("new keys may use cloud", "yes" if s.egress.keys_default else "no")
    out.add_row("cloud providers", esc(", ".join(cloud) or "-"))
    out.add_row("models with only cloud targets", esc(", ".join(cloud_only) or "-"))
    console.print(out)


@app.command("allow-cloud")
def allow_cloud(ctx: typer.Context, state: Annotated[str, typer.Argument(help="on or off")]) -> None:
    """Allow (on) or forbid (off) cloud targets for the whole site; a running gateway
    picks it up within a second."""
    if state not in ("on", "off"):
        fail("say on or off")
    g = globals_(ctx)

    def change(doc) -> None:
        table(doc, "egress")["allow_cloud"] = state == "on"

    try:
        edit(g.config, change)
    except ConfigError as exc:
        fail(str(exc))
    console.print(f"cloud egress is now [bold]{state}[/] in {esc(g.config)}", highlight=False)
