"""scripts/bench: the gateway's own overhead, measured against a fast fake upstream.

    scripts/bench [--seconds 10] [--concurrency 64] [--pairs 2000] [--stream-pairs 200]
                  [--stream-interval-ms 1] [--generator auto|python|wrk] [--limits]
                  [--json] [--check] [--keep]

What it does, all on 127.0.0.1 and in bounded time:

1. starts a fast fake OpenAI upstream (scripts/bench_upstream.py, raw asyncio on uvloop)
   pinned to the load core (1);
2. writes a temporary gateway.toml (one `openai` provider pointing at the fake, one alias,
   the ledger with its defaults), creates a virtual key with `gate keys create`, and starts
   `gate serve --workers 1` pinned to the gateway core (0); auth and the ledger are on
   (with --limits the key also has a budget and rpm/tpm limits, too high to refuse);
3. latency at concurrency 1: one keep-alive connection to the upstream and one to the
   gateway, alternating direct and gateway requests; the added latency is the gateway's
   distribution minus the direct one at p50 and p99; the same for a short SSE stream
   (time to first byte and total);
4. requests per second at saturation: N keep-alive connections (a hand-written uvloop
   HTTP/1.1 client in this process, or wrk if it is installed) for --seconds; only 200s count;
5. the gateway worker's peak RSS (VmHWM), and the ledger rows it wrote.

It prints a table (or JSON) and, with --check, exits 1 when the floor is missed:
added p50 under 1 ms and at least 2,000 requests/s on one core.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ALIAS = "bench"
UPSTREAM_MODEL = "bench-model"
FLOOR_ADDED_P50_MS = 1.0
FLOOR_RPS = 2000.0

MESSAGES = [{"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say hello in five words."}]


def chat_body(model: str, stream: bool = False) -> bytes:
    body: dict = {"model": model, "messages": MESSAGES, "max_tokens": 16}
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def http_request(method: str, path: str, port: int, body: bytes = b"", token: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- HTTP/1.1 responses, parsed incrementally (Content-Length or chunked) --------------------

_CLEN = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.IGNORECASE)


class BadResponse(Exception):
    pass


class ResponseParser:
    """Feed bytes; get back (status, body) for each complete response on a keep-alive connection."""

    __slots__ = ("buf", "chunked", "keep_body", "parts", "remaining", "started", "status")

    def __init__(self, keep_body: bool = True) -> None:
        self.buf = b""
        self.status = 0          # 0: waiting for a status line and headers
        self.remaining = 0
        self.chunked = False
        self.parts: list[bytes] = []
        self.started = False     # body bytes of the current response have arrived
        self.keep_body = keep_body

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self.buf + data if self.buf else data
        done: list[tuple[int, bytes]] = []
        while True:
            if self.status == 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buf[:end]
                if not head.startswith(b"HTTP/1."):
                    raise BadResponse(f"not an HTTP/1.x response: {head[:80]!r}")
                self.status = int(head[9:12])
                match = _CLEN.search(head)
                self.chunked = match is None and _CHUNKED.search(head) is not None
                self.remaining = int(match.group(1)) if match else 0
                self.parts = []
                buf = buf[end + 4:]
                self.started = bool(buf)
            if not self.chunked:
                if len(buf) < self.remaining:
                    break
                body = buf[:self.remaining] if self.keep_body else b""
                buf = buf[self.remaining:]
                done.append((self.status, body))
                self.status = 0
                continue
            finished = False
            while True:  # chunks
                eol = buf.find(b"\r\n")
                if eol < 0:
                    break
                size = int(buf[:eol].split(b";", 1)[0], 16)
                if size == 0:
                    if len(buf) < eol + 4:
                        break
                    buf = buf[eol + 4:]  # no trailers are sent by either server
                    finished = True
                    break
                if len(buf) < eol + 4 + size:
                    break
                if self.keep_body:
                    self.parts.append(buf[eol + 2:eol + 2 + size])
                buf = buf[eol + 4 + size:]
            if not finished:
                break
            done.append((self.status, b"".join(self.parts)))
            self.status = 0
        self.buf = buf
        if self.status and (buf or self.parts):
            self.started = True
        return done


class BlockingConn:
    """One keep-alive connection for measurements at concurrency 1."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = ResponseParser()

    def request(self, raw: bytes) -> tuple[int, bytes, float, float]:
        """(status, body, seconds to the first body byte, seconds to the end)."""
        recv, parser, now = self.sock.recv, self.parser, time.perf_counter
        t0 = now()
        self.sock.sendall(raw)
        first = None
        while True:
            data = recv(65536)
            if not data:
                raise BadResponse("the server closed the connection")
            done = parser.feed(data)
            if first is None and (done or parser.started):
                first = now()
            if done:
                end = now()
                status, body = done[0]
                return status, body, first - t0, end - t0

    def close(self) -> None:
        self.sock.close()


