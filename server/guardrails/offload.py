"""Input checks on large texts run in a separate process, off the event loop, within a deadline.

The detectors are regexes plus Python validation; `re` holds the GIL, so a thread would not
free the event loop's core: a 3.6 MB body dense with phone numbers and e-mail addresses took
seconds of detection during which every other request on the worker waited. So:

- texts up to INLINE_CHARS in all are checked inline (a few ms at worst; most requests);
- larger ones go to one helper process per worker (spawned on first use, a pool of one), and
  the request awaits the verdict while the event loop serves everyone else;
- a check that takes longer than the policy's `scan_timeout_s` (queueing included) raises
  ScanTimeout (a RuntimeError: the policy's `fail` decides, closed by default: 503); the
  helper is killed with everything queued on it, and the next large text starts a fresh one.

The helper rebuilds the policy's `Guard` from the policy itself (a msgspec Struct) once and
keeps it; only the texts and the verdict cross the process boundary.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from multiprocessing.pool import Pool

import msgspec

from server.core.errors import GateError
from server.core.settings_guardrails import GuardrailPolicy
from server.guardrails.base import INLINE_CHARS
from server.guardrails.runtime import Guard, InputVerdict, inspect_input



class ScanTimeout(GateError, RuntimeError):
    """The input check did not finish within the policy's scan_timeout_s."""


# -- in the helper process ---------------------------------------------------------------

def _quiet() -> None:
    """The helper leaves Ctrl-C to the gateway, which stops it (it would print a traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_GUARDS: dict[tuple[bytes, str], Guard] = {}


def _inspect_in_helper(policy: GuardrailPolicy, name: str, texts: list[str], user: list[bool]) -> InputVerdict:
    key = (msgspec.json.encode(policy), name)
    guard = _GUARDS.get(key)
    if guard is None:
        if len(_GUARDS) > 32:  # policies change on reload: keep only recent ones
            _GUARDS.clear()
        guard = _GUARDS[key] = Guard(policy, name)
    return inspect_input(guard, texts, user)


# -- in the worker -----------------------------------------------------------------------------

class Offload:
    """One worker's helper process and the checks waiting on it."""

    def __init__(self, inline_chars: int = INLINE_CHARS) -> None:
        self.inline_chars = inline_chars
        self._pool: Pool | None = None
        self._waiting: dict[asyncio.Future, Pool] = {}

    async def inspect(self, guard: Guard, texts: list[str], user: list[bool]) -> InputVerdict:
        if sum(map(len, texts)) <= self.inline_chars:
            return inspect_input(guard, texts, user)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[InputVerdict] = loop.create_future()

        def settle(value: object, failed: bool) -> None:
            if not future.done():
                if failed:
                    future.set_exception(value)  # type: ignore[arg-type]
                else:
                    future.set_result(value)  # type: ignore[arg-type]

        def from_pool(value: object, failed: bool) -> None:  # on the pool's result thread
            try:
                loop.call_soon_threadsafe(settle, value, failed)
            except RuntimeError:
                pass  # the loop is closed: nobody waits any more

        pool = self._helper()
        pool.apply_async(
            _inspect_in_helper, (guard.policy, guard.name, texts, user),
            callback=lambda v: from_pool(v, False), error_callback=lambda e: from_pool(e, True))
        self._waiting[future] = pool
        timeout = guard.policy.scan_timeout_s
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._waiting.pop(future, None)  # before the kill, which fails whatever still waits
            self._kill(pool)
            raise ScanTimeout(f"the input check took longer than {timeout:g} s") from None
        finally:
            self._waiting.pop(future, None)

    def _helper(self) -> Pool:
        if self._pool is None:
            # spawn: the worker has threads (the ledger, llama.cpp); fork would copy their locks.
            self._pool = multiprocessing.get_context("spawn").Pool(processes=1, initializer=_quiet)
        return self._pool

    def _kill(self, pool: Pool) -> None:
        """Stop a helper stuck on a check, and fail every check queued behind it."""
        if self._pool is pool:
            self._pool = None
        for future, on in list(self._waiting.items()):
            if on is pool and not future.done():
                future.set_exception(ScanTimeout("the input check was stopped with a slower one queued before it"))
        # terminate() joins the helper and the pool's threads: not on the event loop.
        asyncio.get_running_loop().run_in_executor(None, pool.terminate)


OFFLOAD = Offload()
