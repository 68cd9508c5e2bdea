"""The semantic cache's bit vectors in memory: a Hamming search of 100k entries in ~0.7 ms.

sqlite-vec's vec0 scan of 100k bit vectors costs 3-7 ms (in memory / from the file), most of
the 5 ms a semantic lookup may take, so each worker keeps a copy of the bit vectors in numpy
arrays: per partition, one contiguous uint64 column per 64 bits, so the distance to the query
is six XORs, six popcounts and six adds over contiguous memory (~0.5 ms at 100k), and the
best candidates come from a histogram of the distances (no sort).

The SQLite file stays the truth. Every worker writes entries; a trigger appends each
insert and delete of a semantic entry to `cache_log` (AUTOINCREMENT, so sequence numbers are
never reused), and `sync()` applies the log past the last sequence this copy has seen, in one
read snapshot. A copy that fell behind a trimmed log reloads from `cache_entries`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apsw
import numpy as np

DIM = 384
WORDS = DIM // 64
# Log rows kept for workers that fell behind (trimmed with the cache's housekeeping); one
# further behind reloads everything (0.1-0.4 s at 100k, on the cache's thread).
LOG_KEEP = 20_000
# More changes than this at once (a clear, a prune of many entries) reload instead: a delete
# scans its partition's ids, and a few thousand of them cost what a reload does.
RELOAD_AFTER = 2_000


def quantize(vector: np.ndarray) -> bytes:
    """The sign bits of a float vector, as sqlite-vec's vec_quantize_binary packs them."""
    return np.packbits(vector > 0, bitorder="little").tobytes()


@dataclass(slots=True)
class _Partition:
    ids: np.ndarray = field(default_factory=lambda: np.empty(16, np.int64))
    cols: np.ndarray = field(default_factory=lambda: np.empty((WORDS, 16), np.uint64))
    n: int = 0

    @classmethod
    def of(cls, ids: list[int], blobs: list[bytes]) -> _Partition:
        n = len(ids)
        cap = max(16, n)
        part = cls(np.empty(cap, np.int64), np.empty((WORDS, cap), np.uint64), n)
        part.ids[:n] = ids
        part.cols[:, :n] = np.frombuffer(b"".join(blobs), dtype=np.uint64).reshape(n, WORDS).T
        return part

    def add(self, entry_id: int, words: np.ndarray) -> None:
        if self.n == len(self.ids):
            cap = 2 * len(self.ids)
            self.ids = np.resize(self.ids, cap)
            cols = np.empty((WORDS, cap), np.uint64)
            cols[:, : self.n] = self.cols[:, : self.n]
            self.cols = cols
        self.ids[self.n] = entry_id
        self.cols[:, self.n] = words
        self.n += 1

    def remove(self, entry_id: int) -> bool:
        hit = np.flatnonzero(self.ids[: self.n] == entry_id)
        if not len(hit):
            return False
        slot, last = int(hit[0]), self.n - 1
        self.ids[slot] = self.ids[last]
        self.cols[:, slot] = self.cols[:, last]
        self.n = last
        return True

    def search(self, words: np.ndarray, k: int, scratch: _Scratch) -> list[int]:
        n = self.n
        if n <= k:
            return self.ids[:n].tolist()
        tmp, counts, dist = scratch.get(n)
        cols = self.cols
        dist.fill(0)
        for w in range(WORDS):
            np.bitwise_xor(cols[w, :n], words[w], out=tmp)
            np.bitwise_count(tmp, out=counts)
            np.add(dist, counts, out=dist)
        # The k-th smallest distance from a histogram, then everything within it.
        cut = int(np.searchsorted(np.cumsum(np.bincount(dist, minlength=DIM + 1)), k))
        picked = np.flatnonzero(dist <= cut)
        if len(picked) > 2 * k:  # many ties at the cut: keep the k nearest
            picked = picked[np.argpartition(dist[picked], k)[:k]]
        return self.ids[picked].tolist()


class _Scratch:
    """Work arrays reused by every search (one thread searches), grown to the largest partition."""

    def __init__(self) -> None:
        self._size = 0
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] = ()  # type: ignore[assignment]

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if n > self._size:
            self._size = max(n, 2 * self._size)
            self._arrays = (np.empty(self._size, np.uint64), np.empty(self._size, np.uint8),
                            np.empty(self._size, np.uint16))
        return tuple(a[:n] for a in self._arrays)  # type: ignore[return-value]


class BitIndex:
    """Not thread-safe: the cache's one thread loads, syncs and searches it."""

    def __init__(self) -> None:
        self._parts: dict[str, _Partition] = {}
        self._scratch = _Scratch()
        self.seq = 0
        self.reloads = 0

    def __len__(self) -> int:
        return sum(p.n for p in self._parts.values())

    def load(self, conn: apsw.Connection) -> None:
        """Everything from the file, and the log position it corresponds to (one snapshot)."""
        with conn:  # a read transaction: entries and log position agree
            seq = conn.execute("SELECT coalesce(max(seq), 0) FROM cache_log").fetchone()[0]
            rows = conn.execute("SELECT id, partition, bits FROM cache_entries WHERE bits IS NOT NULL").fetchall()
        groups: dict[str, tuple[list[int], list[bytes]]] = {}
        for entry_id, partition, bits in rows:
            ids, blobs = groups.setdefault(partition, ([], []))
            ids.append(entry_id)
            blobs.append(bits)
        self._parts = {p: _Partition.of(ids, blobs) for p, (ids, blobs) in groups.items()}
        self.seq = seq
        self.reloads += 1

    def sync(self, conn: apsw.Connection) -> None:
        """Apply what every worker wrote since the last sync: one indexed range read."""
        rows = conn.execute("SELECT seq, id, partition, bits FROM cache_log WHERE seq > ? ORDER BY seq LIMIT ?",
                            (self.seq, RELOAD_AFTER + 1)).fetchall()
        if not rows:
            return
        if rows[0][0] != self.seq + 1 or len(rows) > RELOAD_AFTER:  # trimmed past us, or a big change
            self.load(conn)
            return
        for seq, entry_id, partition, bits in rows:
            if bits is None:
                self._remove(entry_id, partition)
            else:
                self._add(entry_id, partition, bits)
            self.seq = seq

    def search(self, partition: str, vector: np.ndarray, k: int) -> list[int]:
        """Ids of about k entries of the partition nearest to vector in Hamming distance."""
        part = self._parts.get(partition)
        if part is None:
            return []
        words = np.frombuffer(quantize(vector), dtype=np.uint64)
        return part.search(words, k, self._scratch)

    def _add(self, entry_id: int, partition: str, bits: bytes) -> None:
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition()
        part.add(entry_id, np.frombuffer(bits, dtype=np.uint64))

    def _remove(self, entry_id: int, partition: str) -> None:
        part = self._parts.get(partition)
        if part is not None and part.remove(entry_id) and part.n == 0:
            del self._parts[partition]


def trim_log(conn: apsw.Connection, keep: int = LOG_KEEP) -> None:
    conn.execute("DELETE FROM cache_log WHERE seq <= (SELECT max(seq) FROM cache_log) - ?", (keep,))
