"""What a process tree talks to, read from /proc (Linux): its sockets' remote addresses.

`snapshot(pid)` maps the socket inodes open in the process and its descendants
(/proc/<pid>/fd) to the connection tables of its network namespace
(/proc/<pid>/net/tcp, tcp6, udp, udp6) and returns every socket with a remote end.
A snapshot only sees connections open at that moment; `Sampler` takes one every few
milliseconds on a thread, and `strace_connects` reads every connect() a traced process
tree made, when strace is there to trace it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
              "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


@dataclass(frozen=True)
class Remote:
    proto: str   # tcp | udp
    ip: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.proto}://{host}:{self.port}"


def _addr(text: str) -> tuple[str, int]:
    """/proc/net/tcp's hex 'ADDR:PORT' (each 32-bit word little-endian) -> (ip, port)."""
    hex_ip, hex_port = text.split(":")
    raw = bytes.fromhex(hex_ip)
    swapped = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(swapped)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip), int(hex_port, 16)


def descendants(pid: int) -> set[int]:
    """pid and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo += children.get(p, [])
    return out


def socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    return inodes


def snapshot(pid: int) -> set[Remote]:
    """Every socket of the tree under `pid` with a remote address (listeners excluded)."""
    inodes = socket_inodes(descendants(pid))
    seen = set()
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10 or cols[9] not in inodes:
                continue
            ip, port = _addr(cols[2])
            if port == 0 or TCP_STATES.get(cols[3]) == "LISTEN":
                continue
            seen.add(Remote(proto.rstrip("6"), ip, port))
    return seen


class Sampler:
    """Snapshots on a thread every `interval_s` until stopped; `seen` is their union."""

    def __init__(self, pid: int, interval_s: float = 0.01) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.seen: set[Remote] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gate-doctor-sockets", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen |= snapshot(self.pid)
            self.samples += 1
            self._stop.wait(self.interval_s)

    def stop(self) -> set[Remote]:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.seen


_CONNECT = re.compile(
    r"(connect|sendto|sendmsg)\(\d+, .*?sa_family=AF_INET6?, "
    r"(?:sin6?_port=htons\((\d+)\)).*?(?:inet_addr\(\"([^\"]+)\"\)|inet_pton\(AF_INET6?, \"([^\"]+)\")")


def strace_connects(log: Path) -> set[Remote]:
    """Every IPv4/IPv6 destination in an `strace -f -e trace=connect,sendto,sendmsg` log."""
    seen = set()
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return seen
    for line in text.splitlines():
        m = _CONNECT.search(line)
        if not m:
            continue
        ip = ipaddress.ip_address(m.group(3) or m.group(4))
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        # connect() does not say whether the socket is TCP or UDP (DNS connects UDP sockets).
        seen.add(Remote("ip", str(ip), int(m.group(2))))
    return seen
