"""gate bundles: signed offline bundles to carry into an air-gapped site."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from cli.context import console, err_console, esc, fail, print_json
from bundles import BundleError, archive, sign
from bundles import install as releases
from bundles import recipe as recipes

app = typer.Typer(help="Signed offline bundles: make, check, install, roll back.", no_args_is_help=True)

LARGE = 16 * 1024 * 1024  # files this big get a bar of their own


class Bars:
    """Rich bars on stderr (stdout stays clean for --json): one per pass, one per large file."""

    def __init__(self) -> None:
        self._p = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                           TransferSpeedColumn(), TimeRemainingColumn(), console=err_console,
                           transient=True, disable=not err_console.is_terminal)
        self._pass = self._file = None

    def __enter__(self) -> Bars:
        self._p.start()
        return self

    def __exit__(self, *exc) -> None:
        self._p.stop()

    def phase(self, label: str, total_bytes: int) -> None:
        self._pass = self._p.add_task(label, total=total_bytes)

    def file(self, name: str, size: int) -> None:
        self._drop_file()
        if size >= LARGE:
            self._file = self._p.add_task(esc(f"  {name}"), total=size)

    def advance(self, n: int) -> None:
        if self._pass is not None:
            self._p.advance(self._pass, n)
        if self._file is not None:
            self._p.advance(self._file, n)

    def done(self) -> None:
        self._drop_file()
        if self._pass is not None:
            self._p.remove_task(self._pass)
            self._pass = None

    def _drop_file(self) -> None:
        if self._file is not None:
            self._p.remove_task(self._file)
            self._file = None


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _trusted(pubkeys: list[Path]) -> list:
    try:
        return [sign.load_public(p) for p in pubkeys]
    except BundleError as exc:
        fail(str(exc))


PubKeys = Annotated[list[Path], typer.Option("--pubkey", help="A trusted public key (repeatable).")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command()
def keygen(out: Annotated[Path, typer.Option("--out", help="Directory for the key pair.")]) -> None:
    """Make an Ed25519 key pair (the private key file is mode 0600 and never printed)."""
    try:
        private, public, key_id = sign.keygen(out)
    except BundleError as exc:
        fail(str(exc))
    console.print(f"key id [bold]{esc(key_id)}[/]\nprivate key {esc(private)} (mode 0600: keep it on the build host)\n"
                  f"public key  {esc(public)} (give it to the sites: gate bundles verify --pubkey)",
                  highlight=False)


@app.command()
def create(
    key: Annotated[Path, typer.Option("--key", help="The private key that signs the bundle.")],
    out: Annotated[Path, typer.Option("--out", help="The bundle file to write.")],
    recipe: Annotated[Path, typer.Option("--recipe", help="What goes in.")] = Path("bundles/site.toml"),
    version: Annotated[str | None, typer.Option(help="Bundle version (default: the recipe's).")] = None,
    binary: Annotated[Path | None, typer.Option(help="The one-folder binary to carry (default: the recipe's).")] = None,
    no_binary: Annotated[bool, typer.Option("--no-binary", help="Leave the binary out.")] = False,
    embedder: Annotated[Path | None, typer.Option(help="The semantic cache's embedder GGUF.")] = None,
) -> None:
    """Pack a recipe's files into one signed bundle."""
    started = time.perf_counter()
    try:
        private = sign.load_private(key)
        spec = recipes.load(recipe)
        files = recipes.sources(spec, recipe, binary=binary, embedder=embedder, with_binary=not no_binary)
        with Bars() as bars:
            manifest = archive.make_manifest(spec, files, bars, version)
            archive.write(out, manifest, files, private, bars)
    except BundleError as exc:
        fail(str(exc))
    kinds = sorted({f.kind for f in manifest.files})
    console.print(esc(f"wrote {out}: {manifest.name} {manifest.version}, {len(manifest.files)} files "
                      f"({', '.join(kinds)}), {_mb(manifest.total_bytes())}, "
                      f"{'no Python needed' if not manifest.needs.python else 'needs Python with gate installed'}, "
                      f"{time.perf_counter() - started:.1f} s"), highlight=False)


