"""Does a lookup's time tell whether a reference exists? (issue 10, item 9)

    .venv/bin/python bench/lookup_timing.py --runs 300 [--database postgresql]

Starts the case store in-process over loopback on a temporary SQLite file (or a temporary
PostgreSQL database), files `--runs` requests, then times, one after the other and interleaved,
a lookup of an existing reference with a wrong proof and of an unknown reference with the same
proof (a fresh reference each time, so the failed-lookup limit never answers 429). Prints the
median and p90 of each, and the gap. Sequential on purpose: concurrency would measure queueing.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The load bench's preamble (test settings, a temporary var dir) and its fixture paths: one copy.
import aiohttp
from aiohttp import web
from case_store_load import CATALOGUE, PG_ADMIN

from bot import refcode
from bot.settings import get_settings
from case_store.app import create_app
from case_store.migrate import upgrade

BODY = {
    "type": "complaint",
    "sector": "health",
    "entity": "moh",
    "pillar": "service_quality",
    "description": "Timing benchmark complaint.",
    "language": "en",
    "channel": "messenger",
    "requester_id": "messenger_" + "0" * 32,
    "contact_phone": "0791234567",
    "attachments": [{"url": "https://example.org/a.jpg", "media_type": "image/jpeg"}],
}
WRONG_PROOF = {"X-Verify-Phone-Tail": "0000"}


async def run(database_url: str, runs: int) -> dict[str, list[float]]:
    settings = get_settings()
    app = create_app(settings, database_url, catalogue_path=CATALOGUE)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    times: dict[str, list[float]] = {"existing, wrong proof": [], "unknown": []}
    headers = {"Authorization": f"Bearer {settings.case_store_token}"}
    try:
        async with aiohttp.ClientSession(f"http://{host}:{port}", headers=headers) as http:
            refs = []
            for _ in range(runs):
                async with http.post("/v1/requests", json=BODY, headers={"Idempotency-Key": f"t-{uuid.uuid4()}"}) as r:
                    assert r.status == 201, r.status
                    refs.append((await r.json())["reference"])
            for _ in range(20):  # warm-up: pools, caches, compiled statements
                async with http.get(f"/v1/requests/{refcode.generate()}", headers=WRONG_PROOF) as r:
                    await r.read()
            for ref in refs:
                for label, target in (("existing, wrong proof", ref), ("unknown", refcode.generate())):
                    t0 = time.perf_counter()
                    async with http.get(f"/v1/requests/{target}", headers=WRONG_PROOF) as r:
                        await r.read()
                        assert r.status == 404, r.status
                    times[label].append((time.perf_counter() - t0) * 1000)
    finally:
        await runner.cleanup()
    return times


def _postgres_database() -> tuple[str, str]:
    import psycopg2
    from sqlalchemy.engine import make_url

    name = f"bekh_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_ADMIN, connect_timeout=3)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return name, make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def _drop(name: str) -> None:
    import psycopg2

    admin = psycopg2.connect(PG_ADMIN, connect_timeout=3)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    pg_name = None
    if args.database == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='bekh-timing-')}/case_store.db"
    else:
        pg_name, url = _postgres_database()
    try:
        upgrade(url)
        times = asyncio.run(run(url, args.runs))
    finally:
        if pg_name:
            _drop(pg_name)
    print(f"lookup timing, {args.database}, {args.runs} lookups each, Python {platform.python_version()}")
    medians = {}
    for label, values in times.items():
        values.sort()
        medians[label] = statistics.median(values)
        p90 = values[int(0.9 * (len(values) - 1))]
        print(f"  {label:<22} median {medians[label]:6.2f} ms   p90 {p90:6.2f} ms")
    gap = medians["existing, wrong proof"] - medians["unknown"]
    print(f"  gap of the medians     {gap:+6.2f} ms")


if __name__ == "__main__":
    main()
