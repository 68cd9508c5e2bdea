"""A circuit breaker per provider: stop sending to a server that keeps failing.

closed    requests flow; consecutive failures are counted
open      after `failures` in a row: nothing is sent until `cooldown_s` has passed
half_open one probe request is let through; success closes, failure opens again
"""

from __future__ import annotations

import time


class Breaker:
    __slots__ = ("threshold", "cooldown_s", "state", "failures", "opened_at", "probing")

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.state = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False

    def allow(self, now: float | None = None) -> bool:
        if self.state == "closed":
            return True
        now = time.monotonic() if now is None else now
        if self.state == "open":
            if now - self.opened_at < self.cooldown_s:
                return False
            self.state = "half_open"
            self.probing = False
        if self.probing:
            return False
        self.probing = True
        return True

    def success(self) -> None:
        self.state, self.failures, self.probing = "closed", 0, False

    def failure(self, now: float | None = None) -> None:
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.threshold:
            self.trip(now)

    def trip(self, now: float | None = None) -> None:
        self.state = "open"
        self.opened_at = time.monotonic() if now is None else now
        self.probing = False

    def retry_in(self, now: float | None = None) -> float:
        if self.state != "open":
            return 0.0
        now = time.monotonic() if now is None else now
        return max(0.0, self.cooldown_s - (now - self.opened_at))
