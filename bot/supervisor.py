"""Keep the processes of `make run` serving: restart a crashed one with backoff, stop in order.

Why our own and not supervisord/circus/honcho: the launcher already knows each process's command
and environment (they come from the same settings the tests use), and the policy is a few lines:
restart with a delay that doubles (1 s → 60 s) and resets once a process has stayed up, report a
crash loop loudly, and on SIGTERM/Ctrl-C stop the entry points first (Rasa drains its turns in
flight) and the backends last. supervisord would need a generated config and a second daemon;
Kubernetes does this job in the deployment.

Log lines name the process, its exit code and the delay: never arguments or output (the child's
own log is in var/logs/<name>.log).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Policy:
    first_delay: float = 1.0
    max_delay: float = 60.0
    stable_after: float = 60.0  # up this long: the next crash starts the backoff again
    loop_window: float = 120.0
    loop_crashes: int = 5  # this many crashes inside the window: a crash loop


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen]
    order: int  # stopped from the highest order down: entry points first, backends last
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    crashes: list[float] = field(default_factory=list)
    delay: float = 0.0
    restart_at: float | None = None
    restarts: int = 0

    def launch(self, now: float) -> None:
        self.proc = self.start()
        self.started_at = now
        self.restart_at = None


class Supervisor:
    def __init__(self, policy: Policy | None = None, log: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, state_file: Path | None = None) -> None:
        self.policy = policy or Policy()
        self.children: dict[str, Child] = {}
        self._log = log or (lambda line: print(line, flush=True))
        self._clock = clock
        self.state_file = state_file  # pids and restart counts, for `make status` and operators

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        state = {c.name: {"pid": c.proc.pid if c.proc else None, "restarts": c.restarts,
                          "crash_loop": self.in_crash_loop(c.name)} for c in self.children.values()}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.state_file)

    def add(self, name: str, start: Callable[[], subprocess.Popen], order: int, proc: subprocess.Popen | None = None) -> Child:
        """Supervise `name`; `proc` when it is already running, else it is started now."""
        child = Child(name, start, order)
        if proc is None:
            child.launch(self._clock())
        else:
            child.proc, child.started_at = proc, self._clock()
        self.children[name] = child
        self._write_state()
        return child

    def in_crash_loop(self, name: str) -> bool:
        c = self.children[name]
        now = self._clock()
        return len([t for t in c.crashes if now - t <= self.policy.loop_window]) >= self.policy.loop_crashes

    def poll(self) -> None:
        """One round: notice exits, schedule restarts, start what is due."""
        now = self._clock()
        p = self.policy
        for c in self.children.values():
            if c.restart_at is None and c.proc is not None and c.proc.poll() is not None:
                code = c.proc.returncode
                up = now - c.started_at
                c.delay = p.first_delay if up >= p.stable_after or c.delay == 0 else min(c.delay * 2, p.max_delay)
                c.crashes = [t for t in c.crashes if now - t <= p.loop_window] + [now]
                c.restart_at = now + c.delay
                how = f"signal {-code}" if code < 0 else f"code {code}"
                self._log(f"supervisor: {c.name} exited ({how}) after {up:.0f}s; restarting in {c.delay:.0f}s")
                if self.in_crash_loop(c.name):
                    self._log(f"supervisor: CRASH LOOP: {c.name} exited {len(c.crashes)} times in "
                              f"{p.loop_window:.0f}s; retrying every {c.delay:.0f}s at most. See var/logs/{c.name}.log")
            if c.restart_at is not None and now >= c.restart_at:
                c.launch(now)
                c.restarts += 1
                self._log(f"supervisor: {c.name} restarted (restart {c.restarts})")
                self._write_state()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM by order group, highest first, waiting for each group before the next: Rasa
        finishes its turns in flight while the action server and the case store still answer."""
        for order in sorted({c.order for c in self.children.values()}, reverse=True):
            group = [c for c in self.children.values() if c.order == order and c.proc is not None]
            for c in group:
                c.restart_at = None
                if c.proc and c.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(c.proc.pid, signal.SIGTERM)
            for c in group:
                assert c.proc is not None
                try:
                    c.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(c.proc.pid, signal.SIGKILL)
                    c.proc.wait(5)
