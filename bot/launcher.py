"""Start the whole system: case store, action server, Rasa server (and train first if needed).

    python -m bot.launcher train   # train only when config, domain, data or components changed
    python -m bot.launcher run     # everything (and the dashboards, insights/), on SQLite by default, supervised
    python -m bot.launcher status  # readiness of each process (`make status`)
    python -m bot.launcher endpoints  # print the endpoints.yml the environment selects

Used by `make run`, the e2e tests and the benchmarks, so all three start the same way.
Environment (README "Configuration"): TRACKER_STORE_URL, LOCK_STORE_URL, RASA_PORT, RASA_PROCESSES,
ACTION_SERVER_PORT, CASE_STORE_PORT, CASE_STORE_DATABASE_URL, RASA_TOKEN, ...
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml

from bot.settings import ROOT, VAR, env, secret
from bot.supervisor import Supervisor

MODEL_DIR = ROOT / "models"
MODEL = MODEL_DIR / "bekh.tar.gz"
FINGERPRINT = MODEL_DIR / "bekh.fingerprint"
PYTHON = sys.executable
RASA = str(Path(sys.executable).with_name("rasa"))
# What changes trained weights. bot/lang.py and bot/refcode.py back non-trainable components,
# which are loaded from code at run time, so editing them needs no retraining.
TRAINING_INPUTS = [
    "config.yml", "domain.yml", "nlu_data", "bot/nlu_components.py", "bot/intent_ensemble.py", "bot/arabic.py",
]


def fingerprint() -> str:
    h = hashlib.sha256()
    for item in TRAINING_INPUTS:
        path = ROOT / item
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for f in files:
            if f.is_file():
                h.update(str(f.relative_to(ROOT)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def train_if_needed(force: bool = False) -> Path:
    """Train when the inputs changed. Concurrent callers (tests, benches, `make run`) wait on a
    lock for one training instead of racing to write the same model file."""
    import fcntl

    MODEL_DIR.mkdir(exist_ok=True)
    with open(MODEL_DIR / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _train_locked(force)


def _train_locked(force: bool) -> Path:
    current = fingerprint()
    if not force and MODEL.exists() and FINGERPRINT.exists() and FINGERPRINT.read_text().strip() == current:
        print(f"model up to date: {MODEL.relative_to(ROOT)}", flush=True)
        return MODEL
    print("training the model (config, domain, data or NLU components changed)...", flush=True)
    MODEL_DIR.mkdir(exist_ok=True)
    cmd = [RASA, "train", "--data", "nlu_data", "--domain", "domain.yml", "--config", "config.yml",
           "--out", str(MODEL_DIR), "--fixed-model-name", "bekh", "--force"]
    subprocess.run(cmd, cwd=ROOT, check=True)
    FINGERPRINT.write_text(current)
    return MODEL


# Rasa's SQL store, sealing a confidential report while it is open and scrubbing it once filed
# (bot/tracker_store.py); by module path, so SQLite and PostgreSQL both get it.
TRACKER_STORE_TYPE = "bot.tracker_store.ConfidentialSQLTrackerStore"


def _sql_tracker(url: str, kind: str = TRACKER_STORE_TYPE, variable: str = "TRACKER_STORE_URL") -> dict[str, object]:
    if url.startswith("sqlite:///"):
        return {"type": kind, "dialect": "sqlite", "db": url[len("sqlite:///"):]}
    u = urlparse(url)
    if not u.scheme.startswith("postgres"):
        raise SystemExit(f"{variable} {url!r}: use sqlite:///path or postgresql://user@host:port/db")
    out: dict[str, object] = {"type": kind, "dialect": "postgresql", "url": u.hostname or "127.0.0.1",
                              "port": u.port or 5432, "db": (u.path or "/rasa").lstrip("/")}
    if u.username:
        out["username"] = u.username
    if u.password:
        out["password"] = u.password
    return out


DEFAULT_EVENT_QUEUE = "bekh_events"


def event_broker_url(environ: dict[str, str] | None = None) -> str:
    """Where Rasa sends conversation events for the dashboards (insights/ reads them): EVENT_BROKER_URL,
    by default Rasa's SQL broker in a SQLite file beside the tracker; `none` turns it off."""
    e = dict(os.environ) if environ is None else environ
    var = Path(e.get("BEKH_VAR_DIR") or str(VAR))
    return e.get("EVENT_BROKER_URL") or f"sqlite:///{var / 'rasa_events.db'}"


