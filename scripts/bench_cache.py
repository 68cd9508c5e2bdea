"""The cache's speed: an exact hit through a real gateway, and a semantic lookup at 100k.

    scripts/bench cache [--entries N] [--json]

1. Exact hit: `gate serve` (cache on) pinned to one core and a fast fake upstream; one
   request fills the cache, then N identical requests are hits. Reported: the hit's latency
   at concurrency 1 against a direct request to the upstream (what a hit adds is all of it:
   no upstream is called).
2. Semantic lookup at 100k entries, in process on one core: 100k unit vectors in one
   partition (as the cache stores them: sign bits and float32 in the file, bits also in
   sqlite-vec's vec0), then N questions: embed (all-MiniLM-L6-v2 GGUF) + the in-memory bit
   search + float rescoring, as the cache's thread does; vec0's search is timed beside it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Distinct questions of the kind a help desk gets (3 to 16 words); each one is embedded
# for real, nothing is memoised, so repeats cost as much as the first time.
QUESTIONS = [
    "How do I reset my password?", "Where can I see my invoices?", "What is the VPN address?",
    "How many vacation days do I have left?", "Can I change my delivery address?",
    "Why was my card declined?", "How do I install the printer driver?", "Who approves expenses?",
    "I forgot my password, how can I change it?", "How do I delete my account?",
    "What are the office opening hours?", "How do I book a meeting room for tomorrow?",
    "Where do I submit my travel receipts?", "Can I work from home on Fridays?",
    "How do I add a new user to the team workspace?", "What is the Wi-Fi password for guests?",
    "My laptop will not turn on, what should I do?", "How long does a refund take?",
    "Is there parking at the main building?", "How do I enable two-factor authentication?",
    "Where can I download my payslip?", "Who do I call when the server room alarm goes off?",
    "How do I export the monthly sales report to Excel?", "What is the limit for a single expense claim?",
    "Can I get a second monitor for my desk?", "How do I cancel my subscription?",
    "Why is my email not syncing on my phone?", "What is the process for onboarding a new contractor?",
    "How can I recover a deleted file from the shared drive?", "When is the next payroll date?",
    "Where is the fire exit on the third floor?", "How do I change the language of the portal?",
    "What does error code 504 mean in the billing app?", "Is the cafeteria open on weekends?",
    "How do I request access to the finance database?", "Can I carry over unused leave to next year?",
    "How do I set up my out of office reply?", "Which browsers does the intranet support?",
    "How do I report a phishing email?", "What is the maximum attachment size for email?",
    "Who is responsible for approving purchase orders above ten thousand euros?",
    "How do I connect to the printer on the second floor from a Mac?",
    "What should I do if I lose my badge?", "How do I update my bank details for salary payments?",
    "Can guests use the gym?", "How do I rename a project in the tracker?",
    "Why does the VPN disconnect every hour?", "Where can I find the holiday calendar for this year?",
]


def pct(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values)
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def semantic(entries: int, queries: int, cpu: int | None, embedder_path: str | None) -> dict:
    from server.cache import entries as cache_entries
    from server.cache.bitindex import BitIndex, quantize
    from server.cache.embedder import Embedder
    from cli.tools.gguf_convert import default_models_dir, ensure_embedder
    from server.store import db

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    work = Path(tempfile.mkdtemp(prefix="gate-bench-cache-"))
    conn = db.connect(work / "gate.db")
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    batch = 5000
    for start in range(0, entries, batch):
        vecs = rng.standard_normal((min(batch, entries - start), 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        with conn:
            for i, v in enumerate(vecs):
                rowid = start + i + 1
                conn.execute("INSERT INTO cache_entries(id, partition, exact, scope, alias, op, query, answer, "
                             "embedding, bits, created_at, expires_at) "
                             "VALUES (?, 'p', ?, 's', 'a', 'chat', 'q', 'a', ?, ?, 0, ?)",
                             (rowid, rowid.to_bytes(8, "big"), v.tobytes(), quantize(v), 4e9))
                conn.execute("INSERT INTO cache_bits(rowid, partition, embedding) "
                             "VALUES (?, 'p', vec_quantize_binary(?))", (rowid, v.tobytes()))
    fill_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = BitIndex()
    index.load(conn)
    load_ms = (time.perf_counter() - t0) * 1000
    path = embedder_path or ensure_embedder(default_models_dir())
    embedder = Embedder(path, n_threads=1)  # one core
    embed_ms, search_ms, total_ms, vec0_ms, tokens, vectors = [], [], [], [], [], []
    for i in range(queries + 10):
        q = QUESTIONS[i % len(QUESTIONS)]
        a = time.perf_counter()
        v = embedder.embed([q])[0]
        b = time.perf_counter()
        index.sync(conn)  # what the cache's thread does before each search
        found = cache_entries.rescore(conn, index.search("p", v, cache_entries.CANDIDATES), v, time.time())
        c = time.perf_counter()
        assert found is not None
        if i >= 10:
            tokens.append(len(embedder.tokenize(q)))
            embed_ms.append((b - a) * 1000)
            search_ms.append((c - b) * 1000)
            total_ms.append((c - a) * 1000)
            vectors.append(v)
    embedder.close()
    alone_ms = []
    for v in vectors:  # the same searches without an embedding in between (warm caches)
        c = time.perf_counter()
        index.sync(conn)
        assert cache_entries.rescore(conn, index.search("p", v, cache_entries.CANDIDATES), v, time.time()) is not None
        alone_ms.append((time.perf_counter() - c) * 1000)
    for v in vectors:  # the vec0 path, apart: its scan would evict the other path's caches
        c = time.perf_counter()
        assert cache_entries.nearest(conn, "p", v, time.time()) is not None
        vec0_ms.append((time.perf_counter() - c) * 1000)
    conn.close()
    by_length = {}
    for name, lo, hi in (("<=10 tokens", 0, 10), ("11-14 tokens", 11, 14), (">=15 tokens", 15, 10**6)):
        picked = [t for t, n in zip(total_ms, tokens, strict=True) if lo <= n <= hi]
        if picked:
            by_length[name] = (len(picked), pct(picked)[0])
    return {"entries": entries, "fill_s": round(fill_s, 1), "index_load_ms": round(load_ms, 1),
            "by_length": by_length,
            "queries": queries, "embedder": Path(path).name, "tokens_mean": float(np.mean(tokens)),
            "embed_ms": pct(embed_ms), "search_ms": pct(search_ms), "total_ms": pct(total_ms),
            "search_alone_ms": pct(alone_ms),
            "vec0_search_ms": pct(vec0_ms)}


def exact_hit(n: int, cpu: int, load_cpu: int) -> dict:
    """A real gateway (cache on) against the bench's fake upstream."""
    import bench  # scripts/bench.py, beside this file

    work = Path(tempfile.mkdtemp(prefix="gate-bench-hit-"))
    procs = bench.Procs()
    try:
        up = bench.start_upstream(procs, load_cpu, work, 1.0)
        port = bench.free_port()
        config = work / "gateway.toml"
        config.write_text(bench.GATEWAY_TOML.format(port=port, upstream=up, alias=bench.ALIAS,
                                                    model=bench.UPSTREAM_MODEL, guardrails="false")
                          .replace("enabled = false   # the proxy", "enabled = true   # the proxy"))
        token = bench.create_key(config, False)
        log = work / "gateway.log"
        serve = procs.start("gateway", bench.serve_command(config, port), cpu, log, env=bench.child_env())
        bench.wait_ready(port, serve, 60, log)
        os.sched_setaffinity(0, {load_cpu})
        body = bench.chat_body(bench.ALIAS)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        direct = http.client.HTTPConnection("127.0.0.1", up)
        dbody = bench.chat_body(bench.UPSTREAM_MODEL)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request("POST", "/v1/chat/completions", body, headers)
        conn.getresponse().read()
        time.sleep(0.5)  # the write happens on the cache's thread
        hits, directs, statuses = [], [], set()
        for i in range(n + 50):
            a = time.perf_counter()
            conn.request("POST", "/v1/chat/completions", body, headers)
            r = conn.getresponse()
            r.read()
            b = time.perf_counter()
            direct.request("POST", "/v1/chat/completions", dbody, {"Content-Type": "application/json"})
            direct.getresponse().read()
            c = time.perf_counter()
            if i >= 50:
                statuses.add(r.getheader("x-gate-cache"))
                hits.append((b - a) * 1000)
                directs.append((c - b) * 1000)
        return {"requests": n, "cache_header": sorted(s for s in statuses if s), "hit_ms": pct(hits),
                "direct_upstream_ms": pct(directs)}
    finally:
        procs.stop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--embedder", help="a .gguf to measure instead of the default all-MiniLM-L6-v2 (q8_0)")
    parser.add_argument("--semantic-only", action="store_true", help="skip the exact-hit gateway run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    result = {"exact_hit": None if args.semantic_only else exact_hit(args.hits, 0, 1),
              "semantic": semantic(args.entries, args.queries, 0, args.embedder)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    e, s = result["exact_hit"], result["semantic"]
    print("gate bench: the cache (gateway and lookups pinned to core 0)")
    if e:
        print(f"  exact hit through the gateway, c=1, {e['requests']} requests ({', '.join(e['cache_header'])}): "
              f"p50 {e['hit_ms'][0]:.3f} ms, p99 {e['hit_ms'][1]:.3f} ms "
              f"(a direct upstream request: p50 {e['direct_upstream_ms'][0]:.3f} ms)")
    print(f"  semantic lookup at {s['entries']:,} entries in one partition ({s['queries']} questions, "
          f"{s['tokens_mean']:.1f} tokens on average, {s['embedder']}):")
    print(f"    embed p50 {s['embed_ms'][0]:.2f} ms · search (in-memory bits + rescoring) p50 "
          f"{s['search_ms'][0]:.2f} ms · total p50 {s['total_ms'][0]:.2f} ms, p99 {s['total_ms'][1]:.2f} ms")
    print("    total p50 by question length: " + " · ".join(
        f"{name} ({n}): {p50:.2f} ms" for name, (n, p50) in s["by_length"].items()))
    print(f"    (the same searches back to back: p50 {s['search_alone_ms'][0]:.2f} ms; "
          f"sqlite-vec's vec0 search instead: p50 {s['vec0_search_ms'][0]:.2f} ms; "
          f"index load {s['index_load_ms']} ms; fill {s['fill_s']} s)")
    verdicts = []
    if e:
        verdicts.append(f"exact hit p50 {e['hit_ms'][0]:.3f} ms < 1 ms {'pass' if e['hit_ms'][0] < 1 else 'FAIL'}")
    total = s["total_ms"][0]
    verdicts.append(f"semantic lookup p50 {total:.2f} ms < 5 ms {'pass' if total < 5 else 'FAIL'}")
    print("floor: " + " · ".join(verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
