"""The real case store, in-process on a loopback port: one home for every test that talks to it
over HTTP (the case-store and client tests, the console, the notifier, the actions).

A migrated SQLite database is made once per test process (Alembic is slow) and copied per test;
the clock is moved by hand so due dates and lookup windows are exact.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

CATALOGUE = Path(__file__).resolve().parents[1] / "case_store" / "fixtures" / "catalogue.yml"
# Centres of the test catalogue's entities (the shipped registry names entities it lacks).
CENTRES = CATALOGUE.with_name("centres.yml")
# The shipped catalogue, for tests of a body only it has (the human-rights track's preset body).
REAL_CATALOGUE = Path(__file__).resolve().parents[2] / "case_store" / "data" / "catalogue.yml"

_TEMPLATE: dict[str, Path] = {}


class Clock:
    """A clock the test moves by hand. Starts on a Sunday morning in Amman (a working day)."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime(2025, 5, 4, 7, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> dt.datetime:
        self.now += dt.timedelta(**kwargs)
        return self.now


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one SQL read on a case-store database (SQLite or PostgreSQL), as tuples."""
    from sqlalchemy import create_engine, text

    from case_store.db import sync_url

    engine = create_engine(sync_url(database_url), future=True)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def sqlite_template() -> Path:
    """A migrated, never-written database file, made once per process."""
    from case_store.migrate import upgrade

    if "db" not in _TEMPLATE or not _TEMPLATE["db"].exists():
        path = Path(tempfile.mkdtemp(prefix="case-store-template-")) / "case_store.db"
        upgrade(f"sqlite:///{path}")
        _TEMPLATE["db"] = path
    return _TEMPLATE["db"]


def migrated_sqlite(directory: Path) -> str:
    """The URL of a fresh copy of the migrated template inside `directory`."""
    target = directory / "case_store.db"
    shutil.copy(sqlite_template(), target)
    return f"sqlite:///{target}"


@dataclass
class RunningCaseStore:
    base_url: str
    token: str
    database_url: str
    clock: Clock
    app: web.Application
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return self.base_url

    @property
    def service(self) -> Any:
        from case_store.keys import SERVICE

        return self.app[SERVICE]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def db_path(self) -> Path:
        if not self.database_url.startswith("sqlite:///"):
            raise ValueError("rows() reads SQLite files only; this store runs on another database")
        return Path(self.database_url[len("sqlite:///"):])

    def rows(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        with sqlite3.connect(self.db_path) as conn:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(sql, params))

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a read on whichever database this store runs on."""
        return query(self.database_url, sql)

    def requests(self) -> list[sqlite3.Row]:
        return self.rows("SELECT * FROM requests ORDER BY id")

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_case_store(
    database_url: str, clock: Clock, catalogue: Path = CATALOGUE, *, escalation_interval: float = 0,
    campaign_paths: list[Path] | None = None,
) -> RunningCaseStore:
    """The case store's aiohttp app on a free loopback port, with the test catalogue and its centres (or
    another catalogue with the shipped centres), and when escalation_interval > 0 its scheduled sweep."""
    from bot.settings import get_settings
    from case_store.app import create_app

    settings = get_settings()
    app = create_app(settings, database_url, catalogue_path=catalogue, clock=clock, escalation_interval=escalation_interval,
                     centres_path=CENTRES if catalogue == CATALOGUE else None, campaign_paths=campaign_paths)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return RunningCaseStore(f"http://{host}:{port}", settings.case_store_token, database_url, clock, app, runner)
