"""What the KPI rollup's triggers cost a write: the case store's create, answer and escalation
sweep timed with the triggers live and paused, on SQLite and PostgreSQL, into scratch databases
that already hold a seeded history (so the cells the triggers recompute are realistically full).

    .venv/bin/python bench/rollup_write_cost.py                    # 20,000 seeded, 300 writes each way
    .venv/bin/python bench/rollup_write_cost.py --seeded 100000 --writes 500

The PostgreSQL database is bekh_rollup_write_bench on TEST_POSTGRES_URL's server (dropped and made
again). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BEKH_ENV", "dev")

from sqlalchemy import create_engine

from bot.settings import get_settings
from case_store import kpi_rollup, sla
from case_store.catalogue import Catalogue
from case_store.db import Database, sync_url
from case_store.migrate import upgrade
from case_store.schemas import StatusInput, parse_create
from case_store.seed import seed
from case_store.service import CaseService

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "bekh_rollup_write_bench"


def _set_paused(url: str, paused: bool) -> None:
    engine = create_engine(sync_url(url), future=True)
    with engine.begin() as conn:
        if paused:
            kpi_rollup.pause(conn)
        else:
            from bot.settings import local_timezone

            kpi_rollup.rebuild(conn, local_timezone())
    engine.dispose()


async def _writes(url: str, n: int, tag: str) -> dict[str, list[float]]:
    db = Database(url)
    settings = get_settings()
    catalogue = Catalogue.load()
    service = CaseService(db, catalogue, sla.load(settings.timezone), settings.case_store_encryption_key)
    entities = [e for e in catalogue.entities if e.sector][:20]
    times: dict[str, list[float]] = {"create": [], "answer": []}
    now = dt.datetime.now(dt.timezone.utc)
    refs = []
    try:
        for i in range(n):
            e = entities[i % len(entities)]
            data, anonymous = parse_create({
                "type": "inquiry", "sector": e.sector, "entity": e.id, "importance": "normal",
                "description": "bench", "language": "ar", "channel": "sms", "requester_id": f"sms_{tag}{i:030d}"})
            t0 = time.perf_counter()
            created = await service.create(data, anonymous, f"bench-{tag}-{i}", now=now)
            times["create"].append(time.perf_counter() - t0)
            refs.append(created.request["reference"])
        for ref in refs:
            await service.set_status(ref, StatusInput("in_progress", "bench"), now=now)
            t0 = time.perf_counter()
            await service.set_status(ref, StatusInput("answered", "bench", answer="x"), now=now + dt.timedelta(hours=5))
            times["answer"].append(time.perf_counter() - t0)
    finally:
        await db.dispose()
    return times


def measure(url: str, seeded: int, writes: int) -> None:
    upgrade(url)
    seed(url, seeded, seed_value=3, days=120)
    for paused in (True, False):
        _set_paused(url, paused)
        t = asyncio.run(_writes(url, writes, "p" if paused else "l"))
        label = "triggers paused" if paused else "triggers live  "
        print(f"  {label}: create median {statistics.median(t['create']) * 1000:5.1f} ms, "
              f"answer median {statistics.median(t['answer']) * 1000:5.1f} ms")
    _set_paused(url, False)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeded", type=int, default=20_000)
    p.add_argument("--writes", type=int, default=300)
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"SQLite, {args.seeded:,} seeded requests over 120 days")
        measure(f"sqlite:///{tmp}/cases.db", args.seeded, args.writes)
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = psycopg2.connect(PG_ADMIN, connect_timeout=3)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{PG_DB}"')
        cur.execute(f'CREATE DATABASE "{PG_DB}"')
    print(f"PostgreSQL, {args.seeded:,} seeded requests over 120 days")
    measure(make_url(PG_ADMIN).set(database=PG_DB).render_as_string(hide_password=False), args.seeded, args.writes)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{PG_DB}"')
    admin.close()
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