def _event_broker(url: str, queue: str) -> dict[str, object] | None:
    """Rasa's own brokers: `sql` for sqlite:/// and postgresql:// URLs, `pika` for amqp://."""
    if url == "none":
        return None
    u = urlparse(url)
    if u.scheme == "amqp":
        return {"type": "pika", "url": u.hostname or "127.0.0.1", "port": u.port or 5672, "username": u.username or "guest",
                "password": u.password or "guest", "queues": [queue]}
    return _sql_tracker(url, "sql", "EVENT_BROKER_URL")


def endpoints(action_port: int, environ: dict[str, str] | None = None) -> dict[str, object]:
    """The endpoints Rasa needs, from `environ` (the environment the Rasa processes will get)."""
    e = dict(os.environ) if environ is None else environ

    def get(name: str, default: str | None = None) -> str | None:
        return e.get(name) or default

    var = Path(get("BEKH_VAR_DIR") or str(VAR))
    tracker = get("TRACKER_STORE_URL") or f"sqlite:///{var / 'rasa_tracker.db'}"
    data: dict[str, object] = {
        "action_endpoint": {"url": get("ACTION_SERVER_URL") or f"http://127.0.0.1:{action_port}/webhook"},
        "tracker_store": _sql_tracker(tracker),
    }
    broker = _event_broker(event_broker_url(e), get("EVENT_BROKER_QUEUE", DEFAULT_EVENT_QUEUE) or DEFAULT_EVENT_QUEUE)
    if broker is not None:
        # Scrubbed events only (bot/tracker_store.py stream_events); insights/ folds and deletes them.
        data["event_broker"] = broker
    lock = get("LOCK_STORE_URL")
    if lock:
        u = urlparse(lock)
        # Our subclass of Rasa's RedisLockStore: atomic tickets across processes (bot/lock_store.py).
        data["lock_store"] = {"type": "bot.lock_store.AtomicRedisLockStore", "url": u.hostname or "127.0.0.1", "port": u.port or 6379,
                              "db": int((u.path or "/0").lstrip("/") or 0), "key_prefix": get("LOCK_STORE_PREFIX", "bekh")}
        if u.password:
            data["lock_store"]["password"] = u.password  # type: ignore[index]
    return data


def write_endpoints(action_port: int, path: Path | None = None, environ: dict[str, str] | None = None) -> Path:
    path = path or VAR / "endpoints.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(endpoints(action_port, environ), sort_keys=False))
    return path


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Until `url` answers at all (below 500): the process is up."""
    _wait(url, timeout, proc, lambda status: status < 500)


def wait_ready(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Until `url` answers 200: a readiness check answers 503 while not ready."""
    _wait(url, timeout, proc, lambda status: status == 200)


