"""Load benchmark of the case store: N concurrent creates over loopback, per database.

    .venv/bin/python bench/case_store_load.py --requests 500 --concurrency 20

Starts the service itself on a temporary SQLite file, and on a temporary PostgreSQL database
when TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres) is reachable.
Prints creates/second and p50/p95 latency. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BEKH_ENV", "test")
os.environ.setdefault("BEKH_VAR_DIR", tempfile.mkdtemp(prefix="bekh-bench-"))

import aiohttp
from aiohttp import web

from bot.settings import get_settings
from case_store.app import create_app
from case_store.migrate import upgrade

CATALOGUE = ROOT / "tests" / "case_store" / "fixtures" / "catalogue.yml"
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

BODY = {
    "type": "complaint",
    "sector": "health",
    "entity": "moh",
    "pillar": "service_quality",
    "description": "Benchmark complaint: waited six hours at the emergency department.",
    "language": "en",
    "channel": "messenger",
    "requester_id": "messenger_" + "0" * 32,
    "contact_phone": "0791234567",
    "notify": {"channel": "messenger", "address": "psid-bench"},
}


async def run(database_url: str, requests: int, concurrency: int) -> tuple[float, list[float], int]:
    settings = get_settings()
    app = create_app(settings, database_url, catalogue_path=CATALOGUE if CATALOGUE.exists() else None)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    headers = {"Authorization": f"Bearer {settings.case_store_token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while not queue.empty():
            i = queue.get_nowait()
            t0 = time.perf_counter()
            async with session.post("/v1/requests", json=BODY, headers={"Idempotency-Key": f"bench-{uuid.uuid4()}-{i}"}) as r:
                await r.read()
                if r.status != 201:
                    failures += 1
            latencies.append(time.perf_counter() - t0)

    try:
        async with aiohttp.ClientSession(f"http://{host}:{port}", headers=headers, connector=connector) as session:
            started = time.perf_counter()
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
    finally:
        await runner.cleanup()
    return elapsed, latencies, failures


def report(name: str, requests: int, elapsed: float, latencies: list[float], failures: int) -> None:
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<11} {requests} creates in {elapsed:6.2f}s  {requests / elapsed:7.1f} creates/s  "
        f"p50 {q[49] * 1000:6.1f} ms  p95 {q[94] * 1000:6.1f} ms  failures {failures}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=20)
    args = p.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, {platform.system()} {platform.release()}")
    print(f"load: {args.requests} creates, concurrency {args.concurrency}, service and client in one process (loopback)")

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        report("sqlite", args.requests, *asyncio.run(run(url, args.requests, args.concurrency)))

    try:
        import psycopg2
        from sqlalchemy.engine import make_url

        admin = psycopg2.connect(PG_ADMIN, connect_timeout=3)
    except Exception as exc:
        print(f"postgresql  skipped ({type(exc).__name__})")
        return 0
    admin.autocommit = True
    name = f"bekh_bench_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        report("postgresql", args.requests, *asyncio.run(run(url, args.requests, args.concurrency)))
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