# -- processes ---------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_setup(cpu: int | None):
    def setup() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # never outlive the bench
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
    return setup


class Procs:
    """Every process the bench starts; each in its own process group, stopped on exit."""

    def __init__(self) -> None:
        self.items: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], cpu: int | None, log: Path, **kw) -> subprocess.Popen:
        if cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(cpu), *argv]
            setup = _child_setup(None)
        else:
            setup = _child_setup(cpu)
        out = kw.pop("stdout", None)
        with open(log, "wb") as out_file, open(log.with_suffix(".err"), "wb") as err_file:
            proc = subprocess.Popen(argv, stdout=out or out_file, stderr=err_file,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=setup, cwd=ROOT, **kw)
        self.items.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 8.0) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its group: granian's workers too
        except (ProcessLookupError, PermissionError):
            pass
        if proc.poll() is None:
            proc.wait(5)

    def stop_all(self) -> None:
        for _, proc in reversed(self.items):
            self.stop(proc)
        self.items.clear()


def children_of(pid: int) -> list[int]:
    out: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return out


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def proc_status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def kb_to_mb(value: str | None) -> float | None:
    return round(int(value.split()[0]) / 1024, 1) if value else None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def worker_pids(serve_pid: int) -> list[int]:
    """granian's worker processes: the serve process's Python descendants, minus helpers."""
    pids = [p for p in descendants(serve_pid) if "resource_tracker" not in cmdline(p)]
    return pids or [serve_pid]


