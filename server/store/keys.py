"""Virtual keys: only a SHA-256 hash of each secret is stored.

A secret is `sk-gate-` plus 32 random bytes (URL-safe base64), so a plain hash is a safe
verifier; it is shown once, at creation or rotation. Lookup is by hash (an index probe),
followed by a constant-time comparison of the stored hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import apsw
import msgspec

from server.core.errors import GateError

KEY_PREFIX = "sk-gate-"


class StoreRefused(GateError):
    """A key operation cannot be done (unknown key, duplicate name)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a valid virtual key."""

    key_id: str
    name: str
    models: tuple[str, ...] | None  # None: every alias
    team_id: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    budgeted: bool = False          # a budget applies (the key's or its team's)
    allow_cloud: bool | None = None  # None: [egress] keys_default
    expires_at: float | None = None
    sensitive: bool = False          # never to a cloud target
    guardrails: str | None = None    # a named guardrail policy
    log_bodies: bool = False         # keep prompts and answers (redacted) on traces

    def may_use(self, alias: str) -> bool:
        return self.models is None or alias in self.models


class KeyInfo(msgspec.Struct):
    id: str
    name: str
    prefix: str
    models: list[str] | None
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    rotated_at: float | None
    status: str
    team: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    allow_cloud: bool | None = None
    sensitive: bool = False
    guardrails: str | None = None
    log_bodies: bool = False


class CreatedKey(msgspec.Struct):
    key: str  # the secret, shown once
    info: KeyInfo


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _status(row_expires: float | None, row_revoked: float | None, now: float) -> str:
    if row_revoked is not None:
        return "revoked"
    if row_expires is not None and row_expires <= now:
        return "expired"
    return "active"


_COLUMNS = ("k.id, k.name, k.prefix, k.models, k.created_at, k.expires_at, k.revoked_at, k.rotated_at, "
            "t.name, k.rpm, k.tpm, k.allow_cloud, k.sensitive, k.guardrails, k.log_bodies")
_FROM = "FROM keys k LEFT JOIN teams t ON t.id = k.team_id"


def _info(row: tuple, now: float | None = None) -> KeyInfo:
    kid, name, prefix, models, created, expires, revoked, rotated, team, rpm, tpm, cloud, sensitive, guard, bodies = row
    return KeyInfo(
        id=kid,
        name=name,
        prefix=prefix,
        models=msgspec.json.decode(models) if models else None,
        created_at=created,
        expires_at=expires,
        revoked_at=revoked,
        rotated_at=rotated,
        status=_status(expires, revoked, now or time.time()),
        team=team,
        rpm=rpm,
        tpm=tpm,
        allow_cloud=None if cloud is None else bool(cloud),
        sensitive=bool(sensitive),
        guardrails=guard,
        log_bodies=bool(bodies),
    )


def create_key(conn: apsw.Connection, name: str, *, models: list[str] | None = None,
               expires_at: float | None = None, team_id: str | None = None,
               rpm: int | None = None, tpm: int | None = None,
               allow_cloud: bool | None = None, sensitive: bool = False,
               guardrails: str | None = None, log_bodies: bool = False) -> CreatedKey:
    secret = new_secret()
    kid = "key_" + secrets.token_hex(6)
    now = time.time()
    try:
        conn.execute(
            "INSERT INTO keys(id, name, hash, prefix, models, created_at, expires_at, team_id, rpm, tpm, "
            "allow_cloud, sensitive, guardrails, log_bodies) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kid, name, hash_secret(secret), secret[:12], _models_json(models), now, expires_at,
             team_id, rpm, tpm, allow_cloud, int(sensitive), guardrails, int(log_bodies)),
        )
    except apsw.ConstraintError:
        raise StoreRefused(f"a key named '{name}' already exists") from None
    return CreatedKey(key=secret, info=get_key(conn, kid))


def _models_json(models: list[str] | None) -> str | None:
    return msgspec.json.encode(sorted(set(models))).decode() if models else None


def _row(conn: apsw.Connection, ref: str) -> tuple:
    row = conn.execute(f"SELECT {_COLUMNS} {_FROM} WHERE k.id = ? OR k.name = ?", (ref, ref)).fetchone()
    if row is None:
        raise StoreRefused(f"no key with id or name '{ref}'")
    return row


def get_key(conn: apsw.Connection, ref: str) -> KeyInfo:
    return _info(_row(conn, ref))


def list_keys(conn: apsw.Connection) -> list[KeyInfo]:
    now = time.time()
    return [_info(r, now) for r in conn.execute(f"SELECT {_COLUMNS} {_FROM} ORDER BY k.created_at")]


def revoke_key(conn: apsw.Connection, ref: str) -> KeyInfo:
    kid = _row(conn, ref)[0]
    conn.execute("UPDATE keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", (time.time(), kid))
    return get_key(conn, kid)


def rotate_key(conn: apsw.Connection, ref: str) -> CreatedKey:
    """A new secret for the same key; the old secret stops working at once."""
    kid = _row(conn, ref)[0]
    info = get_key(conn, kid)
    if info.status == "revoked":
        raise StoreRefused(f"key '{ref}' is revoked; create a new one")
    secret = new_secret()
    conn.execute(
        "UPDATE keys SET hash = ?, prefix = ?, rotated_at = ? WHERE id = ?",
        (hash_secret(secret), secret[:12], time.time(), kid),
    )
    return CreatedKey(key=secret, info=get_key(conn, kid))


def auth_version(conn: apsw.Connection) -> int:
    """Changes whenever keys, teams or budgets change, in any process (triggers bump it)."""
    return conn.execute("SELECT v FROM meta WHERE k = 'auth_version'").fetchone()[0]


def authenticate(conn: apsw.Connection, secret: str, now: float, digest: bytes | None = None) -> Principal | None:
    """The principal for a presented secret, or None (unknown, revoked or expired)."""
    digest = digest or hash_secret(secret)
    row = conn.execute(_AUTH, (digest,)).fetchone()
    if row is None or not hmac.compare_digest(row[0], digest):
        return None
    _, kid, name, models, expires, revoked, team_id, rpm, tpm, cloud, sensitive, guard, bodies, budgeted = row
    if _status(expires, revoked, now) != "active":
        return None
    return Principal(kid, name, tuple(msgspec.json.decode(models)) if models else None,
                     team_id, rpm, tpm, bool(budgeted), None if cloud is None else bool(cloud), expires,
                     bool(sensitive), guard, bool(bodies))


_AUTH = ("SELECT k.hash, k.id, k.name, k.models, k.expires_at, k.revoked_at, k.team_id, k.rpm, k.tpm, "
         "k.allow_cloud, k.sensitive, k.guardrails, k.log_bodies, "
         "EXISTS(SELECT 1 FROM budgets b WHERE (b.scope = 'key' AND b.owner_id = k.id) "
         "OR (b.scope = 'team' AND b.owner_id = k.team_id)) FROM keys k WHERE k.hash = ?")


def set_limits(conn: apsw.Connection, ref: str, *, rpm: int | None, tpm: int | None) -> KeyInfo:
    kid = _row(conn, ref)[0]
    conn.execute("UPDATE keys SET rpm = ?, tpm = ? WHERE id = ?", (rpm, tpm, kid))
    return get_key(conn, kid)
