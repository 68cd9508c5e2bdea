"""Group commit of ledger rows and settlements, on the event loop, before the answers end.

A request that finishes hands its ledger row and its settlement (reservations becoming
spend) to `add`, and awaits the result before its answer's last byte goes out. Every
request that finishes in the same turn of the event loop is written in one short
transaction on the worker's connection, at the end of that turn: under load one commit
serves many requests; alone, a request pays one small transaction. So a client never holds
an answer the ledger and the budgets do not know of, whatever happens to the worker next.

Should the file stay locked past its busy timeout, the rows and their settlements go to the
ledger writer's thread, which retries them (the reservations keep counting meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import apsw

from server.store import traces as trace_store
from server.store.db import immediate
from server.store.ledger import LedgerRow, insert_row
from server.store.ledger_writer import LedgerWriter, settle_in_savepoint

log = logging.getLogger("gate.ledger")

Settle = Callable[[apsw.Connection], list]


class LedgerCommit:
    def __init__(self, conn: apsw.Connection, writer: LedgerWriter,
                 on_events: Callable[[list], None] | None = None) -> None:
        self._conn = conn
        self._writer = writer
        self._on_events = on_events
        self._items: list[tuple[LedgerRow, trace_store.Trace | None, Settle | None, asyncio.Future]] = []
        self.commits = 0

    def add(self, row: LedgerRow, trace: trace_store.Trace | None, settle: Settle | None) -> asyncio.Future:
        """Done once the row and the settlement are in the file (or handed on, on failure)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._items.append((row, trace, settle, done))
        if len(self._items) == 1:
            loop.call_soon(self.flush)
        return done

    def flush(self) -> None:
        items, self._items = self._items, []
        if not items:
            return
        events: list = []
        try:
            with immediate(self._conn):
                for row, _, settle, _ in items:
                    events += self._one(row, settle)
        except Exception as exc:  # locked past the busy timeout: the writer's thread retries
            log.error("cannot write %d ledger rows and settlements now (%s); retrying off the request path",
                      len(items), exc, exc_info=not isinstance(exc, apsw.Error))
            events = []
            for row, trace, settle, _ in items:
                self._writer.add(row, trace, settle=settle)
        else:
            self.commits += 1
            for row, trace, _, _ in items:
                self._writer.add(row, trace, written=True)
        finally:  # never leave an answer waiting
            for *_, done in items:
                if not done.done():
                    done.set_result(None)
        if events and self._on_events is not None:
            self._on_events(events)

    def _one(self, row: LedgerRow, settle: Settle | None) -> list:
        """One request, in a savepoint: a settlement that fails alone still leaves its row."""
        events = settle_in_savepoint(self._conn, row, settle) if settle is not None else []
        insert_row(self._conn, row)
        return events
