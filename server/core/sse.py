"""Server-sent events: a small incremental decoder and the encoders the gateway needs."""

from __future__ import annotations

DONE = b"[DONE]"


class SSEDecoder:
    """Feed bytes as they arrive; get back the complete events' data payloads.

    Handles \\n and \\r\\n line ends, multi-line data fields, comments and events split
    across reads. Fields other than `data` are ignored (OpenAI streams use none).
    """

    __slots__ = ("_buf", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        events: list[bytes] = []
        buf = self._buf + chunk
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            line = buf[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data))
                    self._data = []
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
        self._buf = buf[start:]
        return events

    def finish(self) -> list[bytes]:
        """Whatever complete data is left when the stream ends without a blank line."""
        events = self.feed(b"\n\n") if self._buf or self._data else []
        self._buf = b""
        return events


def event(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


DONE_EVENT = event(DONE)