def cpu_times() -> dict[str, tuple[int, int]]:
    """cpuN -> (busy jiffies, total jiffies) from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *vals = line.split()
            nums = [int(v) for v in vals]
            idle = nums[3] + (nums[4] if len(nums) > 4 else 0)
            out[name] = (sum(nums[:8]) - idle, sum(nums[:8]))
    return out


def busy_percent(before: dict, after: dict) -> dict[str, float]:
    out = {}
    for name, (busy, total) in after.items():
        b0, t0 = before.get(name, (0, 0))
        out[name] = round(100 * (busy - b0) / max(1, total - t0), 1)
    return out


def background_busy(seconds: float = 0.5) -> dict[str, float]:
    """How busy each core is before anything starts (other work on the host skews the numbers)."""
    before = cpu_times()
    time.sleep(seconds)
    return busy_percent(before, cpu_times())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class BenchError(Exception):
    pass


# -- the measurements --------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]


@dataclass
class Dist:
    p50: float
    p99: float
    mean: float
    n: int

    @classmethod
    def of(cls, seconds: list[float]) -> Dist:
        ms = sorted(s * 1000 for s in seconds)
        return cls(round(pct(ms, 50), 3), round(pct(ms, 99), 3), round(statistics.fmean(ms), 3), len(ms))


@dataclass
class Pair:
    direct: Dist
    gateway: Dist
    added_p50: float
    added_p99: float

    @classmethod
    def of(cls, direct: list[float], gateway: list[float]) -> Pair:
        d, g = Dist.of(direct), Dist.of(gateway)
        return cls(d, g, round(g.p50 - d.p50, 3), round(g.p99 - d.p99, 3))


def alternate(direct: BlockingConn, gateway: BlockingConn, d_req: bytes, g_req: bytes,
              pairs: int, warmup: int, stream: bool) -> tuple[list[float], list[float], list[float], list[float]]:
    """Alternate direct and gateway requests; (direct ttfb, direct total, gw ttfb, gw total)."""
    dt, dT, gt, gT = [], [], [], []
    gc.collect()
    gc.disable()
    try:
        for i in range(warmup + pairs):
            first = (direct, d_req, dt, dT), (gateway, g_req, gt, gT)
            for conn, raw, ttfb, total in (first if i % 2 == 0 else first[::-1]):
                status, body, t1, t2 = conn.request(raw)
                if status != 200 or (stream and b"[DONE]" not in body):
                    where = "gateway" if conn is gateway else "upstream"
                    raise BenchError(f"{where} answered {status}: {body[:300]!r}")
                if i >= warmup:
                    ttfb.append(t1)
                    total.append(t2)
    finally:
        gc.enable()
    return dt, dT, gt, gT


@dataclass
class Saturation:
    generator: str
    concurrency: int
    seconds: float
    ok: int
    errors: int
    rps: float
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    cpu_busy: dict[str, float] = field(default_factory=dict)
    responses: int = 0  # every response the gateway sent in this phase, warm-up included


class _LoadConn(asyncio.Protocol):
    __slots__ = ("gen", "parser", "t0", "transport")

    def __init__(self, gen: PyLoad) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.parser = ResponseParser(keep_body=False)
        self.t0 = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send()

    def send(self) -> None:
        self.t0 = time.perf_counter()
        self.transport.write(self.gen.raw)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        gen = self.gen
        try:
            done = self.parser.feed(data)
        except (BadResponse, ValueError):
            gen.errors += gen.measuring
            self.transport.close()  # type: ignore[union-attr]
            return
        gen.responses += len(done)
        for status, _ in done:
            now = time.perf_counter()
            if gen.measuring:
                if status == 200:
                    gen.ok += 1
                    gen.latencies.append(now - self.t0)
                else:
                    gen.errors += 1
            if gen.running:
                self.send()

    def connection_lost(self, exc) -> None:
        self.transport = None
        if self.gen.running:
            self.gen.errors += self.gen.measuring
            self.gen.lost += 1
            asyncio.ensure_future(self.gen.connect())


class PyLoad:
    """N keep-alive connections, one request in flight on each (no pipelining)."""

    def __init__(self, port: int, raw: bytes, concurrency: int) -> None:
        self.port, self.raw, self.concurrency = port, raw, concurrency
        self.running = True
        self.measuring = False
        self.ok = self.errors = self.lost = self.responses = 0
        self.latencies: list[float] = []
        self.conns: list[_LoadConn] = []

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_connection(lambda: _LoadConn(self), "127.0.0.1", self.port)
            self.conns.append(proto)
        except OSError:
            self.errors += self.measuring
            if self.running:
                await asyncio.sleep(0.05)
                asyncio.ensure_future(self.connect())

    async def run(self, warmup: float, seconds: float) -> tuple[float, dict[str, float]]:
        await asyncio.gather(*(self.connect() for _ in range(self.concurrency)))
        await asyncio.sleep(warmup)
        before = cpu_times()
        self.measuring = True
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        self.measuring = False
        elapsed = time.perf_counter() - t0
        busy = busy_percent(before, cpu_times())
        self.running = False
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.close()
        await asyncio.sleep(0.05)
        return elapsed, busy


def run_python_load(port: int, raw: bytes, concurrency: int, seconds: float, warmup: float) -> Saturation:
    """Saturate the port; `responses` (every status, warm-up included) is set on the result."""
    gen = PyLoad(port, raw, concurrency)
    try:
        import uvloop
        runner = uvloop.run
        name = "python+uvloop (in-process, raw HTTP/1.1)"
    except ImportError:
        runner = asyncio.run
        name = "python+asyncio (in-process, raw HTTP/1.1)"
    gc.collect()
    gc.disable()
    try:
        elapsed, busy = runner(asyncio.wait_for(gen.run(warmup, seconds), warmup + seconds + 30))
    finally:
        gc.enable()
    lat = Dist.of(gen.latencies) if gen.latencies else None
    sat = Saturation(name, concurrency, round(elapsed, 2), gen.ok, gen.errors, round(gen.ok / elapsed, 1),
                     lat.p50 if lat else None, lat.p99 if lat else None, busy)
    sat.responses = gen.responses
    return sat


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, port: int, body: bytes, token: str, concurrency: int, seconds: float,
            cpu: int | None, workdir: Path) -> Saturation:
    script = workdir / "bench.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    argv = [wrk, "-t1", f"-c{concurrency}", f"-d{int(max(1, seconds))}s", "--latency", "-s", str(script),
            f"http://127.0.0.1:{port}/v1/chat/completions"]
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu), *argv]
    before = cpu_times()
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=seconds + 60)
    busy = busy_percent(before, cpu_times())
    out = done.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if done.returncode != 0 or m is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{out[-1500:]}{done.stderr[-1500:]}")
    total = int(m.group(1))
    elapsed = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    non2xx = int(m2.group(1)) if (m2 := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sock_errors = sum(int(g) for g in sock.groups()) if sock else 0

    def latency(p: str) -> float | None:
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        return round(float(m.group(1)) * _WRK_UNITS[m.group(2)], 3) if m else None

    ok = total - non2xx
    return Saturation(f"wrk ({wrk})", concurrency, round(elapsed, 2), ok, non2xx + sock_errors,
                      round(ok / elapsed, 1), latency("50"), latency("99"), busy, total)


# -- the run -----------------------------------------------------------------------------------

@dataclass
class Result:
    machine: dict
    setup: dict
    chat: Pair | None = None
    stream_ttfb: Pair | None = None
    stream_total: Pair | None = None
    fallback: Pair | None = None
    saturation: Saturation | None = None
    memory: dict = field(default_factory=dict)
    ledger: dict = field(default_factory=dict)
    floor: dict = field(default_factory=dict)


def machine_facts() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("granian", "litestar", "aiohttp", "msgspec", "uvloop", "apsw"):
        try:
            from importlib.metadata import version
            versions[mod] = version(mod)
        except Exception:  # noqa: BLE001 - a missing package is only not reported
            versions[mod] = "?"
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release(), "versions": versions}


GATEWAY_TOML = """\
# Written by scripts/bench: one fast fake upstream, one alias, the ledger on (defaults).
[server]
host = "127.0.0.1"
port = {port}
workers = 1

