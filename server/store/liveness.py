"""Which process holds a reservation, and whether that process still runs.

A worker is named `boot:pidns:pid:start`: the kernel's boot id, the pid namespace, the pid
and the process's start time in clock ticks (from /proc). A pid alone is reused; the start
time makes the name unique for the life of the machine. Another process can tell a dead
worker from a live one only when both run under the same boot and pid namespace (one host,
one container); otherwise it cannot know, and says so (None).
"""

from __future__ import annotations

import os

_me: tuple[int, str] | None = None  # (pid, name): recomputed after a fork


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _boot() -> str:
    return _read("/proc/sys/kernel/random/boot_id") or "-"


def _pidns() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        return "-"


def _started(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat); None if it is gone or a zombie."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the name (field 2) may hold spaces and ')'
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def me() -> str:
    """This process's name."""
    global _me
    pid = os.getpid()
    if _me is None or _me[0] != pid:
        _me = (pid, f"{_boot()}:{_pidns()}:{pid}:{_started(pid) or '-'}")
    return _me[1]


def alive(name: str) -> bool | None:
    """True or False when this process can tell; None when it cannot (another host, boot
    or container, or no /proc)."""
    try:
        boot, ns, pid_text, start = name.split(":")
        pid = int(pid_text)
    except ValueError:
        return None
    if "-" in (boot, ns, start) or boot != _boot() or ns != _pidns():
        return None
    return _started(pid) == start
