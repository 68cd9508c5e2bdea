"""Admin operations shared by the CLI (on the local file) and the admin HTTP API.

Each takes a connection and a spec, validates it against the configuration, and returns
plain Structs; failures are `OpError`s with a message fit for the operator.
"""

from __future__ import annotations

import math

import msgspec

from server.periods import PeriodError, normalize
from server.settings import Settings
from server.store import budgets as budget_store
from server.store import keys as key_store
from server.store import teams as team_store

Positive = msgspec.Meta(ge=1)


class OpError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


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


# Sane upper bounds: far above any real site's needs, and well inside what SQLite's 64-bit
# integers and the budget arithmetic hold (a larger value is a typo or an attack: 400).
MAX_RPM = 10**9
MAX_TPM = 10**12
MAX_BUDGET_TOKENS = 10**15
MAX_BUDGET_USD = 10**9
MAX_EXPIRES_AT = 253402300799.0  # 9999-12-31T23:59:59Z


def _check_limits(usd: float | None, tokens: int | None, period: str) -> str:
    if usd is not None and usd < 0:
        raise OpError("a budget in USD cannot be negative")
    if usd is not None and not usd <= MAX_BUDGET_USD:  # also NaN
        raise OpError(f"a budget in USD must be at most {MAX_BUDGET_USD:,}")
    _count("a token budget", tokens, MAX_BUDGET_TOKENS)
    try:
        return normalize(period)
    except PeriodError as exc:
        raise OpError(str(exc)) from None


def _count(name: str, value: int | None, high: int) -> None:
    if value is not None and value < 1:
        raise OpError(f"{name} must be at least 1")
    if value is not None and value > high:
        raise OpError(f"{name} must be at most {high:,}")


def create_key(conn, settings: Settings, spec: KeySpec) -> key_store.CreatedKey:
    unknown = sorted(set(spec.models or []) - set(settings.models))
    if unknown:
        raise OpError(f"unknown models: {', '.join(unknown)} "
                      f"(configured: {', '.join(sorted(settings.models)) or 'none'})")
    _count("rpm", spec.rpm, MAX_RPM)
    _count("tpm", spec.tpm, MAX_TPM)
    if spec.expires_at is not None and not (math.isfinite(spec.expires_at) and 0 <= spec.expires_at <= MAX_EXPIRES_AT):
        raise OpError("expires_at must be a Unix time before the year 10000")
    if spec.guardrails and spec.guardrails not in settings.guardrails.policies:
        raise OpError(f"no guardrail policy '{spec.guardrails}' in [guardrails.policies] "
                      f"(configured: {', '.join(sorted(settings.guardrails.policies)) or 'none'})")
    period = _check_limits(spec.budget_usd, spec.budget_tokens, spec.period)
    team_id = None
    if spec.team:
        team_id = _team(conn, spec.team).id
    try:
        with conn:
            created = key_store.create_key(conn, spec.name, models=spec.models, expires_at=spec.expires_at,
                                           team_id=team_id, rpm=spec.rpm, tpm=spec.tpm,
                                           allow_cloud=spec.allow_cloud, sensitive=spec.sensitive,
                                           guardrails=spec.guardrails, log_bodies=spec.log_bodies)
            if spec.budget_usd is not None or spec.budget_tokens is not None:
                budget_store.set_budget(conn, "key", created.info.id, usd=spec.budget_usd,
                                        tokens=spec.budget_tokens, period=period,
                                        soft_pct=settings.budgets.soft_pct)
    except key_store.KeyError_ as exc:
        raise OpError(str(exc), 409) from None
    return created


def _team(conn, ref: str) -> team_store.TeamInfo:
    try:
        return team_store.get_team(conn, ref)
    except key_store.KeyError_ as exc:
        raise OpError(str(exc), 404) from None


def _key(conn, ref: str) -> key_store.KeyInfo:
    try:
        return key_store.get_key(conn, ref)
    except key_store.KeyError_ as exc:
        raise OpError(str(exc), 404) from None


def create_team(conn, settings: Settings, spec: TeamSpec) -> team_store.TeamInfo:
    period = _check_limits(spec.budget_usd, spec.budget_tokens, spec.period)
    try:
        with conn:
            team = team_store.create_team(conn, spec.name)
            if spec.budget_usd is not None or spec.budget_tokens is not None:
                budget_store.set_budget(conn, "team", team.id, usd=spec.budget_usd, tokens=spec.budget_tokens,
                                        period=period, soft_pct=settings.budgets.soft_pct)
    except key_store.KeyError_ as exc:
        raise OpError(str(exc), 409) from None
    return team


def set_budget(conn, settings: Settings, spec: BudgetSpec) -> list[budget_store.BudgetStatus]:
    if spec.scope not in ("key", "team"):
        raise OpError("scope must be 'key' or 'team'")
    if spec.usd is None and spec.tokens is None:
        raise OpError("give a limit in USD, in tokens, or both")
    period = _check_limits(spec.usd, spec.tokens, spec.period)
    soft = settings.budgets.soft_pct if spec.soft_pct is None else spec.soft_pct
    if not 0 < soft <= 1:  # also false for NaN
        raise OpError("the soft threshold must be in (0, 1]")
    owner = _key(conn, spec.owner).id if spec.scope == "key" else _team(conn, spec.owner).id
    budget_store.set_budget(conn, spec.scope, owner, usd=spec.usd, tokens=spec.tokens, period=period, soft_pct=soft)
    return budget_store.status(conn)


def remove_budget(conn, scope: str, ref: str) -> None:
    owner = _key(conn, ref).id if scope == "key" else _team(conn, ref).id
    if not budget_store.remove_budget(conn, scope, owner):
        raise OpError(f"{scope} '{ref}' has no budget", 404)


def set_rate_limits(conn, ref: str, rpm: int | None, tpm: int | None) -> key_store.KeyInfo:
    _count("rpm", rpm, MAX_RPM)
    _count("tpm", tpm, MAX_TPM)
    _key(conn, ref)
    return key_store.set_limits(conn, ref, rpm=rpm, tpm=tpm)
