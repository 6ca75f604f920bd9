"""Fixtures and payload helpers for the case store: a migrated database (SQLite and PostgreSQL), a
controllable clock, and the real service on a loopback port (started by tests/support/case_store.py,
the one home of that code). Shared by the case_store and backend_client test folders through their
conftest.py files."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

import tests.support.case_store as support
from case_store.migrate import upgrade
from tests.support.case_store import CATALOGUE, Clock, start_case_store

__all__ = ["CATALOGUE", "Clock", "Running", "complaint", "report", "start_case_store"]

TABLES = ("access_log", "attachments", "timeline", "outbox", "lookup_failures", "requests", "centre_rating_pillars",
          "centre_ratings")


@pytest.fixture(scope="session")
def sqlite_template() -> Path:
    """Migrate once, copy per test: a fresh database without running Alembic every time."""
    return support.sqlite_template()


@pytest.fixture(scope="session")
def postgres_migrated(postgres_url: str) -> str:
    upgrade(postgres_url)
    return postgres_url


def _truncate_postgres(url: str) -> None:
    import psycopg2

    from case_store.db import sync_url

    dsn = sync_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "case_store.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
    else:
        url = request.getfixturevalue("postgres_migrated")
        _truncate_postgres(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "case_store.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


Running = support.RunningCaseStore


@pytest.fixture
async def store(database_url: str, clock: Clock) -> AsyncIterator[Running]:
    running = await start_case_store(database_url, clock)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def http(store: Running) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(store.base_url, headers=store.headers) as session:
        yield session


def complaint(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "complaint",
        "sector": "health",
        "entity": "moh",
        "pillar": "service_quality",
        "importance": "normal",
        "description": "Waited six hours at the emergency department of the hospital",
        "language": "en",
        "channel": "messenger",
        "requester_id": "messenger_" + "a" * 32,
        "contact_phone": "0791234567",
        "notify": {"channel": "messenger", "address": "psid-1234567890"},
    }
    body.update(overrides)
    return body


def report(**overrides: object) -> dict[str, object]:
    body = complaint(
        type="report",
        pillar=None,
        description="مدير المديرية يطلب رشوة مقابل ترخيص المحل",
        language="ar",
        channel="sms",
        requester_id="sms_" + "b" * 32,
        contact_phone="0781112233",
    )
    body.pop("pillar")
    body.update(overrides)
    return body
