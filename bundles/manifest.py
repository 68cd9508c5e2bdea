"""The bundle manifest: the one document the signature covers.

Its canonical bytes are compact JSON with sorted keys and the files sorted by path; a
manifest whose stored bytes are not canonical is refused, so what is verified is exactly
what is parsed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from bundles import BundleError
from bundles.progress import Progress, Silent

FORMAT = "gate-bundle/1"
CHUNK = 1024 * 1024
MANIFEST_NAME = "MANIFEST.json"
SIGNATURE_NAME = "MANIFEST.sig"
PAYLOAD = "payload/"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
Kind = Literal["binary", "model", "embedder", "prices", "config", "file"]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
Version = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")]


class _Strict(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class FileEntry(_Strict, kw_only=True):
    path: str  # relative to the release root, POSIX separators
    size: Annotated[int, Meta(ge=0)]
    sha256: Sha256
    mode: Literal[0o644, 0o755]
    kind: Kind


class Needs(_Strict, kw_only=True):
    # True: no binary inside; the site needs a Python with gate installed to use it.
    python: bool
    # The platform the binary was built for ("any" without a binary).
    platform: str
    # Free space the install needs at the target (the files, plus a margin).
    min_disk_bytes: Annotated[int, Meta(ge=0)]


class Manifest(_Strict, kw_only=True):
    format: Literal["gate-bundle/1"] = FORMAT
    name: Version
    version: Version
    gate_version: str
    created: str  # ISO 8601, UTC
    description: str = ""
    needs: Needs
    files: list[FileEntry]

    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def check_relpath(path: str) -> str:
    """A safe relative POSIX path, or BundleError naming what is wrong with it."""
    if not path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise BundleError(f"unsafe entry '{path}': an absolute path")
    if "\\" in path or "\0" in path:
        raise BundleError(f"unsafe entry '{path}': a backslash or NUL in the name")
    parts = path.split("/")
    if ".." in parts:
        raise BundleError(f"unsafe entry '{path}': path traversal ('..')")
    if any(p in ("", ".") for p in parts) or str(PurePosixPath(path)) != path:
        raise BundleError(f"unsafe entry '{path}': not a normalised path")
    return path


def encode(manifest: Manifest) -> bytes:
    """The canonical bytes: sorted keys, no whitespace, files sorted by path."""
    ordered = msgspec.structs.replace(manifest, files=sorted(manifest.files, key=lambda f: f.path))
    return msgspec.json.encode(msgspec.to_builtins(ordered), order="sorted")


def decode(data: bytes) -> Manifest:
    try:
        manifest = msgspec.json.decode(data, type=Manifest)
    except msgspec.ValidationError as exc:
        raise BundleError(f"invalid manifest: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BundleError(f"invalid manifest: not JSON ({exc})") from None
    if encode(manifest) != data:
        raise BundleError("invalid manifest: its bytes are not in canonical form")
    seen: set[str] = set()
    for entry in manifest.files:
        check_relpath(entry.path)
        if entry.path in seen:
            raise BundleError(f"invalid manifest: '{entry.path}' is listed twice")
        seen.add(entry.path)
    return manifest


def hash_file(path: Path, progress: Progress | None = None) -> tuple[str, int]:
    """(sha256 hex, size), reading 1 MiB at a time."""
    digest = hashlib.sha256()
    size = 0
    progress = progress or Silent()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
            size += len(block)
            progress.advance(len(block))
    return digest.hexdigest(), size
