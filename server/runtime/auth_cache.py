"""What each key may do, cached per worker and checked against one number per request.

Any change to keys, teams or budgets, by any process, bumps `meta.auth_version` (SQLite
triggers do it), and the cache is dropped whole. A revoked key is refused by the very next
request; expiry is checked on every hit.
"""

from __future__ import annotations

import apsw

from server.store import budgets as budget_store
from server.store.keys import Principal, auth_version, authenticate, hash_secret

MAX_ENTRIES = 10_000


class AuthCache:
    def __init__(self) -> None:
        self._version = -1
        self._principals: dict[bytes, Principal | None] = {}
        self._budgets: dict[str, list[budget_store.Budget]] = {}
        self.hits = 0

    def _fresh(self, conn: apsw.Connection) -> None:
        version = auth_version(conn)
        if version != self._version:
            self._principals.clear()
            self._budgets.clear()
            self._version = version

    def principal(self, conn: apsw.Connection, secret: str, now: float) -> Principal | None:
        self._fresh(conn)
        digest = hash_secret(secret)
        if digest in self._principals:
            p = self._principals[digest]
            if p is not None and p.expires_at is not None and p.expires_at <= now:
                return None
            self.hits += 1
            return p
        p = authenticate(conn, secret, now, digest)
        if len(self._principals) >= MAX_ENTRIES:
            self._principals.clear()  # a flood of random keys cannot grow memory
        if p is not None:
            self._principals[digest] = p
        return p

    def budgets(self, conn: apsw.Connection, key_id: str, team_id: str | None) -> list[budget_store.Budget]:
        """Checked within the same request as principal(), so no second version read."""
        cached = self._budgets.get(key_id)
        if cached is None:
            cached = self._budgets[key_id] = budget_store.budgets_for(conn, key_id, team_id)
        return cached
