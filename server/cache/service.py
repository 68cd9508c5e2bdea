"""The cache at run time: exact lookups on the event loop, everything heavier on one thread.

The thread owns its own SQLite connection, the embedder (all-MiniLM-L6-v2 in process) and
the in-memory copy of the bit vectors: a semantic lookup is one embedding, a bit-vector
search of the request's partition, a float rescoring of the best few, then the verifier.
Writes go through the same thread, off the request path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import apsw
import numpy as np

from server.cache import bitindex, entries
from server.cache.bitindex import BitIndex
from server.cache.policy import CachePlan
from server.core.settings import CacheSettings
from server.store import db

log = logging.getLogger("gate.cache")
# Semantic lookups waiting for the cache's thread beyond this are skipped (a miss), so an
# overload never turns into unbounded latency: one lookup costs 6-11 ms of one core.
MAX_WAITING = 4


class Similar(NamedTuple):
    entry: entries.Entry | None
    vector: np.ndarray | None
    skipped: str | None = None


class Cache:
    def __init__(self, settings: CacheSettings, db_path: str, busy_timeout_ms: int) -> None:
        self.settings = settings
        self._db_path = db_path
        self._busy = busy_timeout_ms
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-cache")
        self._conn: apsw.Connection | None = None
        self._embedder = None
        self._index: BitIndex | None = None
        self.semantic_error: str | None = None
        self._waiting = 0
        self._load: asyncio.Future | None = None

    @property
    def threshold(self) -> float:
        if self.settings.threshold is not None:
            return self.settings.threshold
        from server.cache.defaults import (
            DEFAULT_THRESHOLD,  # measured by scripts/eval-cache
        )

        return DEFAULT_THRESHOLD

    # -- life ---------------------------------------------------------------------
    async def start(self) -> None:
        self._load = asyncio.get_running_loop().run_in_executor(self._pool, self._open)

    def _open(self) -> None:
        self._conn = db.connect(self._db_path, busy_timeout_ms=self._busy, migrate=False)
        if not (self.settings.enabled and self.settings.semantic):
            return
        try:
            from server.cache.embedder import Embedder, built_path

            # Only loaded: the set-up converts it (scripts/build-embedder), serving never does.
            path = Path(self.settings.embedder) if self.settings.embedder else built_path()
            # One thread: the event loop needs the other core (two threads measured 10x slower
            # on a busy 2-core host).
            self._embedder = Embedder(path, n_threads=1)
        except (OSError, ValueError, RuntimeError, ImportError) as exc:
            self._off(f"cannot load the embedder ({exc})")
            return
        if self._embedder.dim != bitindex.DIM:  # the file's bit vectors are 384 wide
            self._off(f"the embedder {path.name} gives {self._embedder.dim} dimensions, the cache stores "
                      f"{bitindex.DIM} (all-MiniLM-L6-v2 and its kin)")
            return
        if self.settings.index == "memory":
            try:
                index = BitIndex()
                index.load(self._conn)
            except apsw.Error as exc:
                self._off(f"cannot read the cache's bit vectors ({exc})")
                return
            self._index = index

    def _off(self, why: str) -> None:
        self.semantic_error = f"semantic cache off: {why}"
        log.warning(self.semantic_error)
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None

    @property
    def semantic(self) -> bool:
        return self._embedder is not None

    async def close(self) -> None:
        if self._load is not None:
            await asyncio.gather(self._load, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._pool, self._close)
        self._pool.shutdown(wait=True)

    def _close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
        if self._conn is not None:
            self._conn.close()

    # -- lookups ------------------------------------------------------------------
    def exact(self, conn: apsw.Connection, plan: CachePlan, now: float) -> entries.Entry | None:
        return entries.exact(conn, plan.exact, now)

    async def similar(self, plan: CachePlan, now: float) -> Similar:
        """The best verified entry (or None), the query's vector for a later write, and why
        no lookup was made, if none was (for the trace)."""
        if self._load is not None and not self._load.done():
            await asyncio.shield(self._load)
        if self._embedder is None:
            return Similar(None, None)
        if self._waiting >= MAX_WAITING:
            return Similar(None, None, f"semantic lookup skipped: {MAX_WAITING} already waiting")
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._similar, plan, now)
        finally:
            self._waiting -= 1

    def _vector(self, text: str) -> np.ndarray | None:
        """The text's embedding, or None for a question over semantic_max_tokens."""
        tokens = self._embedder.tokenize(text)
        if len(tokens) > self.settings.semantic_max_tokens:
            return None
        return self._embedder.embed_tokens([tokens])[0]

    def _similar(self, plan: CachePlan, now: float) -> Similar:
        vector = self._vector(plan.query)
        if vector is None:
            return Similar(None, None, f"semantic lookup skipped: question over "
                                       f"{self.settings.semantic_max_tokens} tokens")
        if self._index is not None:
            self._index.sync(self._conn)
            ids = self._index.search(plan.partition, vector, entries.CANDIDATES)
            entry = entries.rescore(self._conn, ids, vector, now)
        else:
            entry = entries.nearest(self._conn, plan.partition, vector, now)
        threshold = plan.threshold or self.threshold
        if entry is None or entry.similarity < threshold:
            return Similar(None, vector)
        if self.settings.verify:
            from server.cache.verify import verify

            verdict = verify(plan.query, entry.query)
            if not verdict.ok:
                log.debug("semantic candidate rejected (%.3f): %s", entry.similarity, verdict.reason)
                return Similar(None, vector)
        entries.touch(self._conn, entry.id, now)
        return Similar(entry, vector)

    def touch(self, entry_id: int) -> None:
        self._pool.submit(self._touch, entry_id, time.time())

    def _touch(self, entry_id: int, now: float) -> None:
        try:
            entries.touch(self._conn, entry_id, now)
        except apsw.BusyError:
            pass  # a hit count is not worth waiting for

    # -- writes -------------------------------------------------------------------
    def remember(self, entry: entries.NewEntry, vector: np.ndarray | None) -> None:
        """Keep an answer; runs on the cache thread, never on the request path."""
        self._pool.submit(self._remember, entry, vector)

    def _remember(self, entry: entries.NewEntry, vector: np.ndarray | None) -> None:
        try:
            if vector is None and self._embedder is not None:
                vector = self._vector(entry.query)
            entries.put(self._conn, entry, vector)
        except apsw.Error as exc:
            log.error("cache write failed: %s", exc)

    async def prune(self) -> int:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: entries.prune(self._conn, time.time(), self.settings.max_entries))
