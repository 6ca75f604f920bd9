"""Start the real system for end-to-end tests and benchmarks.

`start_system()` trains the model if needed, starts a local recording server standing in for
Meta's and Twilio's APIs, then the case store, action server and Rasa server (with every
connector in credentials.yml) on free loopback ports, in a temporary var/ directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import launcher
from tests.support.recorder import Recorder

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningSystem:
    system: launcher.System
    recorder: Recorder
    env: dict[str, str]
    var_dir: Path

    @property
    def rasa_url(self) -> str:
        return self.system.rasa_url

    @property
    def case_store_url(self) -> str:
        return self.system.case_store_url

    @property
    def case_store_token(self) -> str:
        return self.env["CASE_STORE_TOKEN"]

    def case_store_requests(self) -> list[dict[str, Any]]:
        """Every request row, through the admin CLI (as an operator would look)."""
        out = subprocess.run(
            [launcher.PYTHON, "-m", "case_store", "list", "--json", "--limit", "1000"],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=True, timeout=60,
        )
        return json.loads(out.stdout or "[]")

    def tracker(self, sender_id: str) -> dict[str, Any]:
        url = f"{self.rasa_url}/conversations/{sender_id}/tracker?token={self.env['RASA_TOKEN']}"
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())

    def parse(self, text: str) -> dict[str, Any]:
        """What the running model makes of a text (Rasa's /model/parse)."""
        req = urllib.request.Request(f"{self.rasa_url}/model/parse?token={self.env['RASA_TOKEN']}",
                                     data=json.dumps({"text": text}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=20) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.system.stop()
        self.recorder.stop()


def e2e_env(var_dir: Path, ports: dict[str, int], recorder_url: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a system under test: its own var/, ports, keys, and the recorder in
    place of Meta's and Twilio's APIs."""
    rasa_url = f"http://127.0.0.1:{ports['rasa']}"
    env = launcher.system_env(
        {
            "BEKH_ENV": "test",
            "BEKH_VAR_DIR": str(var_dir),
            "RASA_URL": rasa_url,
            "PUBLIC_BASE_URL": rasa_url,
            "CASE_STORE_URL": f"http://127.0.0.1:{ports['case_store']}",
            "CASE_STORE_PORT": str(ports["case_store"]),
            "CASE_STORE_DATABASE_URL": f"sqlite:///{var_dir / 'case_store.db'}",
            "TRACKER_STORE_URL": f"sqlite:///{var_dir / 'rasa_tracker.db'}",
            "CHANNEL_STATE_DATABASE_URL": f"sqlite:///{var_dir / 'channel_state.db'}",
            "AGENT_CONSOLE_DATABASE_URL": f"sqlite:///{var_dir / 'agent_console.db'}",
            "RASA_TOKEN": "e2e-rasa-token",
            "CASE_STORE_TOKEN": "e2e-case-store-token",
            "CASE_STORE_ENCRYPTION_KEY": "e2e-encryption-key-0123456789abcdef",
            "SENDER_ID_KEY": "e2e-sender-id-key-0123456789",
            "AGENT_CONSOLE_INTERNAL_TOKEN": "e2e-console-internal-token",
            "MESSENGER_APP_SECRET": "e2e-app-secret",
            "MESSENGER_VERIFY_TOKEN": "e2e-verify-token",
            "MESSENGER_PAGE_ACCESS_TOKEN": "e2e-page-access-token",
            "MESSENGER_GRAPH_URL": recorder_url,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "e2e-twilio-auth-token",
            "TWILIO_API_BASE_URL": recorder_url,
            "TWILIO_SMS_FROM": "+96265008080",
            "RASA_PORT": str(ports["rasa"]),
            "ACTION_SERVER_PORT": str(ports["actions"]),
            # `bot.launcher run` also starts the dashboards: their own port and analytics store
            "INSIGHTS_PORT": str(ports.get("insights") or launcher.free_port()),
            "INSIGHTS_DATABASE_URL": f"sqlite:///{var_dir / 'insights.db'}",
            # every prediction also computes stock Rasa's dialogue states and fails on a difference (bot/rasa_patches.py)
            "STATES_CHECK": "1",
            **(extra_env or {}),
        }
    )
    env.pop("CI_NO_NETWORK", None)
    return env


# What benchmarks add to a system's environment: time what production runs, without the checks
# the tests switch on (STATES_CHECK computes Rasa's own dialogue states beside ours every turn).
TIMED = {"STATES_CHECK": "0"}


def start_system(extra_env: dict[str, str] | None = None, rasa_processes: int = 1, timeout: float = 180) -> RunningSystem:
    launcher.train_if_needed()
    recorder = Recorder().start()
    var_dir = Path(tempfile.mkdtemp(prefix="bekh-e2e-"))
    ports = {name: launcher.free_port() for name in ("rasa", "actions", "case_store")}
    env = e2e_env(var_dir, ports, recorder.url, extra_env)
    system = launcher.System(rasa_port=ports["rasa"], action_port=ports["actions"], case_store_port=ports["case_store"],
                             env=env, log_dir=var_dir / "logs")
    try:
        system.start(rasa_processes=rasa_processes, timeout=timeout)
    except Exception:
        system.stop()
        recorder.stop()
        for log in sorted((var_dir / "logs").glob("*.log")):
            print(f"--- {log.name} (tail) ---\n" + log.read_text(errors="replace")[-3000:])
        raise
    return RunningSystem(system, recorder, env, var_dir)


def rest_turn(running: RunningSystem, sender: str, text: str, metadata: dict[str, Any] | None = None, *,
              button: bool = False) -> list[dict[str, Any]]:
    """One turn through the REST channel (channels/rest.py), with the Rasa token: typed `text`,
    or with `button=True` a button press whose payload is `text`. `metadata` is sent as a client
    would send it; the channel ignores it."""
    body = json.dumps({"sender": sender, ("payload" if button else "message"): text, "metadata": metadata or {}}).encode()
    req = urllib.request.Request(f"{running.rasa_url}/webhooks/rest/webhook", data=body,
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {running.env['RASA_TOKEN']}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def rest_sender_id(running: RunningSystem, sender: str) -> str:
    """The tracker id the REST channel keys `sender` to."""
    from bot.privacy import keyed_id

    return keyed_id("rest", sender, key=running.env["SENDER_ID_KEY"].encode())


def kill_process(running: RunningSystem, name: str) -> None:
    """kill -9 one process of the system ("case_store", "actions", "rasa")."""
    import signal

    old = running.system.named[name]
    os.killpg(old.pid, signal.SIGKILL)
    old.wait(10)


def restart_process(running: RunningSystem, name: str, timeout: float = 240) -> None:
    """Start `name` again ("case_store", "actions", "rasa", "rasa2", ...) and wait until it is ready:
    the case store reaches its database, the action server the case store, Rasa has its model."""
    system = running.system
    new = system.respawn(name)
    if name.startswith("rasa"):
        ports = [system.rasa_port, *system.extra_rasa_ports]
        index = 0 if name == "rasa" else int(name[len("rasa"):]) - 1
        system._wait_model_loaded(ports[index], new, timeout)
        return
    ready = {"case_store": f"{system.case_store_url}/healthz", "actions": system.actions_ready_url}
    launcher.wait_ready(ready[name], 90, new)


def stop_case_store(running: RunningSystem) -> None:
    kill_process(running, "case_store")


def start_case_store(running: RunningSystem) -> None:
    restart_process(running, "case_store")


def case_store_cli(running: RunningSystem, *args: str) -> str:
    out = subprocess.run([launcher.PYTHON, "-m", "case_store", *args], cwd=ROOT, env=running.env,
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return out.stdout
