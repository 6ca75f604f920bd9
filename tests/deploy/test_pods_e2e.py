"""The production overlay's containers, started as their pods would start them, serve a turn.

Each Deployment's container runs here with its rendered command and the environment its pod
would get (the ConfigMap, the Secret's keys), in production mode, over PostgreSQL and Redis.
What a cluster provides and this machine does not is substituted, and only that: Service names
become 127.0.0.1, the fixed container ports become free ports, the Secret's values are test
values, and Meta's Graph API is the local recorder. The probes are run as the kubelet would.

On CI (CI set) a missing PostgreSQL or Redis fails the run instead of skipping it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.launcher import free_port
from tests.deploy.kustomize_lite import render
from tests.support.recorder import Recorder

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "deploy" / "k8s" / "overlays" / "production"
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
SERVICES = {"rasa": 5005, "actions": 5055, "case-store": 8800}
PAGE_ID = "104857600000001"
Doc = dict[str, Any]


def _unavailable(what: str, err: Exception) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required on CI but unreachable: {err}")
    pytest.skip(f"{what} unreachable: {err}")


def localise(docs: list[Doc], ports: dict[str, int]) -> list[Doc]:
    """Service names -> loopback, fixed ports -> free ports, everywhere they occur."""
    text = json.dumps(docs)
    for service, port in SERVICES.items():
        text = text.replace(f"//{service}:{port}", f"//127.0.0.1:{port}")
        assert str(port) in text
        text = text.replace(f'"{port}"', f'"{ports[service]}"').replace(f":{port}", f":{ports[service]}")
        text = text.replace(f"--port {port}", f"--port {ports[service]}").replace(f'"containerPort": {port}', f'"containerPort": {ports[service]}')
    return json.loads(text)


class Pod:
    def __init__(self, name: str, container: Doc, env: dict[str, str], log: Path) -> None:
        self.name, self.container, self.env = name, container, env
        out = open(log, "wb")  # noqa: SIM115 - the child owns its log for its lifetime
        self.proc = subprocess.Popen(container["command"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def port(self) -> int:
        return int(self.container["ports"][0]["containerPort"])

    def probe(self, kind: str, env: dict[str, str] | None = None) -> bool | None:
        """As the kubelet runs it: exec (exit 0), httpGet (2xx/3xx), tcpSocket (connects)."""
        p = self.container.get(kind)
        if not p:
            return None
        if "exec" in p:
            return subprocess.run(p["exec"]["command"], cwd=ROOT, env=env or self.env, capture_output=True,
                                  timeout=p.get("timeoutSeconds", 1) + 10).returncode == 0
        if "httpGet" in p:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{p['httpGet']['path']}", timeout=5) as r:
                    return 200 <= r.status < 400
            except OSError:
                return False
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=3).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[dict[str, Pod], Recorder, dict[str, str], Path]]:
    import psycopg2
    import redis

    try:
        admin = psycopg2.connect(PG_ADMIN, connect_timeout=3)
        admin.autocommit = True
    except Exception as err:
        _unavailable("PostgreSQL", err)
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as err:
        _unavailable("Redis", err)
    suffix = uuid.uuid4().hex[:8]
    dbs = {key: f"bekh_pod_{key}_{suffix}" for key in ("tracker", "cases", "channels", "console")}
    with admin.cursor() as cur:
        for name in dbs.values():
            cur.execute(f"CREATE DATABASE {name}")
    base = PG_ADMIN.rsplit("/", 1)[0]
    secret = {
        "tracker-store-url": f"{base}/{dbs['tracker']}", "case-store-database-url": f"{base}/{dbs['cases']}",
        "channel-state-database-url": f"{base}/{dbs['channels']}", "agent-console-database-url": f"{base}/{dbs['console']}",
        "lock-store-url": REDIS_URL, "twilio-account-sid": "AC" + "0" * 32,
        # The dashboards' pod is not started here; Rasa publishes to no broker in this test.
        "event-broker-url": "none", "insights-database-url": f"{base}/{dbs['cases']}",
        "insights-case-store-database-url": f"{base}/{dbs['cases']}",
        **{k: secrets.token_urlsafe(24) for k in (
            "rasa-token", "case-store-token", "case-store-encryption-key", "sender-id-key", "agent-console-internal-token",
            "messenger-app-secret", "messenger-verify-token", "messenger-page-access-token", "twilio-auth-token")},
    }
    recorder = Recorder().start()
    var = Path(tempfile.mkdtemp(prefix="bekh-pods-"))
    docs = localise(render(PRODUCTION), {name: free_port() for name in SERVICES})
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    pods: dict[str, Pod] = {}
    try:
        for d in docs:
            if d["kind"] != "Deployment":
                continue
            c = d["spec"]["template"]["spec"]["containers"][0]
            # In the image `python` and `rasa` are on PATH; here they are this environment's.
            env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT), "HOME": str(var), **config,
                   "BEKH_VAR_DIR": str(var / d["metadata"]["name"]), "LOCK_STORE_PREFIX": f"bekh{suffix}",
                   "MESSENGER_GRAPH_URL": recorder.url}
            env.update({e["name"]: secret[e["valueFrom"]["secretKeyRef"]["key"]] for e in c.get("env", [])})
            pods[d["metadata"]["name"]] = Pod(d["metadata"]["name"], c, env, var / f"{d['metadata']['name']}.log")
        yield pods, recorder, secret, var
    finally:
        for pod in pods.values():
            pod.stop()
        recorder.stop()
        with admin.cursor() as cur:
            for name in dbs.values():
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def _tail(var: Path) -> str:
    return "\n".join(f"--- {log.name} ---\n{log.read_text(errors='replace')[-1500:]}" for log in sorted(var.glob("*.log")))


def test_pods_become_ready_and_serve_a_signed_turn(cluster: tuple[dict[str, Pod], Recorder, dict[str, str], Path]) -> None:
    pods, recorder, secret, var = cluster
    assert pods["rasa"].probe("readinessProbe") is False, "ready before the model could have loaded"
    deadline = time.monotonic() + 420
    while not all(p.probe("readinessProbe") in (True, None) for p in pods.values()):
        exited = [p.name for p in pods.values() if p.proc.poll() is not None]
        assert not exited, f"{exited} exited in production mode\n{_tail(var)}"
        assert time.monotonic() < deadline, f"not ready in 420 s\n{_tail(var)}"
        time.sleep(5)
    for pod in pods.values():
        assert pod.probe("livenessProbe") in (True, None), pod.name
    # The readiness probe really asks /status with the token: a wrong token fails it.
    assert pods["rasa"].probe("readinessProbe", {**pods["rasa"].env, "RASA_TOKEN": "wrong"}) is False

    # A citizen's signed Messenger message: through Rasa (PostgreSQL tracker, Redis lock), the
    # action server and back out to the Send API.
    psid = str(uuid.uuid4().int)[:16]
    now = int(time.time() * 1000)
    event = {"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": [
        {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": now,
         "message": {"mid": f"m_{uuid.uuid4().hex}", "text": "مرحبا"}}]}]}
    body = json.dumps(event, ensure_ascii=False).encode()
    signature = "sha256=" + hmac.new(secret["messenger-app-secret"].encode(), body, hashlib.sha256).hexdigest()
    r = requests.post(f"http://127.0.0.1:{pods['rasa'].port}/webhooks/messenger/webhook", data=body, timeout=10,
                      headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})
    assert r.status_code == 200
    recorder.wait_for(lambda req: req["path"].endswith("/me/messages")
                      and (req["json"] or {}).get("recipient", {}).get("id") == psid, timeout=60)

    import psycopg2

    # Rasa sends the replies during the turn and saves the tracker at its end: wait for the save.
    deadline, stored = time.monotonic() + 20, 0
    while not stored and time.monotonic() < deadline:
        with psycopg2.connect(secret["tracker-store-url"]) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM events")
            stored = cur.fetchone()[0]
        time.sleep(0.5)
    assert stored > 0, "the turn is in the shared PostgreSQL tracker store"
    assert pods["notifier"].proc.poll() is None, f"the notifier stopped in production mode\n{_tail(var)}"
