"""Dashboard query timings: p50/p95 of every request-KPI view, on SQLite and PostgreSQL.

    .venv/bin/python bench/kpi_load.py                       # 100,000 on SQLite, 1,000,000 on PostgreSQL
    .venv/bin/python bench/kpi_load.py --sqlite-requests 20000 --pg-requests 0 --repeat 5
    .venv/bin/python bench/kpi_load.py --source raw          # the same views from the requests, no rollup

Seeds the databases with `python -m case_store seed` (or reuses them when they already hold that
many seeded requests): var/bench/kpi.db (--sqlite-path) and the PostgreSQL database bekh_kpi_bench
(--pg-database; created through TEST_POSTGRES_URL's server, default
postgresql://postgres@127.0.0.1:5432/postgres). Then times each view the dashboards show, through
the read-only connection the insights use: from the daily rollup (kpi_daily, the default) or from
the requests (--source raw, what every view did before the rollup). Target: p95 < 1 s for every
view. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BEKH_ENV", "dev")

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, make_url

from case_store.migrate import upgrade
from case_store.models import Request
from case_store.seed import SEED_KEY_PREFIX, seed
from insights import requests_kpi as kpi
from insights.case_store_source import read_only_engine
from insights.scope import OPS_ROOM, PUBLIC, Scope

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "bekh_kpi_bench"
SOURCE = "auto"  # --source


def _seeded(url: str) -> int:
    engine = read_only_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(Request).where(Request.idempotency_key.startswith(SEED_KEY_PREFIX))) or 0)
    finally:
        engine.dispose()


def prepare(url: str, n: int) -> None:
    upgrade(url)
    have = _seeded(url)
    if have >= n:
        print(f"  reusing {have:,} seeded requests")
        return
    done = seed(url, n - have, seed_value=12)
    print(f"  seeded {done.requests:,} requests (+{done.escalations:,} escalations) in {done.seconds:.1f} s "
          f"({done.requests / done.seconds:,.0f}/s)")


def pg_url(database: str = PG_DB) -> str | None:
    import psycopg2

    try:
        admin = psycopg2.connect(PG_ADMIN, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        print(f"PostgreSQL not reachable at TEST_POSTGRES_URL ({str(exc).strip().splitlines()[0]}); skipped")
        return None
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{database}"')
    admin.close()
    return make_url(PG_ADMIN).set(database=database).render_as_string(hide_password=False)


def views(top_entity: str, top_sector: str, today: dt.date) -> list[tuple[str, Callable[[Engine], Any]]]:
    year = today - dt.timedelta(days=364)
    quarter = today - dt.timedelta(days=89)
    ent, minister = Scope("entity", entity=top_entity), Scope("minister", sector=top_sector)
    src = {"source": SOURCE}
    return [
        ("ops: volume 12 mo by month", lambda e: kpi.volume(e, OPS_ROOM, year, today, "month", **src)),
        ("ops: volume 12 mo by entity", lambda e: kpi.volume(e, OPS_ROOM, year, today, "month", "entity", **src)),
        ("ops: volume 90 d by day x channel", lambda e: kpi.volume(e, OPS_ROOM, quarter, today, "day", "channel", **src)),
        ("ops: delays 12 mo by month", lambda e: kpi.delays(e, OPS_ROOM, year, today, "month", **src)),
        ("ops: delays 12 mo by sector", lambda e: kpi.delays(e, OPS_ROOM, year, today, "month", "sector", **src)),
        ("ops: satisfaction 12 mo by type", lambda e: kpi.satisfaction(e, OPS_ROOM, year, today, "month", "type", **src)),
        ("ops: league 90 d (weekly trend)", lambda e: kpi.league(e, OPS_ROOM, quarter, today, "week", **src)),
        ("ops: league 12 mo (monthly trend)", lambda e: kpi.league(e, OPS_ROOM, year, today, "month", **src)),
        ("minister: delays 12 mo by entity", lambda e: kpi.delays(e, minister, year, today, "month", "entity", **src)),
        ("entity: volume 12 mo by week", lambda e: kpi.volume(e, ent, year, today, "week", **src)),
        ("entity: delays 12 mo by pillar", lambda e: kpi.delays(e, ent, year, today, "month", "pillar", **src)),
        ("entity: satisfaction 12 mo", lambda e: kpi.satisfaction(e, ent, year, today, "month", **src)),
        ("public: volume 12 mo by entity", lambda e: kpi.volume(e, PUBLIC, year, today, "month", "entity", **src)),
        ("public: league 12 mo", lambda e: kpi.league(e, PUBLIC, year, today, "month", **src)),
        ("ops: escalations 12 mo by entity", lambda e: kpi.escalations(e, OPS_ROOM, year, today, "month", "entity", **src)),
    ]


def time_views(url: str, repeat: int) -> list[tuple[str, float, float]]:
    engine = read_only_engine(url)
    today = dt.date.today()
    with engine.connect() as conn:
        rolled = kpi._use_rollup(conn, SOURCE)
    print(f"  from {'the daily rollup (kpi_daily)' if rolled else 'the requests (no rollup)'}; "
          f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with engine.connect() as conn:
        top_entity, top_sector = conn.execute(
            select(Request.entity, Request.sector).group_by(Request.entity, Request.sector).order_by(func.count().desc()).limit(1)
        ).one()
    out = []
    for name, view in views(top_entity, top_sector, today):
        view(engine)  # warm the cache and the pool
        times, cpu = [], []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            view(engine)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        out.append((name, statistics.median(times), p95))
        # CPU of this process: all of the work on SQLite (in-process), the client's share on PostgreSQL.
        print(f"  {name:<38} p50 {statistics.median(times) * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms   "
              f"(this process's CPU: {statistics.median(cpu) * 1000:4.0f} ms)")
    print(f"  load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    engine.dispose()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sqlite-requests", type=int, default=100_000)
    p.add_argument("--pg-requests", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--sqlite-path", default=str(ROOT / "var" / "bench" / "kpi.db"))
    p.add_argument("--pg-database", default=PG_DB, help=f"on TEST_POSTGRES_URL's server (default {PG_DB})")
    p.add_argument("--source", choices=kpi.SOURCES, default="auto",
                   help="auto: the rollup when it is live; raw: the requests (the figures before the rollup)")
    args = p.parse_args()
    global SOURCE
    SOURCE = args.source
    print(f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}, {dt.datetime.now():%Y-%m-%d %H:%M}")
    worst = 0.0
    if args.sqlite_requests:
        url = f"sqlite:///{Path(args.sqlite_path).resolve()}"
        print(f"SQLite, {args.sqlite_requests:,} requests ({args.sqlite_path})")
        prepare(url, args.sqlite_requests)
        worst = max([worst] + [p95 for _, _, p95 in time_views(url, args.repeat)])
    if args.pg_requests:
        url = pg_url(args.pg_database)
        if url:
            print(f"PostgreSQL, {args.pg_requests:,} requests (database {args.pg_database})")
            prepare(url, args.pg_requests)
            worst = max([worst] + [p95 for _, _, p95 in time_views(url, args.repeat)])
    print(f"worst p95: {worst * 1000:.0f} ms ({'within' if worst < 1.0 else 'OVER'} the 1 s target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