def _wait(url: str, timeout: float, proc: subprocess.Popen | None, ok: Callable[[int], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                if ok(r.status):
                    return
        except OSError:  # includes HTTPError (a 503 while not ready)
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s")


# Ports handed out for servers come from below the kernel's ephemeral range (32768-60999 on
# Linux), which outgoing connections draw from: a port picked there could be taken as the local
# end of some connection (a health check, a database client) in the seconds before the server
# binds it. Picked at random, not from the seeded `random`, and never twice in one process.
SERVER_PORTS = range(20000, 32000)
_handed_out: set[int] = set()


def free_port() -> int:
    for _ in range(200):
        port = SERVER_PORTS.start + secrets.randbelow(len(SERVER_PORTS))
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as s:  # the whole range busy: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class System:
    """The running processes; `stop()` ends them all."""

    rasa_port: int
    action_port: int
    case_store_port: int
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    log_dir: Path = VAR / "logs"
    extra_rasa_ports: list[int] = field(default_factory=list)
    # name -> (command, extra environment), so a process can be started again the same way
    specs: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    named: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def rasa_urls(self) -> list[str]:
        """Every Rasa process (several share one tracker store and one Redis lock store)."""
        return [f"http://127.0.0.1:{p}" for p in [self.rasa_port, *self.extra_rasa_ports]]

    @property
    def case_store_url(self) -> str:
        return f"http://127.0.0.1:{self.case_store_port}"

    @property
    def actions_ready_url(self) -> str:
        return f"http://127.0.0.1:{self.action_port}/ready"

    def _spawn(self, name: str, cmd: list[str], extra: dict[str, str] | None = None) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child process owns the log file for its lifetime
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**self.env, **(extra or {})}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        self.specs[name] = (cmd, dict(extra or {}))
        self.named[name] = proc
        return proc

    def respawn(self, name: str) -> subprocess.Popen:
        """Start `name` again with its original command, in its old place (stop order kept)."""
        old = self.named[name]
        cmd, extra = self.specs[name]
        new = self._spawn(name, cmd, extra)
        self.procs.remove(new)
        self.procs[self.procs.index(old)] = new
        return new

    @property
    def rasa_ports(self) -> list[int]:
        return [self.rasa_port, *self.extra_rasa_ports]

    def start_balancer(self, listen_port: int) -> subprocess.Popen:
        """HAProxy on `listen_port` in front of every Rasa process (bot/balancer.py), once they
        have loaded their model; returns when it answers."""
        from bot import balancer

        cfg = balancer.write(Path(self.env.get("BEKH_VAR_DIR", str(VAR))) / "haproxy.cfg", "127.0.0.1", listen_port,
                             [("127.0.0.1", p) for p in self.rasa_ports])
        proc = self._spawn("haproxy", balancer.command(cfg))
        self._wait_model_loaded(listen_port, proc, 60)
        return proc

    def start(self, rasa_processes: int = 1, timeout: float = 180) -> System:
        """Case store, action server and `rasa_processes` Rasa servers (0: none, for `rasa shell`)."""
        cs = self._spawn("case_store", [PYTHON, "-m", "case_store", "serve", "--host", "127.0.0.1", "--port", str(self.case_store_port)])
        # rasa-sdk's server plus GET /ready (the case store reachable): actions/server.py
        act = self._spawn("actions", [PYTHON, "-m", "actions.server", "--actions", "actions", "--port", str(self.action_port)],
                          {"SANIC_HOST": "127.0.0.1"})
        ep = write_endpoints(self.action_port, Path(self.env.get("BEKH_VAR_DIR", str(VAR))) / "endpoints.yml", self.env)
        if rasa_processes == 0:
            wait_http(f"{self.case_store_url}/healthz", 60, cs)
            wait_ready(self.actions_ready_url, 60, act)
            return self
        while len(self.extra_rasa_ports) < rasa_processes - 1:
            self.extra_rasa_ports.append(free_port())
        rasas = []
        for i, port in enumerate([self.rasa_port, *self.extra_rasa_ports]):
            rasa_cmd = [RASA, "run", "--model", str(MODEL), "--endpoints", str(ep), "--credentials", "credentials.yml",
                        "--interface", "127.0.0.1", "--port", str(port), "--enable-api",
                        # One argument: a generated token may start with "-" (token_urlsafe), which
                        # argparse would take for an option after a separate "--auth-token".
                        f"--auth-token={self.env['RASA_TOKEN']}"]
            rasas.append((port, self._spawn("rasa" if i == 0 else f"rasa{i + 1}", rasa_cmd)))
        wait_http(f"{self.case_store_url}/healthz", 60, cs)
        wait_ready(self.actions_ready_url, 60, act)
        for port, rasa in rasas:
            self._wait_model_loaded(port, rasa, timeout)
        return self

    def _wait_model_loaded(self, port: int, rasa: subprocess.Popen, timeout: float) -> None:
        # "/" answers before the model is loaded; /status (authenticated) answers after.
        deadline = time.monotonic() + timeout
        while True:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/status?token={self.env['RASA_TOKEN']}")
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if rasa.poll() is not None:
                raise RuntimeError(f"rasa on port {port} exited while loading the model; see {self.log_dir}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"rasa on port {port} did not load the model in time")
            time.sleep(0.5)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.procs.clear()


def system_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    base = dict(os.environ)
    base.setdefault("RASA_TOKEN", secret("RASA_TOKEN"))
    base.setdefault("CASE_STORE_TOKEN", secret("CASE_STORE_TOKEN"))
    base.setdefault("SENDER_ID_KEY", secret("SENDER_ID_KEY"))
    base.setdefault("CASE_STORE_ENCRYPTION_KEY", secret("CASE_STORE_ENCRYPTION_KEY"))
    base.setdefault("AGENT_CONSOLE_INTERNAL_TOKEN", secret("AGENT_CONSOLE_INTERNAL_TOKEN"))
    base["PYTHONPATH"] = str(ROOT) + (os.pathsep + base["PYTHONPATH"] if base.get("PYTHONPATH") else "")
    base.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    base["RASA_TELEMETRY_ENABLED"] = "false"  # no usage data or crash reports leave the machine
    base.update(overrides or {})
    return base


# Stop order for the supervisor: entry points first, so turns in flight finish against live backends.
STOP_ORDER = {"case_store": 0, "actions": 1, "notifier": 2, "insights": 2, "haproxy": 4}  # HAProxy (RASA_PROCESSES > 1) before Rasa
RASA_ORDER = 3
STATE_FILE = VAR / "processes.json"


def health(system_ports: dict[str, int], rasa_token: str | None) -> list[tuple[str, str, bool, str]]:
    """(process, check, ok, detail) for every process that has an HTTP port.

    Readiness: the case store reached its database (/healthz runs SELECT 1); Rasa has loaded its
    model (/status needs the token and answers only once the model is in); the action server
    reaches the case store (/ready, actions/server.py; its liveness is /health). Liveness is the
    same request answering at all."""
    checks = [
        ("case_store", f"http://127.0.0.1:{system_ports['case_store']}/healthz", "database reachable"),
        ("actions", f"http://127.0.0.1:{system_ports['actions']}/ready", "case store reachable"),
        ("rasa", f"http://127.0.0.1:{system_ports['rasa']}/status?token={rasa_token or ''}", "model loaded"),
    ]
    if "insights" in system_ports:  # `make run` starts it; the e2e systems need not
        checks.append(("insights", f"http://127.0.0.1:{system_ports['insights']}/healthz", "dashboards' databases reachable"))
    out = []
    for name, url, what in checks:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                out.append((name, what, r.status == 200, f"HTTP {r.status}"))
        except urllib.error.HTTPError as exc:
            out.append((name, what, False, f"HTTP {exc.code}"))
        except OSError as exc:
            out.append((name, what, False, type(exc).__name__))
    return out


def _ports_from_env() -> dict[str, int]:
    return {"rasa": int(env("RASA_PORT", "5005") or 5005), "actions": int(env("ACTION_SERVER_PORT", "5055") or 5055),
            "case_store": int(env("CASE_STORE_PORT", "8800") or 8800), "insights": int(env("INSIGHTS_PORT", "8900") or 8900)}


def _stop_on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt  # the same orderly stop as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.launcher")
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--force", action="store_true")
    sub.add_parser("run")
    sub.add_parser("endpoints")
    sub.add_parser("status")
    args = parser.parse_args(argv)
    if args.cmd == "train":
        train_if_needed(force=args.force)
        return 0
    if args.cmd == "endpoints":
        print(yaml.safe_dump(endpoints(int(env("ACTION_SERVER_PORT", "5055") or 5055)), sort_keys=False))
        return 0
    if args.cmd == "status":
        rows = health(_ports_from_env(), secret("RASA_TOKEN"))
        state = json.loads(STATE_FILE.read_text()) if STATE_FILE.exists() else {}
        for name, what, ok, detail in rows:
            s = state.get(name, {})
            extra = f"  pid {s['pid']}, restarts {s['restarts']}{', CRASH LOOP' if s.get('crash_loop') else ''}" if s else ""
            print(f"{name:<11} {'ready' if ok else 'NOT READY':<10} {what} ({detail}){extra}")
        return 0 if all(ok for *_, ok, _ in rows) else 1
    from bot import balancer

    ports = _ports_from_env()
    e = system_env({"RASA_URL": f"http://127.0.0.1:{ports['rasa']}"})
    processes = max(1, int(env("RASA_PROCESSES", "1") or 1))
    balancer.check_shared_stores(e, processes)
    if processes > 1:
        balancer.haproxy_binary()  # before training: say what is missing first
    train_if_needed()
    # With several Rasa processes, HAProxy takes RASA_PORT and the processes get free ports.
    system = System(rasa_port=ports["rasa"] if processes == 1 else free_port(), action_port=ports["actions"],
                    case_store_port=ports["case_store"], env=e)
    supervisor = Supervisor(state_file=STATE_FILE)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        system.start(rasa_processes=processes)
        if processes > 1:
            system.start_balancer(ports["rasa"])
        # The notifier sends case-store updates to citizens on the channel they used.
        system._spawn("notifier", [PYTHON, "-m", "channels.notifier", "--interval", env("NOTIFIER_INTERVAL", "5") or "5"])
        # The dashboards, and the reader of Rasa's event broker that feeds their conversation figures.
        system._spawn("insights", [PYTHON, "-m", "insights", "serve", "--host", "127.0.0.1", "--port", str(ports["insights"])])
        for name, proc in system.named.items():
            supervisor.add(name, lambda n=name: system.respawn(n), STOP_ORDER.get(name, RASA_ORDER), proc)
        rasa_at = f"http://127.0.0.1:{ports['rasa']}" + (f" (HAProxy over {processes} Rasa processes)" if processes > 1 else "")
        print(f"ready: Rasa {rasa_at}  actions :{system.action_port}  case store {system.case_store_url}", flush=True)
        print(f"dashboards: http://127.0.0.1:{ports['insights']}/public (citizens), /login (operations room, ministers, "
              "entities; accounts: python -m channels.agents create NAME --role ops_room)", flush=True)
        print(f"logs in {system.log_dir}; a crashed process is restarted; Ctrl-C or SIGTERM stops everything", flush=True)
        while True:
            supervisor.poll()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping: Rasa first (turns in flight finish), then the notifier, actions, case store", flush=True)
        return 0
    finally:
        supervisor.stop()
        system.stop()


if __name__ == "__main__":
    raise SystemExit(main())
