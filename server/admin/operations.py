"""Every admin operation, once: the admin HTTP API and the CLI's local backend both call these.

Each takes a store connection (and the settings, to check names against the configuration)
or, for what only a running gateway knows, its `GatewayState`; the rest are plain arguments.
Each returns plain data (Structs, dicts, lists) and refuses with `Refused`.
"""

from __future__ import annotations

import math
import unicodedata
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec

from server.admin.refusal import Refused
from server.admin.specs import (MAX_BUDGET_TOKENS, MAX_BUDGET_USD, MAX_EXPIRES_AT, MAX_NAME, MAX_RPM, MAX_TPM,
                                BudgetSpec, KeySpec, TeamSpec)
from server.cache import entries as cache_store
from server.core.periods import PeriodError, normalize
from server.core.settings import Settings
from server.observe.stats import window_stats
from server.store import budgets as budget_store
from server.store import keys as key_store
from server.store import ledger as ledger_store
from server.store import provider_health
from server.store import teams as team_store
from server.store import traces as trace_store

if TYPE_CHECKING:
    from server.runtime.state import GatewayState

TRACE_NOT_FOUND = "trace_not_found"  # the error code of a request whose trace is not stored (yet)

# -- checks ----------------------------------------------------------------------------

def _check_limits(usd: float | None, tokens: int | None, period: str) -> str:
    if usd is not None and usd < 0:
        raise Refused("a budget in USD cannot be negative")
    if usd is not None and not usd <= MAX_BUDGET_USD:  # also NaN
        raise Refused(f"a budget in USD must be at most {MAX_BUDGET_USD:,}")
    _count("a token budget", tokens, MAX_BUDGET_TOKENS)
    try:
        return normalize(period)
    except PeriodError as exc:
        raise Refused(str(exc)) from None


def _name(kind: str, name: str) -> None:
    """A key's or team's name is shown in tables, terminals and label values: one line of
    visible text. A newline would forge a row in `gate keys list`, an escape sequence would
    reach the admin's terminal, a zero-width or bidi character would make two names look alike."""
    if not name.strip():
        raise Refused(f"a {kind} name cannot be empty", param="name")
    if len(name) > MAX_NAME:
        raise Refused(f"a {kind} name has at most {MAX_NAME} characters", param="name")
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cf")), None)
    if bad is not None:
        raise Refused(f"a {kind} name cannot hold control or invisible characters "
                      f"(found U+{ord(bad):04X})", param="name")


def _count(name: str, value: int | None, high: int) -> None:
    if value is not None and value < 1:
        raise Refused(f"{name} must be at least 1")
    if value is not None and value > high:
        raise Refused(f"{name} must be at most {high:,}")


@contextmanager
def _refused(kind: str, code: str | None = None):
    """The store's StoreRefused (a name taken, an unknown id) as a refusal of this kind."""
    try:
        yield
    except key_store.StoreRefused as exc:
        raise Refused(str(exc), kind, code=code) from None


def _team(conn, ref: str) -> team_store.TeamInfo:
    with _refused("not_found"):
        return team_store.get_team(conn, ref)


def _key(conn, ref: str) -> key_store.KeyInfo:
    with _refused("not_found"):
        return key_store.get_key(conn, ref)


# -- keys and teams --------------------------------------------------------------------

def list_keys(conn) -> list[key_store.KeyInfo]:
    return key_store.list_keys(conn)


def create_key(conn, settings: Settings, spec: KeySpec) -> key_store.CreatedKey:
    _name("key", spec.name)
    unknown = sorted(set(spec.models or []) - set(settings.models))
    if unknown:
        raise Refused(f"unknown models: {', '.join(unknown)} "
                      f"(configured: {', '.join(sorted(settings.models)) or 'none'})")
    _count("rpm", spec.rpm, MAX_RPM)
    _count("tpm", spec.tpm, MAX_TPM)
    if spec.expires_at is not None and not (math.isfinite(spec.expires_at) and 0 <= spec.expires_at <= MAX_EXPIRES_AT):
        raise Refused("expires_at must be a Unix time before the year 10000")
    if spec.guardrails and spec.guardrails not in settings.guardrails.policies:
        raise Refused(f"no guardrail policy '{spec.guardrails}' in [guardrails.policies] "
                      f"(configured: {', '.join(sorted(settings.guardrails.policies)) or 'none'})")
    period = _check_limits(spec.budget_usd, spec.budget_tokens, spec.period)
    team_id = None
    if spec.team:
        team_id = _team(conn, spec.team).id
    with _refused("conflict"), conn:
        created = key_store.create_key(conn, spec.name, models=spec.models, expires_at=spec.expires_at,
                                       team_id=team_id, rpm=spec.rpm, tpm=spec.tpm,
                                       allow_cloud=spec.allow_cloud, sensitive=spec.sensitive,
                                       guardrails=spec.guardrails, log_bodies=spec.log_bodies)
        if spec.budget_usd is not None or spec.budget_tokens is not None:
            budget_store.set_budget(conn, "key", created.info.id, usd=spec.budget_usd,
                                    tokens=spec.budget_tokens, period=period,
                                    soft_pct=settings.budgets.soft_pct)
    return created


def show_key(conn, ref: str) -> key_store.KeyInfo:
    with _refused("not_found", "key_not_found"):
        return key_store.get_key(conn, ref)


def revoke_key(conn, ref: str) -> key_store.KeyInfo:
    with _refused("not_found", "key_not_found"):
        return key_store.revoke_key(conn, ref)


