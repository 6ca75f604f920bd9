"""Turn cost of our gateway beside stock Rasa's starter bot, started and measured in the same run.

    .venv/bin/python bench/turn_load.py                    # everything below
    .venv/bin/python bench/turn_load.py --skip-stock       # ours only
    .venv/bin/python bench/turn_load.py --filings 40 --long 300
    .venv/bin/python bench/turn_load.py --skip-stock --filings 0 --long 0 --scale 1,2   # HAProxy scale-out

Stock: `rasa init --no-prompt` into a temporary folder (trains the "moodbot"), then `rasa run`
with its REST channel. Floor: the same starter bot's data trained with no model at all (a keyword
classifier, the rule and memoization policies): what Rasa's own machinery costs a turn, so the most
turns/s any bot on Rasa's processor can reach here (--no-floor skips it). Ours: the whole system (tests/e2e/harness.start_system) over our REST
channel. The same four short messages, fresh conversations, 1 and 10 concurrent users; then, ours
only: N concurrent filing conversations (every one must get its reference, none doubled), the
cost of a turn late in a long conversation against an early one, and each Rasa process's RSS.
Each short-message row also prints the Rasa process's CPU per turn (/proc, 10 ms ticks) and how
busy it was: 100% is one core, all that Rasa's single event loop can use.
The machine is noisy: read the ratios, not the absolute figures. Never part of the pass/fail suite.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests

SHORT = ("hello", "yes", "no", "bye")
# A suggestion that names its body fills entity and description from the opening; then the
# phone question ("no"), the summary ("yes"), goodbye.
FILING = ("hello", "I suggest that the Greater Amman Municipality plants more trees along Zahran street",
          "no", "yes", "bye")

REFERENCE = re.compile(r"\b\d{3} \d{3} \d{4}\b")  # a reference as the bot shows it (482 910 3756)


@dataclass
class Target:
    name: str
    url: str
    token: str | None
    pid: int

    def post(self, session: requests.Session, sender: str, text: str) -> list[dict]:
        params = {"token": self.token} if self.token else None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        r = session.post(f"{self.url}/webhooks/rest/webhook", params=params, headers=headers,
                         json={"sender": sender, "message": text}, timeout=60)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# Rasa with no machine learning at all: the starter bot's own data, a keyword classifier and the
# rule and memoization policies. Its turns are what Rasa 3.6's own machinery costs (Sanic, the
# REST channel, the lock and tracker stores, the processor, the policy ensemble, an utterance)
# with nothing to compute: a ceiling on the turns/s of any bot run by Rasa's processor on this
# machine, ours included, since ours runs that machinery and more.
FLOOR_CONFIG = """recipe: default.v1
language: en
assistant_id: bench-floor
pipeline:
  - name: WhitespaceTokenizer
  - name: KeywordIntentClassifier
policies:
  - name: MemoizationPolicy
  - name: RulePolicy
