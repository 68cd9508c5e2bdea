"""Ed25519 keys and the detached signature over the manifest's canonical bytes.

Keys are PEM files: the private key PKCS#8 (written with mode 0600, never printed), the
public key SubjectPublicKeyInfo. A key's id is the first 16 hex digits of the SHA-256 of
its raw 32 public bytes; the signature file names the id of the key that made it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from bundles import BundleError

PRIVATE_NAME = "gate-bundle.key"
PUBLIC_NAME = "gate-bundle.pub"


class Signature(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    algorithm: str
    key_id: str
    signature: str  # base64 of the 64 signature bytes


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def keygen(out_dir: Path) -> tuple[Path, Path, str]:
    """Write a new key pair into out_dir; refuses to overwrite. (private, public, key id)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise BundleError(f"{path} already exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(private_path, 0o600)  # whatever the umask said
    public_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path, key_id(key.public_key())


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read private key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise BundleError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path} is not an Ed25519 private key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read public key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise BundleError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{path} is not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    sig = Signature("ed25519", key_id(key.public_key()), base64.b64encode(key.sign(data)).decode())
    return msgspec.json.encode(sig, order="sorted")


def read_signature(data: bytes) -> Signature:
    try:
        sig = msgspec.json.decode(data, type=Signature)
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise BundleError("invalid signature file: not a gate bundle signature") from None
    if sig.algorithm != "ed25519":
        raise BundleError(f"invalid signature file: unsupported algorithm '{sig.algorithm}'")
    return sig


def verify(sig_bytes: bytes, data: bytes, trusted: list[Ed25519PublicKey]) -> str:
    """The signing key's id, or BundleError: unknown key, or a signature that does not match."""
    sig = read_signature(sig_bytes)
    by_id = {key_id(k): k for k in trusted}
    key = by_id.get(sig.key_id)
    if key is None:
        known = ", ".join(sorted(by_id)) or "none"
        raise BundleError(f"signed by an unknown key {sig.key_id} (trusted: {known})")
    try:
        raw = base64.b64decode(sig.signature, validate=True)
        key.verify(raw, data)
    except (InvalidSignature, ValueError):
        raise BundleError("bad signature: the manifest was changed after signing "
                          f"(or the signature is corrupt; key {sig.key_id})") from None
    return sig.key_id