def rotate_key(conn, ref: str) -> key_store.CreatedKey:
    with _refused("not_found", "key_not_found"):  # a revoked key, too
        return key_store.rotate_key(conn, ref)


def set_rate_limits(conn, ref: str, rpm: int | None, tpm: int | None) -> key_store.KeyInfo:
    _count("rpm", rpm, MAX_RPM)
    _count("tpm", tpm, MAX_TPM)
    with _refused("not_found"):
        return key_store.set_limits(conn, ref, rpm=rpm, tpm=tpm)


def list_teams(conn) -> list[team_store.TeamInfo]:
    return team_store.list_teams(conn)


def create_team(conn, settings: Settings, spec: TeamSpec) -> team_store.TeamInfo:
    _name("team", spec.name)
    period = _check_limits(spec.budget_usd, spec.budget_tokens, spec.period)
    with _refused("conflict"), conn:
        team = team_store.create_team(conn, spec.name)
        if spec.budget_usd is not None or spec.budget_tokens is not None:
            budget_store.set_budget(conn, "team", team.id, usd=spec.budget_usd, tokens=spec.budget_tokens,
                                    period=period, soft_pct=settings.budgets.soft_pct)
    return team


# -- budgets ---------------------------------------------------------------------------

def budgets(conn) -> list[budget_store.BudgetStatus]:
    return budget_store.status(conn)


def set_budget(conn, settings: Settings, spec: BudgetSpec) -> list[budget_store.BudgetStatus]:
    if spec.scope not in ("key", "team"):
        raise Refused("scope must be 'key' or 'team'")
    if spec.usd is None and spec.tokens is None:
        raise Refused("give a limit in USD, in tokens, or both")
    period = _check_limits(spec.usd, spec.tokens, spec.period)
    soft = settings.budgets.soft_pct if spec.soft_pct is None else spec.soft_pct
    if not 0 < soft <= 1:  # also false for NaN
        raise Refused("the soft threshold must be in (0, 1]")
    owner = _key(conn, spec.owner).id if spec.scope == "key" else _team(conn, spec.owner).id
    budget_store.set_budget(conn, spec.scope, owner, usd=spec.usd, tokens=spec.tokens, period=period, soft_pct=soft)
    return budget_store.status(conn)


def remove_budget(conn, kind: str, ref: str) -> dict[str, bool]:
    """Remove the budget of key or team (`kind`) `ref`."""
    owner = _key(conn, ref).id if kind == "key" else _team(conn, ref).id
    if not budget_store.remove_budget(conn, kind, owner):
        raise Refused(f"{kind} '{ref}' has no budget", "not_found")
    return {"removed": True}


def events(conn, limit: int) -> list[budget_store.EventRow]:
    return budget_store.events(conn, limit)


# -- the ledger and traces -------------------------------------------------------------

def spend(conn, by: str, since: float | None) -> list[ledger_store.SpendLine]:
    try:
        return ledger_store.spend(conn, by, since)
    except ValueError as exc:  # an unknown grouping
        raise Refused(str(exc), param="by") from None


def recent(conn, limit: int) -> list[ledger_store.LedgerRow]:
    return ledger_store.fetch_rows(conn, limit=limit)


def traces(conn, limit: int, after: float | None) -> list[trace_store.Trace]:
    return trace_store.recent(conn, limit, after)


def trace(conn, request_id: str) -> trace_store.Trace:
    found = trace_store.get(conn, request_id)
    if found is None:
        raise Refused(f"no trace for request '{request_id}'", "not_found", code=TRACE_NOT_FOUND)
    return found


# -- the cache -------------------------------------------------------------------------

def cache_stats(conn) -> cache_store.CacheStats:
    return cache_store.stats(conn)


def cache_entries(conn, search: str | None, limit: int) -> list[cache_store.EntryInfo]:
    return cache_store.inspect(conn, search, limit)


def cache_clear(conn, alias: str | None) -> dict[str, int]:
    return {"removed": cache_store.clear(conn, alias)}


# -- providers -------------------------------------------------------------------------

async def check_providers(conn, settings: Settings) -> list[dict]:
    """A live check of the configured providers from this host, with what the gateways last
    published of them (breakers, counters)."""
    from server.providers.live_check import check_all
    from server.providers.registry import build_providers, new_session

    known = provider_health.latest(conn)
    session = new_session()
    try:
        return await check_all(build_providers(settings, session), known)
    finally:
        await session.close()


# -- what only a running gateway knows -------------------------------------------------

async def providers(state: GatewayState) -> list[dict]:
    """A live check of this worker's providers, with its breakers and counters."""
    from server.providers.live_check import check_all

    known = {row["name"]: row for row in state.health_rows()}
    return await check_all(state.providers, known)


def cache_status(state: GatewayState) -> dict[str, Any]:
    """The cache's counts, and whether its semantic half runs (and why not)."""
    stats = cache_store.stats(state.db)
    return {**msgspec.to_builtins(stats), "semantic": state.cache.semantic,
            "threshold": state.cache.threshold, "semantic_error": state.cache.semantic_error}


async def stats(state: GatewayState, window: int) -> dict[str, Any]:
    """Rates, latencies and counts of the last `window` seconds, for `gate top`."""
    body = await state.ledger.run_in_thread(lambda conn: window_stats(conn, window, state.started_at))
    body["config_error"] = state.config_error  # gate top's status bar shows it
    return body