"""


def init_stock(workdir: Path, floor: bool) -> None:
    from bot.launcher import RASA

    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    print("stock: rasa init --no-prompt (trains the starter bot)...", flush=True)
    with open(workdir / "init.log", "wb") as log:
        subprocess.run([RASA, "init", "--no-prompt", "--init-dir", str(workdir)], cwd=workdir, env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True, timeout=900)
        if floor:
            print("floor: the starter bot's data trained with no model (keywords, rules, memoization)...", flush=True)
            (workdir / "floor_config.yml").write_text(FLOOR_CONFIG)
            subprocess.run([RASA, "train", "--config", "floor_config.yml", "--out", "floor_models", "--fixed-model-name", "floor"],
                           cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=900)


def start_rasa(workdir: Path, name: str, model: str) -> tuple[subprocess.Popen, Target]:
    from bot.launcher import RASA, free_port

    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    port = free_port()
    log = open(workdir / f"run-{name}.log", "wb")  # noqa: SIM115 - owned by the child for its lifetime
    proc = subprocess.Popen([RASA, "run", "--enable-api", "--interface", "127.0.0.1", "--port", str(port), "-m", model],
                            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} rasa did not start; see {workdir / f'run-{name}.log'}")
        time.sleep(0.5)
    return proc, Target(name, f"http://127.0.0.1:{port}", None, proc.pid)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else latencies * 19
    return statistics.median(latencies) * 1000, q[18] * 1000


def short_load(target: Target, users: int, conversations_per_user: int) -> dict[str, float]:
    def user(_: int) -> list[float]:
        out = []
        with requests.Session() as s:
            for _c in range(conversations_per_user):
                sender = f"bench-{uuid.uuid4().hex}"
                for text in SHORT:
                    t0 = time.perf_counter()
                    target.post(s, sender, text)
                    out.append(time.perf_counter() - t0)
        return out

    cpu0, t0 = cpu_seconds(target.pid), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(users) as pool:
        lat = [x for xs in pool.map(user, range(users)) for x in xs]
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(target.pid) - cpu0
    p50, p95 = percentiles(lat)
    # The Rasa process's CPU per turn, and how busy it was (100% = one core: its event loop is one thread).
    return {"turns": len(lat), "turns_per_s": len(lat) / wall, "p50": p50, "p95": p95,
            "cpu_ms": 1000 * cpu / len(lat), "busy": 100 * cpu / wall}


def filing_load(system: object, target: Target, n: int) -> dict[str, float]:
    from tests.e2e.harness import RunningSystem

    assert isinstance(system, RunningSystem)
    before = {r["reference"] for r in system.case_store_requests()}

    def citizen(_: int) -> tuple[list[float], bool]:
        sender = f"filing-{uuid.uuid4().hex}"
        out, got_reference = [], False
        with requests.Session() as s:
            for text in FILING:
                t0 = time.perf_counter()
                replies = target.post(s, sender, text)
                out.append(time.perf_counter() - t0)
                got_reference |= any(REFERENCE.search(r.get("text") or "") for r in replies)
        return out, got_reference

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        results = list(pool.map(citizen, range(n)))
    wall = time.perf_counter() - t0
    lat = [x for xs, _ in results for x in xs]
    after = system.case_store_requests()
    new = [r for r in after if r["reference"] not in before]
    p50, p95 = percentiles(lat)
    return {"turns": len(lat), "turns_per_s": len(lat) / wall, "p50": p50, "p95": p95,
            "told_reference": sum(ok for _, ok in results), "filed": len(new)}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc, in clock ticks of 10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def long_conversation(target: Target, turns: int, rounds: int = 20) -> dict[str, float]:
    """Turns 3-12 of fresh conversations against the last `rounds` turns of one `turns`-turn
    conversation. The two are measured interleaved (an early turn, a late turn, ...), so a
    machine that slows down or speeds up midway (a shared VM does) weighs on both alike; a
    sequential run's early and late medians drifted by 1.3-2x between identical runs. Also the
    Rasa process's CPU per turn of each kind (summed over its turns: /proc counts in 10 ms ticks)."""
    sender = f"long-{uuid.uuid4().hex}"
    early_lat: list[float] = []
    late_lat: list[float] = []
    cpu = {"early": 0.0, "late": 0.0}

    def turn(s: requests.Session, who: str, i: int, kind: str | None) -> None:
        c0, t0 = cpu_seconds(target.pid), time.perf_counter()
        target.post(s, who, SHORT[i % len(SHORT)])
        if kind is not None:
            (early_lat if kind == "early" else late_lat).append(time.perf_counter() - t0)
            cpu[kind] += cpu_seconds(target.pid) - c0

    with requests.Session() as s:
        for i in range(turns - rounds):
            turn(s, sender, i, None)
        fresh, position = f"fresh-{uuid.uuid4().hex}", 0
        for k in range(rounds):
            while position < 2:  # turns 1-2 of a fresh conversation are not counted
                turn(s, fresh, position, None)
                position += 1
            turn(s, fresh, position, "early")
            position += 1
            if position == 12:
                fresh, position = f"fresh-{uuid.uuid4().hex}", 0
            turn(s, sender, turns - rounds + k, "late")
    early, late = statistics.median(early_lat), statistics.median(late_lat)
    return {"early_ms": early * 1000, "late_ms": late * 1000, "ratio": late / early,
            "early_cpu_ms": 1000 * cpu["early"] / len(early_lat), "late_cpu_ms": 1000 * cpu["late"] / len(late_lat),
            "cpu_ratio": cpu["late"] / cpu["early"] if cpu["early"] else float("nan")}


