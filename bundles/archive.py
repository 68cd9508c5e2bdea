"""Write a bundle, and read one back: verify it and, for install, extract it in one pass.

Reading never trusts the archive: the first entry must be the manifest, the second its
signature (checked before anything else is read), then only regular files under payload/
that the manifest lists, each exactly once, each hashed as it streams by. The archive must
end with tar's end-of-archive blocks and nothing after them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from bundles import BundleError, gate_version, sign
from bundles.manifest import (
    CHUNK,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    PAYLOAD,
    SIGNATURE_NAME,
    FileEntry,
    Manifest,
    Needs,
    check_relpath,
    decode,
    encode,
    hash_file,
)
from bundles.progress import Progress, Silent
from bundles.recipe import Recipe, Source, platform_tag

# Room on top of the files themselves when installing (the filesystem's own overhead).
DISK_MARGIN = 1.05


def make_manifest(recipe: Recipe, files: list[Source], progress: Progress,
                  version: str | None = None) -> Manifest:
    """Hash every source (streaming) into the manifest."""
    total = sum(s.src.stat().st_size for s in files)
    progress.phase("hashing", total)
    entries = []
    for s in files:
        progress.file(s.dest, s.src.stat().st_size)
        digest, size = hash_file(s.src, progress)
        entries.append(FileEntry(path=s.dest, size=size, sha256=digest, mode=s.mode, kind=s.kind))
    progress.done()
    has_binary = any(s.kind == "binary" for s in files)
    needs = Needs(python=not has_binary, platform=platform_tag() if has_binary else "any",
                  min_disk_bytes=int(total * DISK_MARGIN))
    return Manifest(name=recipe.bundle.name, version=version or recipe.bundle.version,
                    gate_version=gate_version(), description=recipe.bundle.description,
                    created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    needs=needs, files=sorted(entries, key=lambda e: e.path))


class _Hashing(io.RawIOBase):
    """A file being packed: hashed on the way in, so a file that changed since the
    manifest was made is caught instead of shipped."""

    def __init__(self, f: BinaryIO, progress: Progress) -> None:
        self._f, self._progress, self.digest = f, progress, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        block = self._f.read(n)
        self.digest.update(block)
        self._progress.advance(len(block))
        return block


def _info(name: str, size: int, mode: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, int(mtime)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write(out: Path, manifest: Manifest, sources: list[Source], key: Ed25519PrivateKey,
          progress: Progress | None = None) -> Path:
    """Write the signed bundle to `out` (through a temp file, renamed when complete)."""
    progress = progress or Silent()
    data = encode(manifest)
    signature = sign.sign(key, data)
    by_dest = {s.dest: s for s in sources}
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    now = time.time()
    progress.phase("packing", manifest.total_bytes())
    try:
        with open(tmp, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_info(MANIFEST_NAME, len(data), 0o644, now), io.BytesIO(data))
            tar.addfile(_info(SIGNATURE_NAME, len(signature), 0o644, now), io.BytesIO(signature))
            for entry in manifest.files:
                progress.file(entry.path, entry.size)
                with open(by_dest[entry.path].src, "rb") as f:
                    reader = _Hashing(f, progress)
                    tar.addfile(_info(PAYLOAD + entry.path, entry.size, entry.mode, now), reader)
                if reader.digest.hexdigest() != entry.sha256:
                    raise BundleError(f"{by_dest[entry.path].src} changed while the bundle was made")
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        progress.done()
    return out


# -- reading ---------------------------------------------------------------------------

def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "a symlink"
    if member.islnk():
        return "a hard link"
    if member.isdir():
        return "a directory"
    return "a device or special file"


def _check_member(member: tarfile.TarInfo) -> str:
    """The payload path of a safe regular-file entry, else BundleError."""
    name = check_relpath(member.name)
    if not member.isreg():
        raise BundleError(f"unsafe entry '{name}': {_kind(member)}")
    if not name.startswith(PAYLOAD):
        raise BundleError(f"extra file: '{name}' is in the archive but not in the manifest")
    return name[len(PAYLOAD):]


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo | None, want: str) -> bytes | None:
    if member is None or member.name != want:
        return None
    if not member.isreg():
        raise BundleError(f"unsafe entry '{member.name}': {_kind(member)}")
    if member.size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{want} is {member.size} bytes: too large")
    f = tar.extractfile(member)
    assert f is not None  # a regular file
    return f.read()


def _copy(src: BinaryIO, entry: FileEntry, dest: Path | None, progress: Progress) -> str:
    digest = hashlib.sha256()
    out = None
    if dest is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        out = os.fdopen(fd, "wb")
    with out if out is not None else contextlib.nullcontext():
        while block := src.read(CHUNK):
            digest.update(block)
            if out is not None:
                out.write(block)
            progress.advance(len(block))
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
            os.chmod(dest, entry.mode)
    return digest.hexdigest()


def _check_end(raw: BinaryIO, offset: int, name: str) -> None:
    """After the last member: tar's two zero blocks, then only zero padding."""
    raw.seek(offset)
    tail = raw.read(1024)
    if len(tail) < 1024 or tail.count(0) != 1024:
        raise BundleError(f"truncated or corrupt bundle: {name} has no end-of-archive marker "
                          "after its last whole entry")
    while block := raw.read(CHUNK):
        if block.count(0) != len(block):
            raise BundleError(f"trailing data after the end of the archive in {name}")


