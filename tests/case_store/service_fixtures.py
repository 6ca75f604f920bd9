"""Fixtures and payload helpers for the case store: a migrated database (SQLite and PostgreSQL), a
controllable clock, and the real service on a loopback port. Shared by the case_store and
backend_client test folders through their conftest.py files."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.settings import get_settings
from case_store.app import create_app
from case_store.constants import UTC
from case_store.keys import SERVICE
from case_store.migrate import upgrade
from case_store.service import CaseService

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CATALOGUE = FIXTURES / "catalogue.yml"
TABLES = ("access_log", "attachments", "timeline", "outbox", "lookup_failures", "requests")


class Clock:
    """A clock the test moves by hand. Starts on a Sunday morning in Amman (a working day)."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime(2025, 5, 4, 7, 0, tzinfo=UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> dt.datetime:
        self.now += dt.timedelta(**kwargs)
        return self.now


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once, copy per test: a fresh database without running Alembic every time."""
    path = tmp_path_factory.mktemp("template") / "case_store.db"
    upgrade(f"sqlite:///{path}")
    return path


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


@dataclass
class Running:
    base_url: str
    token: str
    database_url: str
    clock: Clock
    app: web.Application

    @property
    def service(self) -> CaseService:
        return self.app[SERVICE]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def start_service(database_url: str, clock: Clock) -> tuple[web.AppRunner, Running]:
    settings = get_settings()
    app = create_app(settings, database_url, catalogue_path=CATALOGUE, clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, Running(f"http://{host}:{port}", settings.case_store_token, database_url, clock, app)


@pytest.fixture
async def store(database_url: str, clock: Clock) -> AsyncIterator[Running]:
    runner, running = await start_service(database_url, clock)
    try:
        yield running
    finally:
        await runner.cleanup()


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