[database]
path = "gate.db"

[cache]
enabled = false   # the proxy path itself; scripts/bench_cache.py measures the cache

[guardrails]
enabled = {guardrails}   # --guardrails: the default policy's input and output checks

[providers.fake]
kind = "openai"
url = "http://127.0.0.1:{upstream}/v1"
price_in = 0.5
price_out = 1.5

[models.{alias}]
route = ["fake:{model}"]
description = "scripts/bench fake upstream"

# The fallback row: the first target refuses the connection, every time (its breaker is
# kept closed), and the second serves.
[routing]
breaker_failures = 1000000000

[providers.refused]
kind = "openai"
url = "http://127.0.0.1:9/v1"
health_checks = false

[models.{alias}-fallback]
route = ["refused:x", "fake:{model}"]
"""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GATE_DB", "GATE_CONFIG", "GATE_URL", "GATE_ADMIN_TOKEN")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def serve_command(config: Path, port: int) -> list[str]:
    """How the gateway is started (a profiling harness may replace this)."""
    return [PY, "-m", "cli", "-c", str(config), "serve", "--port", str(port), "--workers", "1"]


def wait_ready(port: int, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    raw = http_request("GET", "/health/ready", port)
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the gateway exited with code {proc.returncode}:\n{tail(log.with_suffix('.err'))}")
        try:
            conn = BlockingConn(port, timeout=2)
            try:
                status, body, _, _ = conn.request(raw)
            finally:
                conn.close()
            if status == 200:
                return
            last = f"{status} {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise BenchError(f"the gateway was not ready within {timeout:.0f} s ({last}):\n{tail(log.with_suffix('.err'))}")


def start_upstream(procs: Procs, cpu: int | None, work: Path, interval_ms: float) -> int:
    log = work / "upstream.log"
    proc = procs.start("upstream", [PY, str(ROOT / "scripts" / "bench_upstream.py"), "--port", "0",
                                    "--stream-interval-ms", str(interval_ms)],
                       cpu, log, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 15
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    while time.monotonic() < deadline:
        chunk = proc.stdout.read() or b""
        buf += chunk
        if m := re.search(rb"ready (\d+)\n", buf):
            return int(m.group(1))
        if proc.poll() is not None:
            raise BenchError(f"the fake upstream exited:\n{tail(log.with_suffix('.err'))}")
        time.sleep(0.05)
    raise BenchError("the fake upstream did not start within 15 s")


# High enough never to refuse a request: they are there to be checked, not to bite.
LIMIT_FLAGS = ["--budget", "1000000", "--rpm", "100000000", "--tpm", "1000000000"]


def create_key(config: Path, limits: bool = False) -> str:
    argv = [PY, "-m", "cli", "-c", str(config), "keys", "create", "--name", "bench", "--json"]
    out = subprocess.run(argv + (LIMIT_FLAGS if limits else []),
                         check=False, capture_output=True, text=True, timeout=120, cwd=ROOT, env=child_env())
    if out.returncode != 0:
        raise BenchError(f"gate keys create failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)["key"]


def ledger_rows(db: Path) -> int | None:
    try:
        import apsw
    except ImportError:
        return None
    try:
        conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            return conn.execute("SELECT count(*) FROM ledger").fetchone()[0]
        finally:
            conn.close()
    except apsw.Error:
        return None


def log(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"bench: {message}", file=sys.stderr, flush=True)


def bench(args: argparse.Namespace, procs: Procs, work: Path) -> Result:
    quiet = args.json
    cores = os.cpu_count() or 1
    gw_cpu, load_cpu = (args.gateway_cpu, args.load_cpu) if cores >= 2 and not args.no_pin else (None, None)
    result = Result(machine_facts(), {
        "gateway_cpu": gw_cpu, "load_cpu": load_cpu, "workers": 1, "auth": True, "ledger": True,
        "budget_and_rate_limits": args.limits, "guardrails": args.guardrails,
        "pairs": args.pairs, "stream_pairs": args.stream_pairs,
        "stream_interval_ms": args.stream_interval_ms, "workdir": str(work)})
    if load_cpu is not None:
        os.sched_setaffinity(0, {load_cpu})

    result.setup["background_busy_percent"] = background = background_busy()
    if any(v > 10 for v in background.values()):
        log(quiet, f"warning: the cores are busy before the run ({background}); numbers will be noisy")
    log(quiet, f"starting the fake upstream on core {load_cpu}")
    up_port = start_upstream(procs, load_cpu, work, args.stream_interval_ms)
    gw_port = args.port or free_port()
    config = work / "gateway.toml"
    config.write_text(GATEWAY_TOML.format(port=gw_port, upstream=up_port, alias=ALIAS, model=UPSTREAM_MODEL,
                                          guardrails=str(args.guardrails).lower()))
    log(quiet, "creating a virtual key")
    token = create_key(config, args.limits)
    log(quiet, f"starting the gateway on core {gw_cpu} (port {gw_port})")
    serve_log = work / "gateway.log"
    serve = procs.start("gateway", serve_command(config, gw_port), gw_cpu, serve_log, env=child_env())
    wait_ready(gw_port, serve, 60, serve_log)
    workers = worker_pids(serve.pid)
    # taskset wraps only at exec: the serve pid is the taskset pid replaced by python.
    result.setup["worker_pids"] = workers
    result.setup["worker_affinity"] = sorted(os.sched_getaffinity(workers[0])) if workers else None
    idle_rss = sum(kb_to_mb(proc_status(p).get("VmRSS")) or 0 for p in workers)
    gw_requests = 0

    direct = BlockingConn(up_port)
    gateway = BlockingConn(gw_port)
    try:
        d_req = http_request("POST", "/v1/chat/completions", up_port, chat_body(UPSTREAM_MODEL))
        g_req = http_request("POST", "/v1/chat/completions", gw_port, chat_body(ALIAS), token)
        warm = min(200, max(20, args.pairs // 10))
        log(quiet, f"latency at concurrency 1: {args.pairs} alternating pairs (+{warm} warm-up)")
        _, d_total, _, g_total = alternate(direct, gateway, d_req, g_req, args.pairs, warm, stream=False)
        gw_requests += args.pairs + warm
        result.chat = Pair.of(d_total, g_total)
        f_req = http_request("POST", "/v1/chat/completions", gw_port, chat_body(ALIAS + "-fallback"), token)
        f_pairs = max(100, args.pairs // 4)
        log(quiet, f"fallback at concurrency 1: {f_pairs} alternating pairs (the first target refuses)")
        _, d_total, _, g_total = alternate(direct, gateway, d_req, f_req, f_pairs, 20, stream=False)
        gw_requests += f_pairs + 20
        result.fallback = Pair.of(d_total, g_total)
        if args.stream_pairs > 0:
            d_req = http_request("POST", "/v1/chat/completions", up_port, chat_body(UPSTREAM_MODEL, True))
            g_req = http_request("POST", "/v1/chat/completions", gw_port, chat_body(ALIAS, True), token)
            warm = min(50, max(10, args.stream_pairs // 10))
            log(quiet, f"streaming at concurrency 1: {args.stream_pairs} alternating pairs (+{warm} warm-up)")
            d_ttfb, d_total, g_ttfb, g_total = alternate(direct, gateway, d_req, g_req, args.stream_pairs,
                                                         warm, stream=True)
            gw_requests += args.stream_pairs + warm
            result.stream_ttfb = Pair.of(d_ttfb, g_ttfb)
            result.stream_total = Pair.of(d_total, g_total)
    finally:
        direct.close()
        gateway.close()

    wrk = shutil.which("wrk") if args.generator in ("auto", "wrk") else None
    if args.generator == "wrk" and not wrk:
        raise BenchError("--generator wrk: wrk is not on PATH")
    body = chat_body(ALIAS)
    raw = http_request("POST", "/v1/chat/completions", gw_port, body, token)
    log(quiet, f"saturation: {args.concurrency} connections for {args.seconds:g} s "
               f"({'wrk' if wrk else 'python+uvloop'})")
    if wrk:
        warm = run_python_load(gw_port, raw, args.concurrency, 0.5, 0.5)
        sat = run_wrk(wrk, gw_port, body, token, args.concurrency, args.seconds, load_cpu, work)
        sat.responses += warm.responses
    else:
        sat = run_python_load(gw_port, raw, args.concurrency, args.seconds, 1.0)
    result.saturation = sat

    peaks = {p: proc_status(p) for p in workers}
    result.memory = {
        "worker_peak_rss_mb": round(sum(kb_to_mb(s.get("VmHWM")) or 0 for s in peaks.values()), 1),
        "worker_rss_after_start_mb": round(idle_rss, 1),
        "worker_rss_now_mb": round(sum(kb_to_mb(s.get("VmRSS")) or 0 for s in peaks.values()), 1),
        "serve_process_peak_rss_mb": kb_to_mb(proc_status(serve.pid).get("VmHWM")),
    }
    log(quiet, "stopping the gateway (it flushes the ledger)")
    procs.stop(serve)
    rows = ledger_rows(work / "gate.db")
    # Requests still in flight when the load stopped are answered and recorded too.
    result.ledger = {"rows": rows, "gateway_responses": gw_requests + sat.responses,
                     "in_flight_at_stop_at_most": sat.concurrency}
    added = result.chat.added_p50 if result.chat else float("inf")
    result.floor = {
        "added_p50_ms": FLOOR_ADDED_P50_MS, "rps": FLOOR_RPS,
        "added_p50_ok": added < FLOOR_ADDED_P50_MS,
        "rps_ok": sat.rps >= FLOOR_RPS and gw_cpu is not None,
        "pinned": gw_cpu is not None,
    }
    result.floor["ok"] = result.floor["added_p50_ok"] and result.floor["rps_ok"]
    return result


# -- output ------------------------------------------------------------------------------------

def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def print_table(r: Result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 110)
    m, s = r.machine, r.setup
    what = "auth + ledger + budget + rpm/tpm limits" if s.get("budget_and_rate_limits") else "auth + ledger"
    if s.get("guardrails"):
        what += " + guardrails"
    console.print(f"[bold]gate bench[/]: the gateway's overhead ({what} on, 1 worker)\n"
                  f"{m['cpu']} · {m['cores']} cores · Python {m['python']} · Linux {m['kernel']} · "
                  f"granian {m['versions']['granian']} · litestar {m['versions']['litestar']} · "
                  f"aiohttp {m['versions']['aiohttp']}\n"
                  f"gateway on core {s['gateway_cpu']}, fake upstream + load on core {s['load_cpu']}; "
                  f"cores busy before the run: {s['background_busy_percent']} %; "
                  f"streams: 10 events {s['stream_interval_ms']:g} ms apart",
                  highlight=False)
    lat = Table(title="Latency at concurrency 1 (ms), direct and gateway requests alternating",
                title_justify="left")
    for col in ("", "n", "direct p50", "direct p99", "gateway p50", "gateway p99", "added p50", "added p99"):
        lat.add_column(col, justify="left" if not col else "right")
    for name, pair in (("chat JSON", r.chat), ("fallback: 1st refused", r.fallback),
                       ("stream TTFB", r.stream_ttfb), ("stream total", r.stream_total)):
        if pair is None:
            continue
        lat.add_row(name, str(pair.gateway.n), _ms(pair.direct.p50), _ms(pair.direct.p99),
                    _ms(pair.gateway.p50), _ms(pair.gateway.p99),
                    f"[bold]{_ms(pair.added_p50)}[/]", f"[bold]{_ms(pair.added_p99)}[/]")
    console.print(lat)
    sat = r.saturation
    tab = Table(title="Saturation and memory", title_justify="left")
    tab.add_column("")
    tab.add_column("value", justify="right")
    if sat is not None:
        tab.add_row("requests/s (200s only)", f"[bold]{sat.rps:,.0f}[/]")
        tab.add_row("concurrency · seconds", f"{sat.concurrency} · {sat.seconds:g}")
        tab.add_row("responses 200 · errors", f"{sat.ok:,} · {sat.errors}")
        tab.add_row("latency p50 · p99 at saturation (ms)", f"{_ms(sat.latency_p50_ms)} · {_ms(sat.latency_p99_ms)}")
        gw_busy = sat.cpu_busy.get(f"cpu{s['gateway_cpu']}", "-")
        load_busy = sat.cpu_busy.get(f"cpu{s['load_cpu']}", "-")
        tab.add_row("core busy % (gateway · load)", f"{gw_busy} · {load_busy}")
        tab.add_row("load generator", sat.generator)
    tab.add_row("worker peak RSS (VmHWM, MB)", f"[bold]{r.memory.get('worker_peak_rss_mb')}[/]")
    tab.add_row("worker RSS after start (MB)", str(r.memory.get("worker_rss_after_start_mb")))
    tab.add_row("ledger rows · gateway responses", f"{r.ledger.get('rows') or 0:,} · {r.ledger.get('gateway_responses'):,}")
    console.print(tab)
    if any(v > 10 for v in s["background_busy_percent"].values()):
        console.print(f"[yellow]warning:[/] the cores were busy before the run "
                      f"({s['background_busy_percent']} %): other work on this host skews these numbers",
                      highlight=False)
    f = r.floor
    verdict = lambda ok: "[green]pass[/]" if ok else "[red]FAIL[/]"
    added = r.chat.added_p50 if r.chat else float("nan")
    console.print(f"floor: added p50 {added:.3f} ms < {f['added_p50_ms']:g} ms {verdict(f['added_p50_ok'])} · "
                  f"{sat.rps if sat else 0:,.0f} req/s ≥ {f['rps']:,.0f} on one core {verdict(f['rps_ok'])}"
                  + ("" if f["pinned"] else " (not pinned: fewer than 2 cores or --no-pin)"),
                  highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="saturation run length (default 10)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections at saturation (default 64)")
    parser.add_argument("--pairs", type=int, default=2000, help="direct/gateway pairs at concurrency 1 (default 2000)")
    parser.add_argument("--stream-pairs", type=int, default=200, help="streamed pairs; 0 skips (default 200)")
    parser.add_argument("--stream-interval-ms", type=float, default=1.0,
                        help="the fake upstream's pause between streamed events (default 1)")
    parser.add_argument("--generator", choices=("auto", "python", "wrk"), default="auto",
                        help="load generator: wrk if on PATH (auto), else the built-in one")
    parser.add_argument("--gateway-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--port", type=int, default=0, help="gateway port (default: a free one)")
    parser.add_argument("--guardrails", action="store_true",
                        help="turn on the default guardrail policy (PII, injection, output checks)")
    parser.add_argument("--limits", action="store_true",
                        help="also give the key a budget and rpm/tpm limits (too high to refuse), "
                             "so every request reserves, throttles and settles")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--check", action="store_true", help="exit 1 when the floor is missed")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (config, db, logs)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.seconds > 600 or args.concurrency < 1 or args.pairs < 1:
        parser.error("--seconds must be in (0, 600], --concurrency and --pairs at least 1")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started in the background, where sh ignores it
    procs = Procs()
    work = Path(tempfile.mkdtemp(prefix="gate-bench-"))
    try:
        result = bench(args, procs, work)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        if args.keep:
            print(f"bench: kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        sys.stdout.write(json.dumps(asdict(result), indent=2) + "\n")
    else:
        print_table(result)
    return 1 if args.check and not result.floor["ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
