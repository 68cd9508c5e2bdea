"""What the admin API takes in a body: a new key, team or budget, and the bounds of its numbers."""

from __future__ import annotations

import msgspec


class KeySpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    models: list[str] | None = None
    expires_at: float | None = None
    team: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_tokens: int | None = None
    period: str = "monthly"
    allow_cloud: bool | None = None
    sensitive: bool = False
    guardrails: str | None = None
    log_bodies: bool = False


class BudgetSpec(msgspec.Struct, forbid_unknown_fields=True):
    scope: str                  # key | team
    owner: str                  # id or name
    usd: float | None = None
    tokens: int | None = None
    period: str = "monthly"
    soft_pct: float | None = None


class TeamSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    budget_usd: float | None = None
    budget_tokens: int | None = None
    period: str = "monthly"


# The body of POST /admin/keys/{ref}/limits: {"rpm": n | null, "tpm": n | null}.
RateLimits = dict[str, int | None]

# Sane upper bounds: far above any real site's needs, and well inside what SQLite's 64-bit
# integers and the budget arithmetic hold (a larger value is a typo or an attack: 400).
MAX_NAME = 200  # characters of a key's or team's name
MAX_RPM = 10**9
MAX_TPM = 10**12
MAX_BUDGET_TOKENS = 10**15
MAX_BUDGET_USD = 10**9
MAX_EXPIRES_AT = 253402300799.0  # 9999-12-31T23:59:59Z

# Listings and windows the admin API serves at most.
MAX_LIMIT = 1000  # rows a listing returns
MAX_WINDOW_S = 3600
