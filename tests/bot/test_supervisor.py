"""bot.supervisor: a crashed process comes back with backoff, the others keep running, a crash
loop is reported, and stop() goes entry points first. Real child processes, a fake clock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bot.supervisor import Policy, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)


def _crasher() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)


def _wait_exit(proc: subprocess.Popen | None) -> None:
    assert proc is not None
    proc.wait(10)


def test_a_killed_process_is_restarted_and_the_others_keep_running() -> None:
    clock, lines = Clock(), []
    sup = Supervisor(Policy(first_delay=1), log=lines.append, clock=clock)
    try:
        victim = sup.add("actions", _sleeper, 1)
        bystander = sup.add("case_store", _sleeper, 0)
        old_pid, other_pid = victim.proc.pid, bystander.proc.pid  # type: ignore[union-attr]
        os.killpg(old_pid, signal.SIGKILL)
        _wait_exit(victim.proc)
        sup.poll()
        assert "actions exited (signal 9)" in lines[-1] and victim.restart_at == clock.now + 1
        clock.now += 1
        sup.poll()
        assert victim.proc.pid != old_pid and victim.proc.poll() is None  # type: ignore[union-attr]
        assert bystander.proc.pid == other_pid and bystander.proc.poll() is None  # type: ignore[union-attr]
        assert victim.restarts == 1
    finally:
        sup.stop(timeout=5)


def test_backoff_doubles_then_caps_and_a_crash_loop_is_reported() -> None:
    clock, lines = Clock(), []
    sup = Supervisor(Policy(first_delay=1, max_delay=8, loop_crashes=4, loop_window=120), log=lines.append, clock=clock)
    try:
        child = sup.add("rasa", _crasher, 3)
        delays = []
        for _ in range(6):
            _wait_exit(child.proc)
            sup.poll()  # notices the exit, schedules the restart
            delays.append(child.delay)
            clock.now += child.delay
            sup.poll()  # restarts it (it crashes again at once)
        assert delays == [1, 2, 4, 8, 8, 8]
        assert sup.in_crash_loop("rasa")
        assert any("CRASH LOOP: rasa" in line for line in lines)
    finally:
        sup.stop(timeout=5)


def test_backoff_resets_after_a_stable_run() -> None:
    clock = Clock()
    sup = Supervisor(Policy(first_delay=1, stable_after=60), log=lambda _: None, clock=clock)
    try:
        child = sup.add("notifier", _crasher, 2)
        for _ in range(3):
            _wait_exit(child.proc)
            sup.poll()
            clock.now += child.delay
            sup.poll()
        assert child.delay == 4
        _wait_exit(child.proc)
        clock.now += 300  # it had been up for five minutes before this crash
        sup.poll()
        assert child.delay == 1
    finally:
        sup.stop(timeout=5)


def test_stop_terminates_entry_points_before_backends() -> None:
    stamps: dict[str, float] = {}
    code = ("import signal, sys, time, pathlib\n"
            "def bye(*a):\n    pathlib.Path(sys.argv[1]).write_text(repr(time.time())); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\npathlib.Path(sys.argv[1] + '.ready').touch()\ntime.sleep(60)\n")
    import tempfile
    from pathlib import Path

    tmp = Path(tempfile.mkdtemp())

    def proc(name: str):
        return lambda: subprocess.Popen([sys.executable, "-c", code, str(tmp / name)], start_new_session=True)

    sup = Supervisor(log=lambda _: None)
    sup.add("case_store", proc("case_store"), 0)
    sup.add("rasa", proc("rasa"), 3)
    sup.add("actions", proc("actions"), 1)
    deadline = time.monotonic() + 30
    while not all((tmp / f"{n}.ready").exists() for n in ("case_store", "rasa", "actions")):  # handlers installed
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sup.stop(timeout=10)
    for name in ("case_store", "rasa", "actions"):
        stamps[name] = float((tmp / name).read_text())
    assert stamps["rasa"] <= stamps["actions"] <= stamps["case_store"]
