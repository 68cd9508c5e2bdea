"""What bundle operations report while they hash, pack or extract: bytes per file.

The CLI draws Rich progress bars from it; this package never imports Rich.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def phase(self, label: str, total_bytes: int) -> None:
        """A pass over `total_bytes` starts (hashing, packing, verifying, extracting)."""

    def file(self, name: str, size: int) -> None:
        """The next file of the pass starts."""

    def advance(self, n: int) -> None:
        """`n` more bytes of the current file are done."""

    def done(self) -> None:
        """The pass is over."""


class Silent:
    def phase(self, label: str, total_bytes: int) -> None:
        pass

    def file(self, name: str, size: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def done(self) -> None:
        pass