def read(path: Path, trusted: list[Ed25519PublicKey], *, extract_to: Path | None = None,
         progress: Progress | None = None) -> tuple[Manifest, str]:
    """Verify the bundle (and extract it into `extract_to`): (manifest, signing key id)."""
    progress = progress or Silent()
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise BundleError(f"cannot open {path}: {exc.strerror}") from None
    with raw:
        try:
            tar = tarfile.open(fileobj=raw, mode="r:")
        except tarfile.ReadError:
            raise BundleError(f"not a gate bundle: {path} is not a tar archive (or is truncated)") from None
        try:
            manifest, key = _read_members(tar, trusted, extract_to, progress)
        except (tarfile.ReadError, EOFError) as exc:
            raise BundleError(f"truncated bundle: the archive ends early ({exc})") from None
        finally:
            progress.done()
        _check_end(raw, tar.offset, str(path))
    return manifest, key


def _read_members(tar: tarfile.TarFile, trusted: list[Ed25519PublicKey], extract_to: Path | None,
                  progress: Progress) -> tuple[Manifest, str]:
    data = _read_small(tar, tar.next(), MANIFEST_NAME)
    if data is None:
        raise BundleError(f"not a gate bundle: the first entry is not {MANIFEST_NAME}")
    signature = _read_small(tar, tar.next(), SIGNATURE_NAME)
    if signature is None:
        raise BundleError(f"unsigned bundle: no {SIGNATURE_NAME} after the manifest")
    key = sign.verify(signature, data, trusted)
    manifest = decode(data)
    wanted = {e.path: e for e in manifest.files}
    seen: set[str] = set()
    progress.phase("extracting" if extract_to else "verifying", manifest.total_bytes())
    while (member := tar.next()) is not None:
        rel = _check_member(member)
        entry = wanted.get(rel)
        if entry is None:
            raise BundleError(f"extra file: '{member.name}' is in the archive but not in the manifest")
        if rel in seen:
            raise BundleError(f"extra file: '{member.name}' is in the archive twice")
        seen.add(rel)
        if member.size != entry.size:
            raise BundleError(f"tampered file: '{rel}' is {member.size} bytes, the manifest says {entry.size}")
        progress.file(rel, entry.size)
        f = tar.extractfile(member)
        assert f is not None
        digest = _copy(f, entry, extract_to / rel if extract_to else None, progress)
        if digest != entry.sha256:
            raise BundleError(f"tampered file: '{rel}' has sha256 {digest[:16]}..., "
                              f"the manifest says {entry.sha256[:16]}...")
    missing = [p for p in wanted if p not in seen]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise BundleError(f"missing file: '{missing[0]}'{more} listed in the manifest but not in the archive")
    return manifest, key


def peek(path: Path) -> tuple[Manifest, str | None]:
    """The manifest and the signing key's id as the bundle states them, NOT verified."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            data = _read_small(tar, tar.next(), MANIFEST_NAME)
            if data is None:
                raise BundleError(f"not a gate bundle: the first entry is not {MANIFEST_NAME}")
            sig = _read_small(tar, tar.next(), SIGNATURE_NAME)
    except (tarfile.ReadError, EOFError, OSError) as exc:
        raise BundleError(f"not a readable gate bundle: {path} ({exc})") from None
    return decode(data), sign.read_signature(sig).key_id if sig is not None else None
