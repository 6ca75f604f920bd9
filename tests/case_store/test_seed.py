"""`python -m case_store seed`: refuses production and real data; writes consistent, repeatable history."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from service_fixtures import CATALOGUE, complaint
from sqlalchemy import func, select
from sqlalchemy.engine import create_engine

from bot.settings import get_settings
from case_store import sla
from case_store.catalogue import Catalogue
from case_store.constants import STATUSES, UTC
from case_store.db import Database, sync_url
from case_store.models import Request
from case_store.schemas import parse_create
from case_store.seed import SeedRefused, seed
from case_store.service import CaseService
from insights import requests_kpi as kpi
from insights.case_store_source import read_only_engine
from insights.scope import OPS_ROOM
from tests.support.case_store import query

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_seeding_writes_consistent_history(database_url: str) -> None:
    done = seed(database_url, 600, seed_value=3, days=120, now=NOW, catalogue=Catalogue.load(CATALOGUE))
    assert done.requests == 600
    assert query(database_url, "SELECT count(*) FROM requests WHERE idempotency_key LIKE 'seed:%'") == [(600,)]
    # Every escalation level reached has its log row, and nobody is ever notified.
    assert query(database_url, "SELECT sum(escalation_level) FROM requests")[0][0] == done.escalations
    assert query(database_url, "SELECT count(*) FROM escalations")[0][0] == done.escalations
    assert query(database_url, "SELECT count(*) FROM requests WHERE notify_channel IS NOT NULL OR notify_address_enc IS NOT NULL") == [(0,)]
    statuses = dict(query(database_url, "SELECT status, count(*) FROM requests GROUP BY status"))
    assert set(statuses) <= set(STATUSES) and {"answered", "closed", "rejected"} <= set(statuses)
    assert len(query(database_url, "SELECT DISTINCT channel FROM requests")) == 5
    assert {r[0] for r in query(database_url, "SELECT DISTINCT language FROM requests")} == {"ar", "en"}
    engine = create_engine(sync_url(database_url), future=True)
    with engine.connect() as conn:  # through the model's type: aware UTC on both databases
        latest = conn.scalar(select(func.max(Request.answered_at)))
        earliest = conn.scalar(select(func.min(Request.created_at)))
    engine.dispose()
    assert latest <= NOW and earliest >= NOW - dt.timedelta(days=121)
    assert query(database_url, "SELECT count(*) FROM requests WHERE rating_score IS NOT NULL AND answered_at IS NULL") == [(0,)]
    # The KPIs read it: everything received in the range is counted once.
    engine = read_only_engine(database_url)
    try:
        v = kpi.volume(engine, OPS_ROOM, dt.date(2026, 7, 1), dt.date(2026, 11, 30), "month")
    finally:
        engine.dispose()
    assert sum(r["received"] for r in v["rows"]) == 600
    # Seeding again adds to it (a seeded database may be seeded more), with fresh references.
    seed(database_url, 50, seed_value=3, days=120, now=NOW, catalogue=Catalogue.load(CATALOGUE))
    assert query(database_url, "SELECT count(*), count(DISTINCT reference), count(DISTINCT idempotency_key) FROM requests") == [(650, 650, 650)]


def test_the_same_seed_gives_the_same_history(tmp_path: Path, sqlite_template: Path) -> None:
    import shutil

    histories = []
    for name in ("a.db", "b.db"):
        shutil.copy(sqlite_template, tmp_path / name)
        url = f"sqlite:///{tmp_path / name}"
        seed(url, 200, seed_value=9, days=60, now=NOW, catalogue=Catalogue.load(CATALOGUE))
        histories.append(query(url, "SELECT reference, entity, status, created_at, due_at, escalation_level FROM requests ORDER BY id"))
    assert histories[0] == histories[1]


def test_seeding_refuses_production(sqlite_url: str) -> None:
    with pytest.raises(SeedRefused, match="BEKH_ENV=production"):
        seed(sqlite_url, 10, env="production", catalogue=Catalogue.load(CATALOGUE))
    env = {**os.environ, "BEKH_ENV": "production", "CASE_STORE_DATABASE_URL": sqlite_url}
    for secret in ("CASE_STORE_TOKEN", "CASE_STORE_ENCRYPTION_KEY", "SENDER_ID_KEY"):
        env.pop(secret, None)  # it must refuse before it even asks for the secrets
    out = subprocess.run([sys.executable, "-m", "case_store", "seed", "--requests", "10"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2 and "refusing to seed: BEKH_ENV=production" in out.stderr
    assert query(sqlite_url, "SELECT count(*) FROM requests") == [(0,)]


async def test_seeding_refuses_a_database_with_real_requests(database_url: str) -> None:
    db = Database(database_url)
    try:
        settings = get_settings()
        service = CaseService(db, Catalogue.load(CATALOGUE), sla.load(settings.timezone), settings.case_store_encryption_key)
        data, anonymous = parse_create(complaint())
        await service.create(data, anonymous, "a-real-request-0001", now=NOW)
    finally:
        await db.dispose()
    with pytest.raises(SeedRefused, match="holds 1 request"):
        seed(database_url, 10, catalogue=Catalogue.load(CATALOGUE))
    assert query(database_url, "SELECT count(*) FROM requests") == [(1,)]