@app.command()
def inspect(bundle: Path, json_out: Json = False) -> None:
    """Show what a bundle says it holds (NOT verified: use `verify`)."""
    try:
        manifest, key_id = archive.peek(bundle)
    except BundleError as exc:
        fail(str(exc))
    if json_out:
        import msgspec

        print_json({"verified": False, "key_id": key_id, "manifest": msgspec.to_builtins(manifest)})
        return
    n = manifest.needs
    signer = esc(key_id) if key_id else "[red]nobody (unsigned)[/]"
    console.print(f"[bold]{esc(manifest.name)} {esc(manifest.version)}[/]  gate {esc(manifest.gate_version)}  "
                  f"created {esc(manifest.created)}  signed by {signer}\n"
                  f"needs: {'Python with gate installed' if n.python else 'no Python'}, "
                  f"platform {esc(n.platform)}, {_mb(n.min_disk_bytes)} of disk  [dim](not verified)[/]",
                  highlight=False)
    table = Table("kind", "path", "size", "sha256")
    binary = [f for f in manifest.files if f.kind == "binary"]
    if binary:
        table.add_row("binary", f"bin/gate/ ({len(binary)} files)", _mb(sum(f.size for f in binary)), "")
    for f in manifest.files:
        if f.kind != "binary":
            table.add_row(esc(f.kind), esc(f.path), _mb(f.size), esc(f.sha256[:16]) + "…")
    console.print(table)


def _refuse(json_out: bool, exc: BundleError) -> None:
    if json_out:
        print_json({"ok": False, "reason": str(exc)})
        raise typer.Exit(1)
    fail(f"bundle refused: {exc}")


@app.command()
def verify(bundle: Path, pubkey: PubKeys, json_out: Json = False) -> None:
    """Check the signature and every file's size and hash; exit 1 with the reason if any fails."""
    trusted = _trusted(pubkey)
    started = time.perf_counter()
    try:
        with Bars() as bars:
            manifest, key_id = archive.read(bundle, trusted, progress=bars)
    except BundleError as exc:
        _refuse(json_out, exc)
    seconds = time.perf_counter() - started
    size = manifest.total_bytes()
    result = {"ok": True, "name": manifest.name, "version": manifest.version, "key_id": key_id,
              "files": len(manifest.files), "bytes": size, "seconds": round(seconds, 3),
              "mb_per_s": round(size / 1e6 / max(seconds, 1e-6), 1)}
    if json_out:
        print_json(result)
        return
    console.print(f"[green]ok[/] {esc(manifest.name)} {esc(manifest.version)}: {len(manifest.files)} files, "
                  f"{_mb(size)}, signed by {esc(key_id)}, verified in {seconds:.2f} s "
                  f"({result['mb_per_s']} MB/s)", highlight=False)


@app.command("install")
def install_(
    bundle: Path,
    pubkey: PubKeys,
    into: Annotated[Path, typer.Option("--into", help="The site's install directory.")],
    keep: Annotated[int, typer.Option(min=2, help="Releases to keep (current and previous at least).")] = 2,
    json_out: Json = False,
) -> None:
    """Verify and install a bundle as DIR/releases/<version>; switch DIR/current to it."""
    trusted = _trusted(pubkey)
    try:
        with Bars() as bars:
            done = releases.install(bundle, trusted, into, keep=keep, progress=bars)
    except BundleError as exc:
        _refuse(json_out, exc)
    if json_out:
        print_json({"ok": True, "version": done.version, "path": str(done.path),
                    "previous": done.previous, "key_id": done.key_id, "already": done.already})
        return
    what = "already installed; current" if done.already else "installed"
    console.print(f"[green]{what}[/] " + esc(f"{done.version} at {into / 'current'} -> {done.path}"
                  + (f"  (previous: {done.previous}; `gate bundles rollback --into {into}`)"
                     if done.previous else "")), highlight=False)


@app.command()
def rollback(into: Annotated[Path, typer.Option("--into", help="The site's install directory.")]) -> None:
    """Switch DIR/current back to the previous release."""
    try:
        was, now = releases.rollback(into)
    except BundleError as exc:
        fail(str(exc))
    console.print(esc(f"rolled back {into / 'current'}: {was} -> {now}"), highlight=False)


@app.command()
def status(into: Annotated[Path, typer.Option("--into", help="The site's install directory.")],
           json_out: Json = False) -> None:
    """The releases installed in DIR, and which is current."""
    state = releases.status(into)
    if json_out:
        print_json(state)
        return
    table = Table("version", "bundle", "created", "gate", "")
    for r in state["releases"]:
        mark = "current" if r["version"] == state["current"] else (
            "previous" if r["version"] == state["previous"] else "")
        table.add_row(esc(r["version"]), esc(r["name"] or "?"), esc(r["created"] or "?"), esc(r["gate_version"] or "?"),
                      mark)
    console.print(table)