def scale_out(counts: list[int], conversations: int) -> None:
    """Turns/s of 1 and 10 users through HAProxy (bot/balancer.py) over N Rasa processes, for
    each N, on fresh PostgreSQL databases and the Redis lock store (what RASA_PROCESSES needs).
    N=1 goes through HAProxy too, so the rows differ only in the processes."""
    import psycopg2

    from bot.launcher import free_port
    from tests.e2e.harness import TIMED, start_system

    admin_url = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    base = admin_url.rsplit("/", 1)[0]
    print(f"\n{'processes':<10} {'users':>5} {'turns':>6} {'turns/s':>8} {'p50 ms':>8} {'p95 ms':>8}  (through HAProxy; PostgreSQL, Redis)")
    for n in counts:
        suffix = uuid.uuid4().hex[:8]
        dbs = [f"bekh_bench_tracker_{suffix}", f"bekh_bench_cases_{suffix}"]
        admin = psycopg2.connect(admin_url)
        admin.autocommit = True
        with admin.cursor() as cur:
            for name in dbs:
                cur.execute(f"CREATE DATABASE {name}")
        system = start_system({"TRACKER_STORE_URL": f"{base}/{dbs[0]}", "CASE_STORE_DATABASE_URL": f"{base}/{dbs[1]}",
                               "LOCK_STORE_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/7"),
                               "LOCK_STORE_PREFIX": f"bench{suffix}", **TIMED}, rasa_processes=n)
        try:
            port = free_port()
            system.system.start_balancer(port)
            target = Target(f"{n} proc", f"http://127.0.0.1:{port}", system.env["RASA_TOKEN"], system.system.named["rasa"].pid)
            with requests.Session() as s:
                for url in system.system.rasa_urls:  # warm every process, not only the one HAProxy picks
                    for text in SHORT:
                        Target("warm", url, system.env["RASA_TOKEN"], 0).post(s, f"warm-{uuid.uuid4().hex}", text)
            for users in (1, 10):
                r = short_load(target, users, conversations)
                print(f"{n:<10} {users:>5} {r['turns']:>6} {r['turns_per_s']:>8.1f} {r['p50']:>8.0f} {r['p95']:>8.0f}", flush=True)
            print("  RSS: " + ", ".join(f"{name} {rss_mb(p.pid):.0f} MB" for name, p in system.system.named.items() if p.poll() is None))
        finally:
            system.stop()
            with admin.cursor() as cur:
                for name in dbs:
                    cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=5, help="conversations of 4 turns per user")
    parser.add_argument("--filings", type=int, default=40, help="concurrent filing conversations (ours)")
    parser.add_argument("--long", type=int, default=300, help="turns of the long conversation (ours)")
    parser.add_argument("--skip-stock", action="store_true")
    parser.add_argument("--no-floor", action="store_true", help="skip the starter bot run with no model (Rasa's own cost)")
    parser.add_argument("--scale", default="", help="e.g. 1,2: Rasa processes behind HAProxy, measured after the rest")
    args = parser.parse_args(argv)

    from tests.e2e.harness import TIMED, start_system

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="bekh-stock-"))
    print("ours: starting the system...", flush=True)
    system = start_system(TIMED)
    try:
        ours = Target("ours", system.rasa_url, system.env["RASA_TOKEN"], system.system.named["rasa"].pid)
        targets = [ours]
        if not args.skip_stock:
            init_stock(tmp, floor=not args.no_floor)
            others = [("stock", "models")] + ([] if args.no_floor else [("floor", "floor_models/floor.tar.gz")])
            for i, (name, model) in enumerate(others):
                proc, target = start_rasa(tmp, name, model)
                procs.append(proc)
                targets.insert(i, target)
        with requests.Session() as s:  # warm-up: first turn loads lazily on both
            for t in targets:
                for text in SHORT:
                    t.post(s, f"warm-{uuid.uuid4().hex}", text)
        rows = {}
        print(f"\n{'':<8} {'users':>5} {'turns':>6} {'turns/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/turn':>12} {'Rasa busy':>10}")
        for users in (1, 10):
            for t in targets:
                r = short_load(t, users, args.conversations)
                rows[(t.name, users)] = r
                print(f"{t.name:<8} {users:>5} {r['turns']:>6} {r['turns_per_s']:>8.1f} {r['p50']:>8.0f} {r['p95']:>8.0f} "
                      f"{r['cpu_ms']:>12.1f} {r['busy']:>9.0f}%", flush=True)
        if not args.skip_stock:
            for name in [t.name for t in targets if t.name != "stock"]:
                for users in (1, 10):
                    o, s_ = rows[(name, users)], rows[("stock", users)]
                    print(f"ratio {name}/stock at {users:>2} users: turns/s {o['turns_per_s'] / s_['turns_per_s']:.2f}x, "
                          f"p50 {o['p50'] / s_['p50']:.2f}x, p95 {o['p95'] / s_['p95']:.2f}x")
        if args.filings:
            f = filing_load(system, ours, args.filings)
            print(f"\nfiling: {args.filings} concurrent citizens, {f['turns']} turns, {f['turns_per_s']:.1f} turns/s, "
                  f"p50 {f['p50']:.0f} ms, p95 {f['p95']:.0f} ms; requests filed {f['filed']} (one per citizen: "
                  f"{args.filings}), citizens told their reference {f['told_reference']}")
        if args.long:
            lc = long_conversation(ours, args.long)
            print(f"long conversation, measured interleaved: turns 3-12 of fresh conversations {lc['early_ms']:.0f} ms, "
                  f"the last 20 of {args.long} turns {lc['late_ms']:.0f} ms (median latency, ratio {lc['ratio']:.2f}); "
                  f"Rasa CPU per turn {lc['early_cpu_ms']:.1f} / {lc['late_cpu_ms']:.1f} ms (ratio {lc['cpu_ratio']:.2f})")
        print("\nRSS: " + ", ".join(f"{t.name} rasa {rss_mb(t.pid):.0f} MB" for t in targets)
              + "; ours: " + ", ".join(f"{n} {rss_mb(p.pid):.0f} MB" for n, p in system.system.named.items() if p.poll() is None))
    finally:
        system.stop()
        for proc in procs:
            proc.terminate()
            proc.wait(30)
    if args.scale:
        scale_out([int(n) for n in args.scale.split(",")], args.conversations)
    print(json.dumps({"done": True}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
