"""`gate doctor --airgap`: nothing may leave the site except to what the allowlist names.

Two proofs. Statically: every destination in gateway.toml (each provider's url, the budget
webhook, the OTLP endpoint) is inside `[airgap] allow` (loopback always is). Live: a real
`gate serve` starts on a loopback port with a copy of the config (its own scratch SQLite
file), answers test traffic (readiness, the model list, one short chat completion per
alias), and every socket its process tree opens is recorded (/proc sampling, and strace's
connect() log when strace can trace); any remote end that is neither loopback nor a
configured destination fails the check.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cli.doctor import FAIL, PASS, WARN, Check
from cli.doctor.site_config import Allowlist, Loaded
from cli.doctor.sockets import Remote, Sampler, strace_connects
from server.core.settings import CONFIG_ENV

READY_DEADLINE_S = 120.0
REQUEST_TIMEOUT_S = 60.0


def destinations(settings) -> list[tuple[str, str]]:
    """(key path, URL) of everything the gateway may connect to."""
    out = [(f"providers.{n}.url", p.url) for n, p in settings.providers.items() if getattr(p, "url", None)]
    if settings.budgets.webhook:
        out.append(("budgets.webhook", settings.budgets.webhook))
    otlp = getattr(getattr(settings, "telemetry", None), "otlp_endpoint", None)
    if otlp:
        out.append(("telemetry.otlp_endpoint", otlp))
    return out


def _is_loopback(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_loopback


def resolve(host: str, timeout_s: float = 3.0) -> list[str]:
    """The host's addresses ([] when it does not resolve in time: an air gap may have no DNS)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        infos = pool.submit(socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM).result(timeout=timeout_s)
    except (OSError, FutureTimeout):
        return []
    finally:
        pool.shutdown(wait=False)
    return sorted({i[4][0].split("%")[0] for i in infos})


def _endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def check_destination(where: str, url: str, allow: Allowlist) -> tuple[Check, set[tuple[str, int]]]:
    host, port = _endpoint(url)
    addrs = resolve(host)
    name = f"airgap {where}"
    if allow.allows_name(host):
        return Check(name, PASS, f"{host} is on the allowlist"), {(a, port) for a in addrs}
    if not addrs:
        return Check(name, FAIL, f"{host} is not on the allowlist and does not resolve here"), set()
    outside = [a for a in addrs if not (_is_loopback(a) or allow.allows_ip(a))]
    if outside:
        return Check(name, FAIL, f"{host}:{port} -> {', '.join(outside)} is outside the allowlist"), set()
    via = "" if addrs == [host] else f" ({', '.join(addrs)})"
    return Check(name, PASS, f"{host}:{port}{via} inside the allowlist"), {(a, port) for a in addrs}


@dataclass
class Audit:
    ready: bool = False
    answers: dict[str, int | str] = field(default_factory=dict)
    seen: set[Remote] = field(default_factory=set)
    traced: bool = False
    samples: int = 0
    error: str | None = None

    def unexpected(self, allowed: set[tuple[str, int]]) -> list[Remote]:
        return sorted((r for r in self.seen if not _is_loopback(r.ip) and (r.ip, r.port) not in allowed),
                      key=str)


def default_gate_cmd() -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "cli"]


def _audit_config(loaded: Loaded, scratch: Path) -> Path:
    """The site's config minus [airgap], with its own scratch SQLite file and absolute paths."""
    import tomlkit

    raw = json.loads(json.dumps(loaded.raw))  # a deep copy
    raw.pop("airgap", None)
    raw.setdefault("database", {})["path"] = str(scratch / "audit.db")
    for name, p in loaded.settings.providers.items():
        if getattr(p, "model", None) and not p.model.startswith("pypi:"):
            raw["providers"][name]["model"] = p.model  # anchored by load_settings
    embedder = raw.get("cache", {}).get("embedder")
    if embedder:
        raw["cache"]["embedder"] = str(Path(embedder).resolve())
    path = scratch / "gateway.toml"
    path.write_text(tomlkit.dumps(raw))
    return path


