"""Chaos bench (issue 16): citizens keep filing while parts of the system are killed.

    .venv/bin/python bench/chaos.py                      # 30 citizens, seed 16
    .venv/bin/python bench/chaos.py --citizens 10 --rounds 2 --seed 3 --budget 600

Starts the production shape on loopback (tests/e2e/harness.start_system): PostgreSQL tracker
and case stores, the Redis lock store, two Rasa processes, the action server, the case store,
every process under bot/supervisor.Supervisor (restart with backoff, as `make run` does). Then
`--citizens` people file `--rounds` requests each, all at once, half over signed Twilio SMS, half over signed
Messenger deliveries (signed by the e2e drivers tests/e2e/test_sms_e2e.SmsUser and
test_messenger_e2e.MessengerUser), while the bench `kill -9`s the action server, then the case
store, then one Rasa process, each at a random moment (seeded), and supervision brings them back.

What a platform does, the bench does: a delivery that finds no listener (connection refused,
a 5xx) is delivered again, the same MessageSid / mid, after a pause, through the "load balancer"
(the next Rasa process in turn). What a person does, the bench does: an honest "try again"
(the service unavailable, the request not sent yet) is answered again after a pause; a message
that got no answer at all is typed again after a longer one.

Printed: turns typed, deliveries (with platform retries), turns answered, honest "try again"
answers, requests filed, duplicates, citizens left without a reference or an honest answer,
and each killed process's time to recover (kill to ready: the case store's /healthz, the action
server's /ready, Rasa's /status with the model loaded). Figures only; bounded in citizens,
turns and seconds; loopback only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests

from bot.refcode import find_candidates, is_valid_digits
from bot.supervisor import Policy, Supervisor
from tests.e2e.harness import TIMED, RunningSystem, start_system
from tests.e2e.test_messenger_e2e import MessengerUser, pick
from tests.e2e.test_sms_e2e import SmsUser, choose

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
MAX_TURNS = 30  # per citizen
PLATFORM_RETRY_PAUSE = 3.0  # Twilio / Meta deliver again after a pause
PLATFORM_RETRIES = 12
HONEST = ("ما قدرنا نرسل طلبك", "مش متاحة", "couldn't send", "unavailable right now")
DESCRIPTION = "المي مقطوعة عن حارتنا بجبل الحسين من ثلاث أيام وما حدا رد علينا، بدنا حل بسرعة. ملاحظة رقم {tag}"


def refs(text: str) -> list[str]:
    return [d for d in find_candidates(text) if is_valid_digits(d)]


class Gateway:
    """The system as a platform sees it: one public URL in front of several Rasa processes."""

    def __init__(self, running: RunningSystem) -> None:
        self.running, self.env, self.recorder = running, running.env, running.recorder
        self.urls = running.system.rasa_urls
        self._next = 0
        self._lock = threading.Lock()

    @property
    def rasa_url(self) -> str:  # round robin, like a load balancer without stickiness
        with self._lock:
            self._next += 1
            return self.urls[self._next % len(self.urls)]

    def tracker(self, sender_id: str) -> dict[str, Any]:
        last: Exception | None = None
        for url in self.urls:
            try:
                with urllib.request.urlopen(f"{url}/conversations/{sender_id}/tracker?token={self.env['RASA_TOKEN']}",
                                            timeout=20) as r:
                    return dict(json.loads(r.read()))
            except OSError as exc:
                last = exc
        raise RuntimeError(f"no Rasa process answers: {type(last).__name__}")


@dataclass
class Stats:
    typed: int = 0
    deliveries: int = 0
    refused: int = 0  # deliveries a platform had to make again
    answered: int = 0
    unanswered: int = 0
    honest: int = 0
    references: list[str] = field(default_factory=list)
    left: int = 0  # filings that ended with neither a reference nor an honest "try again"
    errors: list[str] = field(default_factory=list)


class Citizen:
    def __init__(self, gateway: Gateway, kind: str, tag: int) -> None:
        self.gw, self.kind, self.tag = gateway, kind, tag  # tag * 10 + round marks each filing's description
        self.user: Any = SmsUser(gateway) if kind == "sms" else MessengerUser(gateway)
        self.stats = Stats()
        self.seen = 0

    # -- one delivery, retried by the platform until some Rasa process takes it --
    def _deliver(self, post: Any) -> requests.Response | int | None:
        for _ in range(PLATFORM_RETRIES):
            self.stats.deliveries += 1
            try:
                result = post()
                status = result if isinstance(result, int) else result.status_code
                if status < 500:
                    return result
            except requests.RequestException:
                pass
            self.stats.refused += 1
            time.sleep(PLATFORM_RETRY_PAUSE)
        return None

    def _mine(self, r: dict[str, Any]) -> bool:
        if self.kind == "sms":
            return r["path"].endswith("/Messages.json") and r["form"].get("To") == self.user.phone
        return r["path"].endswith("/me/messages") and (r["json"] or {}).get("recipient", {}).get("id") == self.user.psid

    def _late(self, wait: float) -> str:
        """Replies sent by REST (SMS past the turn deadline; every Messenger reply)."""
        deadline, text = time.monotonic() + wait, ""
        while time.monotonic() < deadline:
            mine = [r for r in self.gw.recorder.snapshot() if self._mine(r)]
            if len(mine) > self.seen:
                time.sleep(1.0)  # the rest of the turn's messages
                mine = [r for r in self.gw.recorder.snapshot() if self._mine(r)]
                new, self.seen = mine[self.seen:], len(mine)
                return "\n".join((r["form"].get("Body") or "") if self.kind == "sms" else
                                 ((r["json"].get("message") or {}).get("text") or "") for r in new)
            time.sleep(0.2)
        return text

    def turn(self, text: str, payload: str | None = None) -> str:
        self.stats.typed += 1
        if self.kind == "sms":
            params = self.user.params(text)
            resp = self._deliver(lambda: self.user.post(params))
            if resp is None:
                return ""
            assert isinstance(resp, requests.Response)
            body = "\n".join(m.text or "" for m in ET.fromstring(resp.text).iter("Message")) if resp.status_code == 200 else ""
            return body or self._late(25.0)
        event = self.user.event(text=text, payload=payload)

        def post() -> int:
            self.user.url = f"{self.gw.rasa_url}/webhooks/messenger/webhook"
            return int(self.user.post(event))

        return self._late(30.0) if self._deliver(post) == 200 else ""

    def next_message(self, tag: int) -> tuple[str, str | None]:
        try:
            tracker = self.gw.tracker(self.user.sender_id)
        except RuntimeError:
            return "", None
        slot = (tracker.get("slots") or {}).get("requested_slot")
        if slot == "confirmed":
            return "نعم", None
        if slot == "description":
            return DESCRIPTION.format(tag=tag), None
        if slot == "contact_phone":
            return "0791234567", None
        buttons: list[dict[str, str]] = []
        for e in tracker.get("events") or []:
            if e.get("event") == "user":
                buttons = []
            elif e.get("event") == "bot" and (e.get("data") or {}).get("buttons"):
                buttons = e["data"]["buttons"]
        if not buttons:
            return "مرحبا، عندي شكوى", None
        if self.kind == "sms":
            return choose(buttons), None
        option = pick(buttons)
        return option["title"], option["payload"]

    def run(self, deadline: float, rounds: int) -> Stats:
        for round_ in range(rounds):
            if not self.file(self.tag * 10 + round_, deadline):
                self.stats.left += 1
        return self.stats

    def file(self, tag: int, deadline: float) -> bool:
        """One filing; True when it ended with a reference or, out of time, an honest answer."""
        text, payload, honest = "مرحبا، عندي شكوى", None, False
        try:
            for _ in range(MAX_TURNS):
                if time.monotonic() > deadline:
                    break
                reply = self.turn(text, payload)
                if not reply:
                    self.stats.unanswered += 1
                    honest = False
                    time.sleep(8.0)  # no answer at all: the person types again later
                else:
                    self.stats.answered += 1
                    found = refs(reply)
                    if found:
                        self.stats.references.append(found[0])
                        return True
                    honest = any(h in reply for h in HONEST)
                    if honest:
                        self.stats.honest += 1
                        time.sleep(5.0)  # "try again shortly": the person does
                text, payload = self.next_message(tag)
                if not text:
                    time.sleep(3.0)
                    text, payload = "نعم", None
        except Exception as exc:  # a figure, not a crash of the bench
            self.stats.errors.append(type(exc).__name__)
        return honest


# --- the system, supervised, and the killer --------------------------------------------------

def ready_url(running: RunningSystem, name: str) -> str:
    s = running.system
    if name == "case_store":
        return f"{s.case_store_url}/healthz"
    if name == "actions":
        return s.actions_ready_url
    port = [s.rasa_port, *s.extra_rasa_ports][0 if name == "rasa" else int(name[4:]) - 1]
    return f"http://127.0.0.1:{port}/status?token={running.env['RASA_TOKEN']}"


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def killer(running: RunningSystem, plan: list[tuple[float, str]], started: float, recovery: dict[str, float | None],
           stop: threading.Event, log: Any) -> None:
    for at, name in plan:
        while time.monotonic() - started < at and not stop.is_set():
            time.sleep(0.2)
        if stop.is_set():
            return
        proc = running.system.named[name]
        log(f"chaos: kill -9 {name} at {time.monotonic() - started:.0f}s")
        killed = time.monotonic()
        os.killpg(proc.pid, signal.SIGKILL)
        url = ready_url(running, name)
        recovery[name] = None
        time.sleep(0.5)
        while not stop.is_set() and time.monotonic() - killed < 300:
            if running.system.named[name].pid != proc.pid and is_ready(url):
                recovery[name] = time.monotonic() - killed
                log(f"chaos: {name} ready again after {recovery[name]:.1f}s")
                break
            time.sleep(0.2)


def production_shape() -> tuple[dict[str, str], Any]:
    import psycopg2

    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    suffix = uuid.uuid4().hex[:8]
    dbs = [f"bekh_chaos_tracker_{suffix}", f"bekh_chaos_cases_{suffix}"]
    with admin.cursor() as cur:
        for name in dbs:
            cur.execute(f"CREATE DATABASE {name}")
    base = PG_ADMIN.rsplit("/", 1)[0]
    env = {"TRACKER_STORE_URL": f"{base}/{dbs[0]}", "CASE_STORE_DATABASE_URL": f"{base}/{dbs[1]}",
           "LOCK_STORE_URL": REDIS_URL, "LOCK_STORE_PREFIX": f"chaos{suffix}"}

    def drop() -> None:
        with admin.cursor() as cur:
            for name in dbs:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()

    return env, drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/chaos.py", description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="requests each citizen files, one after another")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--budget", type=float, default=900.0, help="seconds the citizens have to file (at most 1800)")
    args = parser.parse_args(argv)
    if not 1 <= args.citizens <= 60 or not 1 <= args.rounds <= 5 or not 60 <= args.budget <= 1800:
        parser.error("--citizens 1..60, --rounds 1..5, --budget 60..1800")
    rng = random.Random(args.seed)
    # Each kill at a random moment while the citizens file (30 take about a minute a round on 2
    # busy cores), one after another, with room for the previous part to come back.
    t1 = rng.uniform(5, 15)
    t2 = t1 + rng.uniform(15, 25)
    t3 = t2 + rng.uniform(15, 25)
    plan = [(t1, "actions"), (t2, "case_store"), (t3, rng.choice(["rasa", "rasa2"]))]

    env, drop = production_shape()
    print("starting: 2 Rasa processes, action server, case store (PostgreSQL, Redis)...", flush=True)
    t0 = time.monotonic()
    running = start_system({**env, **TIMED}, rasa_processes=2)
    print(f"started in {time.monotonic() - t0:.0f}s", flush=True)
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    supervisor = Supervisor(Policy(first_delay=1.0), log=log)
    for name, proc in running.system.named.items():
        supervisor.add(name, lambda n=name: running.system.respawn(n), 0, proc)
    stop = threading.Event()

    def supervise() -> None:
        while not stop.is_set():
            supervisor.poll()
            time.sleep(0.2)

    gateway = Gateway(running)
    citizens = [Citizen(gateway, "sms" if i % 2 == 0 else "messenger", 1000 + i) for i in range(args.citizens)]
    recovery: dict[str, float | None] = {}
    threads = [threading.Thread(target=supervise, daemon=True)]
    started = time.monotonic()
    threads.append(threading.Thread(target=killer, args=(running, plan, started, recovery, stop, log), daemon=True))
    for t in threads:
        t.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(args.citizens) as pool:
            stats = list(pool.map(lambda c: c.run(started + args.budget, args.rounds), citizens))
        elapsed = time.monotonic() - started
        threads[1].join(timeout=max(0.0, started + t3 + 300 - time.monotonic()))
        rows = running.case_store_requests()
    finally:
        stop.set()
        supervisor.stop()
        running.stop()
        drop()

    texts = [json.dumps(r, ensure_ascii=False) for r in rows]
    tags = [c.tag * 10 + i for c in citizens for i in range(args.rounds)]
    filed = {tag: sum(1 for t in texts if f"رقم {tag}" in t) for tag in tags}
    referenced = [ref for s in stats for ref in s.references]
    rows_refs = {r.get("reference") for r in rows}
    duplicates = sum(max(0, n - 1) for n in filed.values())
    lost = [ref for ref in referenced if ref not in rows_refs]
    left = sum(s.left for s in stats)
    total = lambda attr: sum(getattr(s, attr) for s in stats)  # noqa: E731
    print(f"\nchaos bench: {args.citizens} citizens x {args.rounds} filings (SMS {sum(c.kind == 'sms' for c in citizens)}, Messenger "
          f"{sum(c.kind == 'messenger' for c in citizens)}), seed {args.seed}, {elapsed:.0f}s, kills at "
          + ", ".join(f"{name} {at:.0f}s" for at, name in plan))
    print(f"turns typed {total('typed')}; deliveries {total('deliveries')} ({total('refused')} refused and made again)")
    print(f"turns answered {total('answered')}; turns without an answer {total('unanswered')}; "
          f"honest 'try again' answers {total('honest')}")
    print(f"references given {len(referenced)}/{len(tags)} filings; requests filed {len(rows)}; duplicates {duplicates}; "
          f"references with no request (lost) {len(lost)}; filed but never told {sum(1 for n in filed.values() if n) - len(set(referenced))}")
    print(f"filings left without a reference or an honest 'try again': {left}")
    errors = [e for s in stats for e in s.errors]
    if errors:
        print(f"bench errors: {errors}")
    for name in ("actions", "case_store", plan[2][1]):
        took = recovery.get(name)
        print(f"recovery {name}: " + (f"{took:.1f}s (kill -9 to ready)" if took is not None else "NOT READY within 300s"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
