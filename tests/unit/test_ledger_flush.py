"""flush() returns only when every row added before it is in the file, also the rows the
background task is writing at that moment (/metrics and the admin API flush, then read)."""

from __future__ import annotations

import asyncio
import threading

from server.store import db
from server.store import ledger as ledger_store
from server.store.ledger_writer import LedgerWriter
from tests.unit.test_store import row


async def test_flush_waits_for_the_batch_being_written(tmp_path):
    path = tmp_path / "gate.db"
    writer = LedgerWriter(db.connect(path), flush_interval_ms=60_000, batch_size=1)
    writer.start()
    release = threading.Event()
    # Hold the writer's thread, so the background task's batch waits in its queue.
    held = asyncio.ensure_future(writer.run_in_thread(lambda conn: release.wait(10)))
    writer.add(row(1))  # a full batch: the background task takes it off the pending list
    for _ in range(20):
        await asyncio.sleep(0)
    assert not writer._pending  # in flight: flush() has nothing of its own to write
    threading.Timer(0.2, release.set).start()
    await writer.flush()
    assert ledger_store.count_rows(db.connect(path)) == 1
    await held
    await writer.close()
