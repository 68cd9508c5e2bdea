"""Batched writes of traces and metrics off the hot path.

Each request's ledger row is written on the request path, with its settlement, before its
answer ends (server/pipeline/record.py); it reaches this writer already written, for the
metrics it adds. Traces wait in memory: a background task hands a batch to a dedicated
thread every `flush_interval_ms` (or sooner when `batch_size` rows wait); the thread writes
it in one transaction on its own connection. `close()` flushes what is left, so a clean
shutdown loses nothing. A row whose write failed on the request path comes with its
settlement (`settle`), and the thread writes both, in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import apsw

from server.store import traces as trace_store
from server.store.ledger import LedgerRow, insert_rows

log = logging.getLogger("gate.ledger")


def settle_in_savepoint(conn: apsw.Connection, row: LedgerRow, settle: Callable[[apsw.Connection], list]) -> list:
    """A request's settlement in a savepoint: one that fails alone still leaves its row (a
    busy file is the caller's to retry)."""
    try:
        with conn:
            return settle(conn)
    except apsw.BusyError:
        raise
    except apsw.Error as exc:
        log.error("request %s: cannot settle its limits: %s", row.request_id, exc)
        return []


class LedgerWriter:
    def __init__(self, conn: apsw.Connection, *, flush_interval_ms: int, batch_size: int) -> None:
        self._conn = conn
        self._interval = flush_interval_ms / 1000
        self._batch_size = batch_size
        self._pending: list[LedgerRow] = []
        self._unwritten: list[tuple[LedgerRow, Callable[[apsw.Connection], list] | None]] = []
        self.on_events: Callable[[list], None] | None = None  # budget alerts from a retried settle
        self._traces: list[trace_store.Trace] = []
        self.exporters: list = []  # called with each written batch of traces (OTLP)
        # Called with each batch (its connection, rows and their traces) inside the batch's
        # transaction: the metrics' counts (server/observe/metrics.py write_batch, set by the state).
        self.on_batch: Callable[[apsw.Connection, list[LedgerRow], list], None] | None = None
        self._wake = asyncio.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-ledger")
        self._task: asyncio.Task | None = None
        self._closed = False
        self.written = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gate-ledger-writer")

    def add(self, row: LedgerRow, trace: trace_store.Trace | None = None, *, written: bool = False,
            settle: Callable[[apsw.Connection], list] | None = None) -> None:
        """A finished request's row (`written`: already in the file) and trace; `settle`
        turns its reservations into spend, for a row not written yet."""
        self._pending.append(row)
        if not written:
            self._unwritten.append((row, settle))
        if trace is not None:
            self._traces.append(trace)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Return when every row added so far is in the file."""
        loop = asyncio.get_running_loop()
        while self._pending or self._traces:
            batch, self._pending = self._pending, []
            traces, self._traces = self._traces, []
            unwritten, self._unwritten = self._unwritten, []
            events = await loop.run_in_executor(self._pool, self._write, batch, traces, unwritten)
            if events and self.on_events is not None:
                self.on_events(events)
        # The background task may have taken a batch that its thread is still writing: the
        # thread is the pool's only one, so a no-op queued behind it returns after that write.
        if not self._closed:
            await loop.run_in_executor(self._pool, int)

    def _write(self, batch: list[LedgerRow], traces: list[trace_store.Trace],
               unwritten: list[tuple[LedgerRow, Callable | None]]) -> list:
        events: list = []
        for attempt in range(5):
            try:
                with self._conn:
                    events = []
                    for row, settle in unwritten:
                        if settle is not None:
                            events += settle_in_savepoint(self._conn, row, settle)
                    insert_rows(self._conn, [row for row, _ in unwritten])
                    trace_store.insert(self._conn, traces)
                    if self.on_batch is not None:
                        self.on_batch(self._conn, batch, self._paired(batch, traces))
                self.written += len(unwritten)
                break
            except apsw.BusyError:
                log.warning("ledger write busy (attempt %d), retrying", attempt + 1)
        else:
            log.error("ledger: %d rows and %d traces could not be written: database busy",
                      len(unwritten), len(traces))
        for export in self.exporters:
            export(traces)
        return events

    @staticmethod
    def _paired(batch: list[LedgerRow], traces: list[trace_store.Trace]) -> list[trace_store.Trace | None]:
        by_id = {t.request_id: t for t in traces}
        return [by_id.get(r.request_id) for r in batch]

    async def run_in_thread(self, fn, *args):
        """Run `fn(conn, *args)` on the writer's thread and connection (housekeeping)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, self._conn, *args)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()
        self._closed = True
        self._pool.shutdown(wait=True)
