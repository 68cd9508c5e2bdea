"""Install a verified bundle as a release, atomically, and roll back to the previous one.

    DIR/releases/<version>/   one release: the bundle's files, and .gate-manifest.json
    DIR/current  -> releases/<version>     what runs (DIR/current/bin/gate/gate)
    DIR/previous -> releases/<version>     what `rollback` returns to

The bundle is extracted into a temp dir beside the releases while it is verified; only a
bundle that passed every check is renamed into releases/<version>, and only then does
`current` switch, by renaming a new symlink over the old one. A failure at any point
leaves DIR as it was.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bundles import BundleError, archive
from bundles.manifest import Manifest, decode, encode
from bundles.progress import Progress
from bundles.recipe import platform_tag

MANIFEST_COPY = ".gate-manifest.json"


@dataclass
class Installed:
    version: str
    path: Path
    previous: str | None
    key_id: str
    already: bool = False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_atomic(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    _fsync_dir(link.parent)


def _version_of(link: Path) -> str | None:
    if not link.is_symlink():
        return None
    return Path(os.readlink(link)).name


@contextmanager
def _locked(into: Path) -> Iterator[None]:
    into.mkdir(parents=True, exist_ok=True)
    with open(into / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BundleError(f"another install or rollback is running in {into}") from None
        yield


def _precheck(manifest: Manifest, releases: Path) -> None:
    if manifest.needs.platform not in ("any", platform_tag()):
        raise BundleError(f"the bundle's binary is built for {manifest.needs.platform}; "
                          f"this host is {platform_tag()}")
    free = shutil.disk_usage(releases).free
    if free < manifest.needs.min_disk_bytes:
        raise BundleError(f"not enough disk at {releases}: the bundle needs "
                          f"{manifest.needs.min_disk_bytes / 1e6:.0f} MB, {free / 1e6:.0f} MB free")


def install(bundle: Path, trusted: list[Ed25519PublicKey], into: Path, *, keep: int = 2,
            progress: Progress | None = None) -> Installed:
    with _locked(into):
        releases = into / "releases"
        releases.mkdir(exist_ok=True)
        stated, _ = archive.peek(bundle)  # unverified: only to refuse early (disk, platform)
        _precheck(stated, releases)
        tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=releases))
        try:
            manifest, key = archive.read(bundle, trusted, extract_to=tmp, progress=progress)
            (tmp / MANIFEST_COPY).write_bytes(encode(manifest))
            os.chmod(tmp, 0o755)
            _fsync_dir(tmp)
            target = releases / manifest.version
            already = target.exists()
            if already:
                if _installed_manifest(target) != encode(manifest):
                    raise BundleError(f"version {manifest.version} is already installed in {releases} "
                                      "with different contents; give the new bundle a new version")
            else:
                os.rename(tmp, target)
                _fsync_dir(releases)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        previous = _version_of(into / "current")
        if previous != manifest.version:
            if previous is not None:
                _link_atomic(into / "previous", f"releases/{previous}")
            _link_atomic(into / "current", f"releases/{manifest.version}")
        _prune(into, keep)
        return Installed(manifest.version, target, _version_of(into / "previous"), key, already)


def _installed_manifest(release: Path) -> bytes | None:
    try:
        return (release / MANIFEST_COPY).read_bytes()
    except OSError:
        return None


def _prune(into: Path, keep: int) -> None:
    """Keep `current`, `previous` and the newest others up to `keep` releases in all."""
    releases = into / "releases"
    pinned = {v for v in (_version_of(into / "current"), _version_of(into / "previous")) if v}
    others = sorted((p for p in releases.iterdir() if p.is_dir() and not p.name.startswith(".")
                     and p.name not in pinned), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[max(0, keep - len(pinned)):]:
        shutil.rmtree(old)


def rollback(into: Path) -> tuple[str, str]:
    """Switch `current` back to `previous` (and `previous` to what was current)."""
    with _locked(into):
        current, previous = _version_of(into / "current"), _version_of(into / "previous")
        if current is None:
            raise BundleError(f"nothing is installed in {into}")
        if previous is None or not (into / "releases" / previous).is_dir():
            raise BundleError(f"no previous release to roll back to in {into}")
        _link_atomic(into / "current", f"releases/{previous}")
        _link_atomic(into / "previous", f"releases/{current}")
        return current, previous


def status(into: Path) -> dict:
    releases = into / "releases"
    listed = []
    if releases.is_dir():
        for p in sorted(releases.iterdir()):
            if p.is_dir() and not p.name.startswith("."):
                data = _installed_manifest(p)
                m = decode(data) if data else None
                listed.append({"version": p.name, "name": m.name if m else None,
                               "created": m.created if m else None,
                               "gate_version": m.gate_version if m else None})
    return {"into": str(into), "current": _version_of(into / "current"),
            "previous": _version_of(into / "previous"), "releases": listed}
