"""scripts/bench guardrails: small requests' latency while a large hostile body is being checked.

    scripts/bench guardrails [--seconds 10] [--mb 3.6] [--kind phone-email|ipv4|plain] [--json]

One `gate serve --workers 1` (guardrails on, the default policy, a 4 MiB body limit) pinned to
core 0, the fast fake upstream and this client on core 1, all on 127.0.0.1:

1. baseline: small chat requests one after another for --seconds: p50, p99, max;
2. under attack: the same while another connection sends a body of --mb MB dense with
   personal data (phone numbers and e-mail addresses by default), one after another;
   reported: the small requests' p50/p99/max and the large ones' time and status.

Before input checks left the event loop, every small request that arrived during a large
check waited for all of it (p99 = the check's duration).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402 - the proxy bench's processes, client and statistics

KINDS = {
    "phone-email": "call +1 415 555 0132 or mail jane.doe@example.com, ",
    "ipv4": "from 10.1.2.3 ",
    "plain": "The committee reviews the annual budget and the quick brown fox naps. ",
}


def big_body(kind: str, mb: float) -> bytes:
    n = int(mb * 1_000_000)
    unit = KINDS[kind]
    text = (unit * (n // len(unit) + 1))[:n]
    return json.dumps({"model": bench.ALIAS, "messages": [{"role": "user", "content": text}],
                       "max_tokens": 16}).encode()


def measure(port: int, token: str, seconds: float) -> list[float]:
    conn = bench.BlockingConn(port, timeout=120)
    raw = bench.http_request("POST", "/v1/chat/completions", port, bench.chat_body(bench.ALIAS), token)
    out: list[float] = []
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            status, body, _, total = conn.request(raw)
            if status != 200:
                raise bench.BenchError(f"a small request got {status}: {body[:200]!r}")
            out.append(total)
    finally:
        conn.close()
    return out


def dist(seconds: list[float]) -> dict:
    d = bench.Dist.of(seconds)
    return {"n": d.n, "p50_ms": d.p50, "p99_ms": d.p99, "max_ms": round(max(seconds) * 1000, 1)}


def run(args: argparse.Namespace, procs: bench.Procs, work: Path) -> dict:
    gw_cpu, load_cpu = (0, 1) if (bench.os.cpu_count() or 1) >= 2 else (None, None)
    if load_cpu is not None:
        bench.os.sched_setaffinity(0, {load_cpu})
    up_port = bench.start_upstream(procs, load_cpu, work, 1.0)
    gw_port = bench.free_port()
    config = work / "gateway.toml"
    config.write_text(bench.GATEWAY_TOML.format(port=gw_port, upstream=up_port, alias=bench.ALIAS,
                                                model=bench.UPSTREAM_MODEL, guardrails="true"))
    token = bench.create_key(config)
    log = work / "gateway.log"
    serve = procs.start("gateway", bench.serve_command(config, gw_port), gw_cpu, log, env=bench.child_env())
    bench.wait_ready(gw_port, serve, 60, log)
    body = big_body(args.kind, args.mb)
    big_raw = bench.http_request("POST", "/v1/chat/completions", gw_port, body, token)
    # Warm up: the first large body also starts the helper process.
    warm = bench.BlockingConn(gw_port, timeout=300)
    status, reply, _, first_big = warm.request(big_raw)
    warm.close()
    measure(gw_port, token, 1.0)

    baseline = measure(gw_port, token, args.seconds)
    stop = threading.Event()
    big: list[tuple[int, float]] = []

    def attack() -> None:
        conn = bench.BlockingConn(gw_port, timeout=300)
        try:
            while not stop.is_set():
                s, _, _, total = conn.request(big_raw)
                big.append((s, total))
        finally:
            conn.close()

    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    time.sleep(0.2)
    loaded = measure(gw_port, token, args.seconds)
    stop.set()
    attacker.join(300)
    procs.stop(serve)
    return {
        "machine": bench.machine_facts(),
        "body": {"kind": args.kind, "bytes": len(body), "first_status": status, "first_s": round(first_big, 2),
                 "first_reply": reply[:160].decode("utf-8", "replace")},
        "baseline": dist(baseline),
        "under_attack": dist(loaded),
        "large_requests": {"n": len(big), "statuses": sorted({s for s, _ in big}),
                           "mean_s": round(sum(t for _, t in big) / max(1, len(big)), 2)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench guardrails", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="each phase (default 10)")
    parser.add_argument("--mb", type=float, default=3.6, help="size of the large body's text (default 3.6)")
    parser.add_argument("--kind", choices=sorted(KINDS), default="phone-email")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 120 or not 0 < args.mb <= 4:
        parser.error("--seconds in (0, 120], --mb in (0, 4] (the body limit is 4 MiB)")
    procs = bench.Procs()
    work = Path(tempfile.mkdtemp(prefix="gate-bench-guardrails-"))
    try:
        result = run(args, procs, work)
    except bench.BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    b, a, big = result["baseline"], result["under_attack"], result["large_requests"]
    print(f"{result['machine']['cpu']} · {result['machine']['cores']} cores · gateway on core 0\n"
          f"large body: {result['body']['bytes']:,} bytes of {result['body']['kind']} text; first one "
          f"{result['body']['first_status']} in {result['body']['first_s']} s")
    print(f"{'small requests':26} {'n':>6} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for name, d in (("alone", b), ("while large ones checked", a)):
        print(f"{name:26} {d['n']:>6} {d['p50_ms']:>9.2f} {d['p99_ms']:>9.2f} {d['max_ms']:>9.1f}")
    print(f"large requests during the run: {big['n']}, statuses {big['statuses']}, mean {big['mean_s']} s each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
