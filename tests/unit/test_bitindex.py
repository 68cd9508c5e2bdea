"""The in-memory copy of the cache's bit vectors: same answers as a brute-force Hamming search
and as sqlite-vec, and it follows what other connections (other workers) write and delete."""

from __future__ import annotations

import time

import numpy as np
import pytest

from server.cache import bitindex, entries
from server.cache.bitindex import BitIndex, quantize
from server.store import db

FAR = 4e9


@pytest.fixture
def conns(tmp_path):
    a, b = db.connect(tmp_path / "gate.db"), db.connect(tmp_path / "gate.db")
    yield a, b
    a.close()
    b.close()


def unit(rng, n=1):
    v = rng.standard_normal((n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def put(conn, n: int, vector, partition="p", expires_at=FAR) -> int:
    return entries.put(conn, entries.NewEntry(partition, n.to_bytes(8, "big"), "s", "a", "chat", f"q{n}", f"a{n}",
                                          "stop", "m", 1, 1, time.time(), expires_at), vector)


def hamming(a: bytes, b: bytes) -> int:
    return int(np.bitwise_count(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())


def test_quantize_packs_bits_like_sqlite_vec(conns):
    v = unit(np.random.default_rng(1))[0]
    assert quantize(v) == conns[0].execute("SELECT vec_quantize_binary(?)", (v.tobytes(),)).fetchone()[0]


def test_a_file_from_before_the_bits_gets_them(tmp_path, monkeypatch):
    import server.store.db as dbmod
    from server.store.migrations import MIGRATIONS

    names = [n for n, _ in MIGRATIONS]
    monkeypatch.setattr(dbmod, "MIGRATIONS", MIGRATIONS[: names.index("0012_cache_bit_log")])
    old = dbmod.connect(tmp_path / "gate.db")
    v = unit(np.random.default_rng(9))[0]
    old.execute("INSERT INTO cache_entries(partition, exact, scope, alias, op, query, answer, embedding, "
                "created_at, expires_at) VALUES ('p', x'01', 's', 'a', 'chat', 'q', 'a', ?, 0, ?)", (v.tobytes(), FAR))
    old.close()
    monkeypatch.setattr(dbmod, "MIGRATIONS", MIGRATIONS)
    conn = dbmod.connect(tmp_path / "gate.db")
    assert conn.execute("SELECT bits FROM cache_entries").fetchone()[0] == quantize(v)
    index = BitIndex()
    index.load(conn)
    assert len(index.search("p", v, 16)) == 1
    conn.close()


def test_search_finds_the_true_hamming_neighbours_like_vec0(conns):
    conn, _ = conns
    rng = np.random.default_rng(2)
    vecs = unit(rng, 3000)
    for i, v in enumerate(vecs):
        put(conn, i, v, partition="p" if i % 3 else "other")
    index = BitIndex()
    index.load(conn)
    assert len(index) == 3000
    bits = {r[0]: r[1] for r in conn.execute("SELECT id, bits FROM cache_entries WHERE partition = 'p'")}
    for q in unit(rng, 20):
        got = index.search("p", q, 16)
        qb = quantize(q)
        truth = sorted(hamming(qb, b) for b in bits.values())
        dists = [hamming(qb, bits[i]) for i in got]
        assert set(got) <= set(bits)  # never another partition's entry
        assert 16 <= len(got) <= 32 and max(dists) == truth[15]
        # sqlite-vec's own KNN over the same bits: the same distances
        vec0 = [r[0] for r in conn.execute(
            "SELECT rowid FROM cache_bits WHERE embedding MATCH vec_quantize_binary(?) AND k = 16 AND partition = 'p'",
            (q.tobytes(),))]
        assert sorted(hamming(qb, bits[i]) for i in vec0) == truth[:16]
    assert index.search("nobody", vecs[0], 16) == []


def test_a_small_partition_returns_all_and_the_entry_itself_rescores_to_one(conns):
    conn, _ = conns
    rng = np.random.default_rng(3)
    vecs = unit(rng, 5)
    ids = [put(conn, i, v) for i, v in enumerate(vecs)]
    index = BitIndex()
    index.load(conn)
    got = index.search("p", vecs[2], 16)
    assert sorted(got) == sorted(ids)
    entry = entries.rescore(conn, got, vecs[2], time.time())
    assert entry.id == ids[2] and entry.similarity == pytest.approx(1.0, abs=1e-5)


def test_follows_inserts_and_deletes_from_another_worker(conns):
    mine, other = conns
    rng = np.random.default_rng(4)
    index = BitIndex()
    index.load(mine)
    assert len(index) == 0
    vecs = unit(rng, 40)
    ids = [put(other, i, v) for i, v in enumerate(vecs)]
    index.sync(mine)
    assert len(index) == 40 and ids[7] in index.search("p", vecs[7], 4)
    # A replaced answer (same exact key), an expired one pruned, a clear by alias.
    replacement = put(other, 7, vecs[8])
    index.sync(mine)
    assert len(index) == 40 and ids[7] not in index.search("p", vecs[7], 40)
    assert replacement in index.search("p", vecs[8], 2)
    put(other, 100, vecs[9], expires_at=1.0)
    entries.prune(other, time.time(), 1000)
    index.sync(mine)
    assert len(index) == 40
    entries.clear(other, "a")
    index.sync(mine)
    assert len(index) == 0 and index.search("p", vecs[0], 16) == []
    assert index.reloads == 1  # all of that by the log, no reload


def test_a_reused_id_is_not_lost(conns):
    mine, other = conns
    rng = np.random.default_rng(5)
    vecs = unit(rng, 3)
    first = put(other, 1, vecs[0])
    last = put(other, 2, vecs[1])
    index = BitIndex()
    index.load(mine)
    entries.clear(other)  # the highest id is gone, so SQLite hands it out again
    reused = put(other, 3, vecs[2])
    assert reused in (first, last)
    index.sync(mine)
    assert index.search("p", vecs[2], 16) == [reused]


def test_a_copy_behind_a_trimmed_log_reloads(conns):
    mine, other = conns
    rng = np.random.default_rng(6)
    vecs = unit(rng, 30)
    index = BitIndex()
    index.load(mine)
    for i, v in enumerate(vecs):
        put(other, i, v)
    bitindex.trim_log(other, keep=5)
    index.sync(mine)
    assert index.reloads == 2 and len(index) == 30
    assert sorted(index.search("p", vecs[0], 30)) == sorted(r[0] for r in mine.execute("SELECT id FROM cache_entries"))
    put(other, 99, unit(rng)[0])
    index.sync(mine)
    assert index.reloads == 2 and len(index) == 31


def test_a_big_clear_reloads_instead_of_deleting_one_by_one(conns, monkeypatch):
    mine, other = conns
    monkeypatch.setattr(bitindex, "RELOAD_AFTER", 10)
    rng = np.random.default_rng(8)
    vecs = unit(rng, 12)
    index = BitIndex()
    index.load(mine)
    for i, v in enumerate(vecs[:8]):
        put(other, i, v)
    index.sync(mine)
    assert index.reloads == 1 and len(index) == 8  # 8 changes: applied one by one
    entries.clear(other)
    put(other, 50, vecs[11])
    index.sync(mine)
    assert index.reloads == 1 and len(index) == 1  # 8 deletes and an insert: still by the log
    for i, v in enumerate(vecs):
        put(other, 100 + i, v)
    index.sync(mine)
    assert index.reloads == 2 and len(index) == 13  # 12 at once: a reload
    assert index.search("p", vecs[11], 1)[0] in {r[0] for r in mine.execute("SELECT id FROM cache_entries")}


def test_many_ties_are_cut_to_k(conns):
    conn, _ = conns
    v = unit(np.random.default_rng(7))[0]
    for i in range(100):
        put(conn, i, v)  # 100 entries at distance 0
    index = BitIndex()
    index.load(conn)
    assert len(index.search("p", v, 16)) == 16