def _strace_works() -> bool:
    strace = shutil.which("strace")
    if not strace:
        return False
    try:
        return subprocess.run([strace, "-f", "-qq", "-e", "trace=none", "-o", os.devnull, "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _http(url: str, body: dict | None = None, key: str | None = None) -> int | str:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=REQUEST_TIMEOUT_S) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError) as exc:
        return f"no answer ({getattr(exc, 'reason', exc)})"


def _wait_ready(proc: subprocess.Popen, base: str, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and proc.poll() is None:
        if _http(base + "/health/ready") == 200:
            return True
        time.sleep(0.2)
    return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT to the gateway (strace's child when traced), then harder, until it is gone."""
    targets = [proc.pid]
    if proc.args[0].endswith("strace"):
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            targets = [int(c) for c in children] or targets
        except OSError:
            pass
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        for pid in targets + ([proc.pid] if sig == signal.SIGKILL else []):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def audit(loaded: Loaded, gate_cmd: list[str] | None = None, *, use_strace: bool | None = None) -> Audit:
    """Run `gate serve` on a scratch copy of the config, send test traffic, record its sockets."""
    from server.store import db as store_db
    from server.store import keys as key_store

    result = Audit()
    with tempfile.TemporaryDirectory(prefix="gate-doctor-") as tmp:
        scratch = Path(tmp)
        config = _audit_config(loaded, scratch)
        conn = store_db.connect(scratch / "audit.db")
        try:
            key = key_store.create_key(conn, "doctor-airgap").key
        finally:
            conn.close()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [*(gate_cmd or default_gate_cmd()), "-c", str(config), "serve",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        result.traced = _strace_works() if use_strace is None else use_strace
        trace_log = scratch / "strace.log"
        if result.traced:
            cmd = [shutil.which("strace") or "strace", "-f", "-qq", "-e",
                   "trace=connect,sendto,sendmsg", "-o", str(trace_log), *cmd]
        env = {k: v for k, v in os.environ.items() if k not in ("GATE_DB", CONFIG_ENV, "GATE_URL")}
        with open(scratch / "serve.log", "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=scratch)
            sampler = Sampler(proc.pid).start()
            try:
                base = f"http://127.0.0.1:{port}"
                result.ready = _wait_ready(proc, base, READY_DEADLINE_S)
                if proc.poll() is None:
                    result.answers["GET /health/ready"] = _http(base + "/health/ready")
                    result.answers["GET /v1/models"] = _http(base + "/v1/models", key=key)
                    for alias in loaded.settings.models:
                        result.answers[f"chat {alias}"] = _http(
                            base + "/v1/chat/completions", key=key, body={
                                "model": alias, "max_tokens": 4,
                                "messages": [{"role": "user", "content": "Say OK."}]})
                    time.sleep(1.0)  # background work: health probes, ledger flush
            finally:
                _stop(proc)
                result.seen = sampler.stop()
                result.samples = sampler.samples
        if result.traced:
            result.seen |= strace_connects(trace_log)
        if not result.ready:
            tail = (scratch / "serve.log").read_text(errors="replace").strip().splitlines()[-3:]
            result.error = "gate serve never became ready: " + " | ".join(tail)
    return result


def run(loaded: Loaded, gate_cmd: list[str] | None = None) -> list[Check]:
    if loaded.allow_error:
        return [Check("airgap allowlist", FAIL, loaded.allow_error)]
    if loaded.allow is None:
        return [Check("airgap allowlist", FAIL, f"{loaded.path} has no [airgap] allow = [...] list")]
    allow = loaded.allow
    out = [Check("airgap allowlist", PASS, f"{len(allow.networks)} networks, {len(allow.hosts)} host names")]
    allowed: set[tuple[str, int]] = set()
    for where, url in destinations(loaded.settings):
        check, addrs = check_destination(where, url, allow)
        out.append(check)
        allowed |= addrs
    if not sys.platform.startswith("linux"):
        return [*out, Check("airgap sockets", WARN, "the live socket audit needs Linux (/proc)")]
    result = audit(loaded, gate_cmd)
    answers = ", ".join(f"{k} {v}" for k, v in result.answers.items())
    if result.error:
        out.append(Check("airgap traffic", FAIL, result.error))
    else:
        ok = all(v == 200 for v in result.answers.values())
        out.append(Check("airgap traffic", PASS if ok else WARN, answers))
    how = f"{result.samples} /proc samples" + (" + strace connect() log" if result.traced else "")
    bad = result.unexpected(allowed)
    if bad:
        out.append(Check("airgap sockets", FAIL, f"unexpected destinations: {', '.join(map(str, bad))} ({how})"))
    else:
        remote = sorted({f"{r.ip}:{r.port}" for r in result.seen if not _is_loopback(r.ip)})
        local = len({r for r in result.seen if _is_loopback(r.ip)})
        out.append(Check("airgap sockets", PASS, f"only loopback ({local} ends) and configured "
                         f"destinations ({', '.join(remote) or 'none'}) ({how})"))
    return out
