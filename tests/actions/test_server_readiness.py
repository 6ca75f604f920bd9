"""actions/server.py: the action server is ready only while the case store is reachable; its
liveness (/health) does not depend on it. Real processes (case store and action server started
by the launcher, no Rasa), the case store killed with SIGKILL and started again."""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from bot import launcher
from tests.e2e.harness import e2e_env


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_ready_follows_the_case_store_and_health_does_not() -> None:
    import os
    import signal

    var_dir = Path(tempfile.mkdtemp(prefix="bekh-actions-ready-"))
    ports = {name: launcher.free_port() for name in ("rasa", "actions", "case_store")}
    env = e2e_env(var_dir, ports, "http://127.0.0.1:9")
    system = launcher.System(rasa_port=ports["rasa"], action_port=ports["actions"], case_store_port=ports["case_store"],
                             env=env, log_dir=var_dir / "logs")
    base = f"http://127.0.0.1:{ports['actions']}"
    try:
        system.start(rasa_processes=0)  # waits for /ready: the case store is up
        assert _get(f"{base}/ready") == (200, {"status": "ok", "detail": "case store reachable"})
        rows = {name: ok for name, _, ok, _ in launcher.health(ports, env["RASA_TOKEN"])}
        assert rows["actions"] is True and rows["case_store"] is True

        cs = system.named["case_store"]
        os.killpg(cs.pid, signal.SIGKILL)
        cs.wait(10)
        assert _get(f"{base}/ready") == (503, {"status": "unavailable", "detail": "CaseStoreUnavailable"})
        assert _get(f"{base}/health")[0] == 200  # alive: an orchestrator must not restart it for this
        rows = {name: ok for name, _, ok, _ in launcher.health(ports, env["RASA_TOKEN"])}
        assert rows["actions"] is False and rows["case_store"] is False

        launcher.wait_http(f"{system.case_store_url}/healthz", 60, system.respawn("case_store"))
        launcher.wait_ready(f"{base}/ready", 10)
        assert _get(f"{base}/ready")[0] == 200
    finally:
        system.stop()
