"""Several Rasa processes behind Debian's HAProxy (bot/balancer.py, RASA_PROCESSES): the rendered
configuration, the shared stores it insists on, and the launcher starting a real HAProxy in front
of stand-in Rasa servers on loopback (one of them down)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import balancer, launcher

TOKEN = "balancer-test-token-0123456789"


def _haproxy() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if not found:
        if os.environ.get("CI"):
            pytest.fail("HAProxy is required on CI (make system-deps)")
        pytest.skip("HAProxy not installed (make system-deps)")
    return found


def test_the_configuration_balances_over_every_process_and_checks_they_loaded_their_model(tmp_path: Path) -> None:
    cfg = balancer.write(tmp_path / "haproxy.cfg", "127.0.0.1", 5005, [("127.0.0.1", 5101), ("127.0.0.1", 5102)])
    text = cfg.read_text()
    assert "bind 127.0.0.1:5005" in text
    assert "server rasa1 127.0.0.1:5101 check" in text and "server rasa2 127.0.0.1:5102 check" in text
    assert 'uri "/status?token=${RASA_TOKEN}"' in text and "expect status 200" in text
    assert "retry-on conn-failure\n" in text, "a request that may have reached Rasa is never sent twice"
    assert "\n    log " not in text and "\nlog " not in text, "no request lines (paths carry conversation ids)"
    out = subprocess.run([_haproxy(), "-c", "-f", str(cfg)], env={**os.environ, "RASA_TOKEN": TOKEN},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert TOKEN not in cfg.read_text()
    with pytest.raises(ValueError):
        balancer.render("127.0.0.1", 5005, [])


@pytest.mark.parametrize(("environ", "needs"), [
    ({}, "LOCK_STORE_URL"),
    ({"LOCK_STORE_URL": "redis://127.0.0.1:6379/0"}, "TRACKER_STORE_URL"),
    ({"LOCK_STORE_URL": "redis://127.0.0.1:6379/0", "TRACKER_STORE_URL": "sqlite:///var/rasa_tracker.db"}, "TRACKER_STORE_URL"),
])
def test_several_processes_need_the_redis_lock_store_and_a_shared_tracker_store(environ: dict[str, str], needs: str) -> None:
    balancer.check_shared_stores(environ, 1)  # one process: anything goes
    with pytest.raises(SystemExit, match=needs):
        balancer.check_shared_stores(environ, 2)
    balancer.check_shared_stores({"LOCK_STORE_URL": "redis://r:6379/0", "TRACKER_STORE_URL": "postgresql://u@db/rasa"}, 3)


def test_make_run_refuses_two_processes_on_sqlite_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_PROCESSES", "2")
    monkeypatch.delenv("LOCK_STORE_URL", raising=False)
    monkeypatch.setattr(launcher, "train_if_needed", lambda *a, **k: pytest.fail("trained before checking the stores"))
    with pytest.raises(SystemExit, match="LOCK_STORE_URL"):
        launcher.main(["run"])


class _StandIn(http.server.BaseHTTPRequestHandler):
    """A Rasa process as HAProxy sees it: /status with the token, and the REST webhook."""

    def do_GET(self) -> None:
        ok = self.path == f"/status?token={TOKEN}"
        self._answer(200 if ok else 401, {"name": self.server.name})  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self._answer(200, [{"recipient_id": body.get("sender"), "text": self.server.name}])  # type: ignore[attr-defined]

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stand_ins() -> Iterator[list[http.server.ThreadingHTTPServer]]:
    servers = []
    for name in ("one", "two"):
        s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
        s.name = name  # type: ignore[attr-defined]
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
    yield servers
    for s in servers:
        s.shutdown()
        s.server_close()


def _post(port: int, sender: str) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/rest/webhook", method="POST",
                                 data=json.dumps({"sender": sender, "message": "hi"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())[0]["text"])


def test_the_launcher_starts_haproxy_in_front_of_every_rasa_process(tmp_path: Path, stand_ins: list[http.server.ThreadingHTTPServer]) -> None:
    _haproxy()
    one, two = (s.server_address[1] for s in stand_ins)
    system = launcher.System(rasa_port=one, action_port=0, case_store_port=0, env={**os.environ, "RASA_TOKEN": TOKEN,
                             "BEKH_VAR_DIR": str(tmp_path)}, log_dir=tmp_path / "logs", extra_rasa_ports=[two])
    listen = launcher.free_port()
    try:
        proc = system.start_balancer(listen)
        assert system.named["haproxy"] is proc and proc.poll() is None
        assert TOKEN not in (tmp_path / "haproxy.cfg").read_text()
        served = {_post(listen, f"s{i}") for i in range(20)}
        assert served == {"one", "two"}, "both processes get turns"
        stand_ins[1].shutdown()
        stand_ins[1].server_close()
        served = {_post(listen, f"t{i}") for i in range(20)}
        assert served == {"one"}, "a process that is down gets no turn (its connection fails, HAProxy tries the other)"
    finally:
        system.stop()
    assert proc.poll() is not None
