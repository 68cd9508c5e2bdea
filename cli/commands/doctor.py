"""gate doctor: is this site ready to serve? Exit 1 when any check fails."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.context import console, esc, globals_, print_json

STYLE = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]fail[/]", "skip": "[dim]skip[/]"}


def doctor(
    ctx: typer.Context,
    airgap: Annotated[bool, typer.Option(
        "--airgap", help="Also prove that nothing leaves the site: every destination on the "
        "[airgap] allow list, and a live gate serve's sockets audited under test traffic.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the config, the SQLite file, sqlite-vec, the embedder, upstreams and disk space."""
    from cli import doctor as checks

    g = globals_(ctx)
    if not json_out:
        with console.status("checking" + (" (the airgap audit starts a gateway)" if airgap else "")):
            results = checks.run(g.config, airgap=airgap)
    else:
        results = checks.run(g.config, airgap=airgap)
    bad = checks.failed(results)
    if json_out:
        print_json({"ok": not bad, "checks": [c.as_dict() for c in results]})
    else:
        table = Table("check", "", "detail", show_lines=False)
        for c in results:
            table.add_row(esc(c.name), STYLE.get(c.status, esc(c.status)), esc(c.detail))
        console.print(table)
        fails = sum(c.status == "fail" for c in results)
        warns = sum(c.status == "warn" for c in results)
        console.print(f"[bold red]{fails} failed[/], {warns} warnings" if bad
                      else f"[green]ready[/] ({warns} warnings)", highlight=False)
    if bad:
        raise typer.Exit(1)
