"""Workers killed with SIGKILL under load: the gateway keeps serving, and the books hold.

`gate serve --workers 2` as a real process, the fake upstream, clients on the official
openai SDK in threads (bounded loops). A worker is killed with -9 as the OOM killer or a
crash in native code would; later the whole server is, and started again on the same file.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import apsw
import openai
import pytest

from tests.live.conftest import CHAT, Gate, live_config

RESPAWN_DEADLINE_S = 30.0  # generous: the machine is shared; no timing is asserted below it
LOAD_DEADLINE_S = 90.0
PRICE = (7 * 1.0 + 6 * 2.0) / 1_000_000  # what the fake bills one answer: 7 + 6 tokens at $1/$2 per M
BUDGET_USD = 0.003


def workers(pid: int) -> set[int]:
    """The live child processes of `pid` (granian's workers)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.add(int(entry))
    return found


def wait_for_workers(gate: Gate, n: int, gone: set[int]) -> set[int]:
    """Poll until the server has `n` workers and none of `gone`; fail with its log if not."""
    deadline = time.monotonic() + RESPAWN_DEADLINE_S
    while time.monotonic() < deadline:
        assert gate.alive, f"gate serve exited when a worker died\n{gate.stderr()}"
        now = workers(gate.proc.pid)
        if len(now) == n and not now & gone:
            return now
        time.sleep(0.05)
    pytest.fail(f"no respawned worker within {RESPAWN_DEADLINE_S} s: {workers(gate.proc.pid)}\n{gate.stderr()}")


class Load:
    """Threads sending chat requests in a loop until told to stop (or a deadline)."""

    def __init__(self, gate: Gate, key: str, model: str, threads: int) -> None:
        self.gate, self.key, self.model = gate, key, model
        self.answers: dict[str, int] = {}  # request id -> status, for every complete answer
        self.oks: list[float] = []         # when each 200 arrived (monotonic)
        self.connection_errors = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(30)
        assert not any(t.is_alive() for t in self._threads), "a load thread did not stop"

    def ok_after(self, moment: float) -> int:
        with self._lock:
            return sum(t > moment for t in self.oks)

    def _run(self) -> None:
        deadline = time.monotonic() + LOAD_DEADLINE_S
        client = self.gate.client(self.key, timeout=15.0)
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                self._one(client)
        finally:
            client.close()

    def _one(self, client: openai.OpenAI) -> None:
        try:
            raw = client.chat.completions.with_raw_response.create(model=self.model, messages=CHAT, max_tokens=10)
            reply = raw.parse()
        except openai.APIStatusError as exc:  # a complete answer too: an error in OpenAI's format
            with self._lock:
                self.answers[exc.response.headers["x-gate-request-id"]] = exc.response.status_code
            time.sleep(0.05)
            return
        except openai.APIConnectionError:  # the worker holding the connection was killed
            with self._lock:
                self.connection_errors += 1
            time.sleep(0.02)
            return
        assert reply.usage is not None and reply.usage.total_tokens == 13, reply
        with self._lock:
            self.answers[raw.headers["x-gate-request-id"]] = raw.http_response.status_code
            self.oks.append(time.monotonic())


@pytest.fixture
def gate2(tmp_path, fake_upstream):
    server = Gate(tmp_path / "gate", live_config(fake_upstream.url), workers=2)
    server.key = server.create_key("crash-app")
    server.start()
    yield server
    server.stop()


def test_a_killed_worker_is_respawned_and_sigterm_still_stops_the_server(gate2):
    first = wait_for_workers(gate2, 2, set())
    with Load(gate2, gate2.key, "ok", threads=4) as load:
        deadline = time.monotonic() + RESPAWN_DEADLINE_S
        while load.ok_after(0) < 20:  # the load is running
            assert time.monotonic() < deadline, f"no answers under load\n{gate2.stderr()}"
            time.sleep(0.02)
        victim = min(first)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        second = wait_for_workers(gate2, 2, {victim})
        assert len(second - first) == 1  # one new worker in place of the dead one
        deadline = time.monotonic() + RESPAWN_DEADLINE_S
        while load.ok_after(killed_at) < 50:
            assert time.monotonic() < deadline, f"service did not resume\n{gate2.stderr()}"
            time.sleep(0.02)
    assert gate2.alive, gate2.stderr()
    # New connections, spread over both workers, all answered.
    for _ in range(10):
        c = gate2.client(gate2.key)
        try:
            assert c.chat.completions.create(model="ok", messages=CHAT).choices[0].message.content
        finally:
            c.close()
    assert "Respawning worker" in gate2.stderr()
    code = gate2.stop(signal.SIGTERM)
    assert gate2.stopped_by == signal.SIGTERM, f"SIGTERM did not stop the server\n{gate2.stderr()}"
    assert code == 0, f"gate serve exited {code} on SIGTERM\n{gate2.stderr()}"
    assert not workers(gate2.proc.pid)


def test_a_crash_loop_restarts_the_server_instead_of_ending_it(gate2):
    """granian gives up when a respawned worker dies again within seconds; gate serve then
    starts it again: only a signal ends it."""
    first = wait_for_workers(gate2, 2, set())
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    second = wait_for_workers(gate2, 2, {victim})
    (respawned,) = second - first
    os.kill(respawned, signal.SIGKILL)  # at once: granian's crash-loop guard
    deadline = time.monotonic() + RESPAWN_DEADLINE_S
    while "starting it again" not in gate2.stderr():
        assert gate2.alive, f"gate serve exited on a crash loop\n{gate2.stderr()}"
        assert time.monotonic() < deadline, gate2.stderr()
        time.sleep(0.05)
    third = wait_for_workers(gate2, 2, first | second)
    assert gate2.alive and len(third) == 2
    deadline = time.monotonic() + RESPAWN_DEADLINE_S
    while True:
        c = gate2.client(gate2.key)
        try:
            assert c.chat.completions.create(model="ok", messages=CHAT).choices[0].message.content
            break
        except openai.APIConnectionError:
            assert time.monotonic() < deadline, f"not serving again\n{gate2.stderr()}"
            time.sleep(0.1)
        finally:
            c.close()
    code = gate2.stop(signal.SIGINT)
    assert code == 0 and gate2.stopped_by == signal.SIGINT, gate2.stderr()


def kill_all(gate: Gate) -> None:
    """SIGKILL the server and its workers at once (a power cut, the OOM killer on the group)."""
    pids = [gate.proc.pid, *workers(gate.proc.pid)]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    gate.proc.wait(10)
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") and workers_state(p) not in ("Z", None) for p in pids):
        assert time.monotonic() < deadline, "killed workers still run"
        time.sleep(0.05)
    gate.stop()  # closes the log files of the dead process


def workers_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def books(gate: Gate) -> tuple[float, int, int]:
    """(USD spent on the key's budget, reservations left, ledger rows charged as lost)."""
    conn = apsw.Connection(str(gate.db_path))
    conn.setbusytimeout(5000)
    try:
        spent = conn.execute("SELECT coalesce(sum(usd), 0) FROM budget_spend").fetchone()[0]
        held = conn.execute("SELECT count(*) FROM reservations").fetchone()[0]
        lost = conn.execute("SELECT count(*) FROM ledger WHERE error LIKE 'worker_lost:%'").fetchone()[0]
        return spent, held, lost
    finally:
        conn.close()


def test_killed_workers_lose_no_answer_and_forgive_no_spend(tmp_path, fake_upstream):
    # A ledger writer that would flush only once a minute: every row below is there because
    # it was written before its answer went out, not because a batch happened to run.
    gate = Gate(tmp_path / "gate", live_config(fake_upstream.url, flush_interval_ms=60_000), workers=2)
    created = gate.cli_json("keys", "create", "--name", "budgeted", "--budget", str(BUDGET_USD), "--period", "daily")
    gate.key = created["key"]
    seen_before = len(fake_upstream.requests)
    gate.start()
    try:
        pids = wait_for_workers(gate, 2, set())
        # "slow" answers after 1 s: each worker always has requests in flight when it dies.
        with Load(gate, gate.key, "slow", threads=12) as load:
            for victim in sorted(pids):  # one worker, then the other (never the same one twice)
                while load.ok_after(0) < 6:
                    time.sleep(0.05)
                time.sleep(1.5)
                os.kill(victim, signal.SIGKILL)
                pids = wait_for_workers(gate, 2, {victim})
            time.sleep(1.5)
            kill_all(gate)  # then the whole server, mid-load
            gate.start()    # and again on the same file: its workers charge what the dead left
            deadline = time.monotonic() + LOAD_DEADLINE_S
            while 429 not in load.answers.values():  # run until the budget refuses
                assert time.monotonic() < deadline, "the budget was never used up"
                time.sleep(0.1)
        code = gate.stop(signal.SIGTERM)
        assert code == 0 and gate.stopped_by == signal.SIGTERM, gate.stderr()
    finally:
        gate.stop()

    answered = load.answers
    # Enough answers to mean something (how many depends on the machine's load: the loop ends
    # at the first 429, which in-flight reservations can bring before the spend does).
    assert sum(s == 200 for s in answered.values()) >= 10 and load.connection_errors > 0
    rows = {r["request_id"]: r for r in gate.ledger_rows()}
    missing = [rid for rid in answered if rid not in rows]
    assert not missing, f"{len(missing)} answered requests have no ledger row: {missing[:5]}"
    assert {rid: rows[rid]["status"] for rid in answered} == answered
    assert all(rows[rid]["cost"] == pytest.approx(PRICE) for rid, s in answered.items() if s == 200)

    billed = sum(s.body.get("model") == "slow" for s in fake_upstream.requests[seen_before:]) * PRICE
    spent, held, lost = books(gate)
    assert held == 0, "reservations of dead workers were left unsettled"
    assert lost > 0, "no in-flight request was charged as lost (the kills hit no request?)"
    # Everything the upstream billed is in the budget (lost requests at their worst case)...
    assert spent >= billed - 1e-12, f"spent ${spent:.6f} < billed ${billed:.6f}: a crash forgave spend"
    # ...and the budget was never overshot.
    assert spent <= BUDGET_USD + 1e-12
