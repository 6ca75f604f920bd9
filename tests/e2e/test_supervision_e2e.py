"""`make run` survives a crash: the real launcher restarts a killed action server while the case
store and Rasa keep their processes, the citizen's next turn is served, and SIGTERM stops it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bot import launcher
from tests.e2e.harness import ROOT, e2e_env
from tests.support.recorder import Recorder


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({type(exc).__name__})"


def _what_happened(var_dir: Path) -> str:
    """The launcher's output and the end of every process's log, for a failure message: a CI run
    keeps no temporary folder."""
    parts = [f"--- launcher.out\n{_tail(var_dir / 'launcher.out', 30)}"]
    parts += [f"--- {log.name}\n{_tail(log)}" for log in sorted((var_dir / "logs").glob("*.log"))]
    return "\n".join(parts)


def _wait(what: str, check, timeout: float, proc: subprocess.Popen, var_dir: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"the launcher exited ({proc.returncode}) before {what}\n{_what_happened(var_dir)}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{_what_happened(var_dir)}"
        time.sleep(0.5)


def _state(var_dir: Path) -> dict:
    try:
        return json.loads((var_dir / "processes.json").read_text())
    except (OSError, ValueError):
        return {}


def _ready(ports: dict[str, int], token: str) -> bool:
    return all(ok for *_, ok, _ in launcher.health(ports, token))


def _turn(ports: dict[str, int], token: str, sender: str, text: str) -> list[dict]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{ports['rasa']}/webhooks/rest/webhook?token={token}", data=body,
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_killed_action_server_is_restarted_and_serves_again() -> None:
    launcher.train_if_needed()
    recorder = Recorder().start()
    var_dir = Path(tempfile.mkdtemp(prefix="bekh-supervise-"))
    ports = {name: launcher.free_port() for name in ("rasa", "actions", "case_store")}
    env = e2e_env(var_dir, ports, recorder.url)
    token = env["RASA_TOKEN"]
    with open(var_dir / "launcher.out", "wb") as out:
        proc = subprocess.Popen([launcher.PYTHON, "-m", "bot.launcher", "run"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait("the system to be ready", lambda: _ready(ports, token) and "notifier" in _state(var_dir), 300, proc, var_dir)
        before = _state(var_dir)
        os.kill(before["actions"]["pid"], signal.SIGKILL)
        _wait("the action server to come back",
              lambda: _state(var_dir).get("actions", {}).get("restarts") == 1 and _ready(ports, token), 90, proc, var_dir)
        after = _state(var_dir)
        assert after["actions"]["pid"] != before["actions"]["pid"]
        for name in ("case_store", "rasa", "notifier"):
            assert after[name]["pid"] == before[name]["pid"], f"{name} was restarted too"
        # A turn that needs the action server (starting a request runs custom actions).
        replies = _turn(ports, token, "supervision-e2e", "I want to make a complaint")
        assert replies and any(r.get("text") for r in replies)
        log = (var_dir / "launcher.out").read_text()
        assert "actions exited (signal 9)" in log and "actions restarted (restart 1)" in log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(60)
        recorder.stop()
    assert code == 0  # SIGTERM is an orderly stop
    for name, info in _state(var_dir).items():
        try:
            os.kill(info["pid"], 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive, f"{name} still running after the launcher stopped"


def test_action_server_down_gets_a_polite_localised_answer_then_the_form_carries_on(system) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.harness import kill_process, rest_sender_id, rest_turn, restart_process

    sender = "action-server-down-e2e"
    first = rest_turn(system, sender, "I want to make a suggestion")
    assert first, "the suggestion form should ask its first question"
    kill_process(system, "actions")
    try:
        replies = rest_turn(system, sender, "health")
        assert [r.get("text") for r in replies] == ["The service is unavailable right now. Please try again shortly."]
    finally:
        restart_process(system, "actions")
    again = rest_turn(system, sender, "health")
    assert again and all("unavailable" not in (r.get("text") or "") for r in again)
    tracker = system.tracker(rest_sender_id(system, sender))
    assert (tracker.get("active_loop") or {}).get("name") == "suggestion_form"
