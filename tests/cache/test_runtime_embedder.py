"""Serving only loads the embedder: the conversion is a set-up step (scripts/build-embedder).

A real Cache on a real SQLite file, with GATE_MODELS_DIR pointing at an empty folder: the
semantic cache goes off with a notice that names the command, nothing is converted or
written there, and the exact cache still serves.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from server.cache import entries
from server.cache.service import Cache
from server.core.settings import CacheSettings
from server.store import db


class _Plan:
    def __init__(self, exact: bytes) -> None:
        self.exact = exact


async def test_a_missing_embedder_is_not_built_at_run_time(tmp_path: Path, monkeypatch) -> None:
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("GATE_MODELS_DIR", str(models))
    path = tmp_path / "gate.db"
    db.connect(path).close()  # migrations applied, as `gate serve` does before the cache starts
    cache = Cache(CacheSettings(), str(path), busy_timeout_ms=5000)
    await cache.start()
    try:
        await asyncio.wait_for(cache._load, 120)
        assert list(models.iterdir()) == []  # no conversion into the models folder
        assert not cache.semantic
        assert cache.semantic_error is not None
        assert "semantic cache off" in cache.semantic_error
        assert "scripts/build-embedder" in cache.semantic_error
        assert "python -m cli.tools.gguf_convert" in cache.semantic_error
        # The exact cache is unaffected: an answer kept through the cache's thread is found
        # again by its hash.
        now = time.time()
        key = b"\x01" * 32
        cache.remember(entries.NewEntry("p", key, "team", "local", "chat", "What is 2+2?", "4", "stop",
                                      "m", 5, 1, now, now + 60), None)
        await cache.prune()  # runs on the same single thread, after the write
        conn = db.connect(path, migrate=False)
        try:
            hit = cache.exact(conn, _Plan(key), now)
        finally:
            conn.close()
        assert hit is not None and hit.answer == "4"
    finally:
        await cache.close()
