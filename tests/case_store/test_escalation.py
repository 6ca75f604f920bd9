"""Escalation that runs by itself: the log and the next level's notice, the schedule inside the
case-store process, and exactly one escalation when several replicas sweep the same PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from service_fixtures import CATALOGUE, Clock, Running, complaint, start_case_store
from sqlalchemy import update
from sqlalchemy.engine import create_engine

from bot.launcher import free_port, wait_http
from bot.settings import ConfigError, get_settings
from case_store import sla
from case_store.catalogue import Catalogue
from case_store.db import Database, sync_url
from case_store.escalation import interval_from_env
from case_store.models import Request
from case_store.service import CaseService
from tests.support.case_store import query

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = {"channel": "sms", "address": "+962790000101"}  # jfda, level 1, in the test catalogue


async def create(http: aiohttp.ClientSession, **overrides: object) -> str:
    async with http.post("/v1/requests", json=complaint(**overrides), headers={"Idempotency-Key": uuid.uuid4().hex}) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["reference"])


async def outbox(http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with http.get("/v1/outbox", params={"limit": "500"}) as resp:
        assert resp.status == 200
        return list((await resp.json())["events"])


async def test_each_escalation_is_logged_and_the_next_level_gets_a_notice(
    store: Running, http: aiohttp.ClientSession, clock: Clock
) -> None:
    jfda = await create(http, entity="jfda", description="The pharmacy inspector never came")
    moh = await create(http)  # moh has no escalation contacts in the test catalogue
    clock.advance(days=60)
    assert sorted(await store.service.escalate_overdue()) == sorted([jfda, moh])

    logged = query(store.database_url, "SELECT r.reference, e.level, e.entity, e.contact_role, e.actor "
                                      "FROM escalations e JOIN requests r ON r.id = e.request_id ORDER BY r.reference")
    assert sorted(logged) == sorted([(jfda, 1, "jfda", "director_general", "system:sla"), (moh, 1, "moh", None, "system:sla")])

    events = [e for e in await outbox(http) if e["event"] in ("escalated", "official_notice")]
    assert sorted((e["reference"], e["event"]) for e in events) == sorted(
        [(jfda, "escalated"), (jfda, "official_notice"), (moh, "escalated")])
    notice = next(e for e in events if e["event"] == "official_notice")
    assert notice["payload"]["notify"] == OFFICIAL
    assert notice["payload"]["escalation_level"] == 1 and notice["payload"]["language"] == "ar"
    assert notice["payload"]["entity_name"] == "المؤسسة العامة للغذاء والدواء"
    assert "pharmacy" not in str(notice) and "official" not in notice["payload"]
    citizen = next(e for e in events if e["event"] == "escalated" and e["reference"] == jfda)
    assert citizen["payload"]["notify"] == {"channel": "messenger", "address": "psid-1234567890"}

    # The next sweep in the same due period finds nothing; the next period goes to level 2.
    assert await store.service.escalate_overdue() == []
    clock.advance(days=60)
    await store.service.escalate_overdue()
    assert query(store.database_url, "SELECT level, contact_role FROM escalations WHERE entity = 'jfda' ORDER BY level") == [
        (1, "director_general"), (2, "minister_office")]


@pytest.fixture
async def scheduled(sqlite_url: str, clock: Clock) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    running = await start_case_store(sqlite_url, clock, escalation_interval=0.05)
    try:
        async with aiohttp.ClientSession(running.base_url, headers=running.headers) as s:
            yield sqlite_url, s
    finally:
        await running.stop()


async def test_the_case_store_escalates_on_its_own_schedule(scheduled: tuple[str, aiohttp.ClientSession], clock: Clock) -> None:
    url, http = scheduled
    ref = await create(http, entity="jfda")
    await asyncio.sleep(0.3)
    assert [e["event"] for e in await outbox(http)] == ["created"]  # not due yet: nothing happens
    clock.advance(days=60)
    for _ in range(100):
        if any(e["event"] == "official_notice" for e in await outbox(http)):
            break
        await asyncio.sleep(0.05)
    assert sorted(e["event"] for e in await outbox(http)) == ["created", "escalated", "official_notice"]
    assert query(url, "SELECT level FROM escalations") == [(1,)]
    assert ref


def test_the_sweep_interval_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASE_STORE_ESCALATION_INTERVAL", raising=False)
    assert interval_from_env() == 300.0
    monkeypatch.setenv("CASE_STORE_ESCALATION_INTERVAL", "0")
    assert interval_from_env() == 0.0
    for bad in ("soon", "-5", "nan"):
        monkeypatch.setenv("CASE_STORE_ESCALATION_INTERVAL", bad)
        with pytest.raises(ConfigError, match="CASE_STORE_ESCALATION_INTERVAL"):
            interval_from_env()


# --- one escalation across replicas (PostgreSQL) ---------------------------------------------------


def _service(url: str) -> tuple[Database, CaseService]:
    db = Database(url)
    settings = get_settings()
    return db, CaseService(db, Catalogue.load(CATALOGUE), sla.load(settings.timezone), settings.case_store_encryption_key)


def _overdue_everything(url: str) -> None:
    engine = create_engine(sync_url(url), future=True)
    with engine.begin() as conn:
        conn.execute(update(Request).values(due_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)))
    engine.dispose()


async def test_replicas_sweeping_at_the_same_moment_escalate_each_request_once(postgres_migrated: str, clock: Clock) -> None:
    """Four services (four engines, as four replicas) sweep at once, ten times over. Without the
    advisory lock two of them escalate the same requests and the citizens hear twice."""
    url = postgres_migrated
    store = await start_case_store(url, clock)
    try:
        async with aiohttp.ClientSession(store.base_url, headers=store.headers) as http:
            refs = [await create(http, entity="jfda") for _ in range(15)]
    finally:
        await store.stop()
    replicas = [_service(url) for _ in range(4)]
    try:
        for _ in range(10):
            _overdue_everything(url)
            await asyncio.gather(*(service.escalate_overdue() for _, service in replicas))
    finally:
        for db, _ in replicas:
            await db.dispose()
    counts = dict(query(url, "SELECT r.reference, count(*) FROM escalations e JOIN requests r ON r.id = e.request_id "
                            f"WHERE r.reference IN ({', '.join(repr(r) for r in refs)}) GROUP BY r.reference"))
    levels = dict(query(url, f"SELECT reference, escalation_level FROM requests WHERE reference IN ({', '.join(repr(r) for r in refs)})"))
    notices = query(url, f"SELECT event, count(*) FROM outbox WHERE event IN ('escalated', 'official_notice') "
                        f"AND reference IN ({', '.join(repr(r) for r in refs)}) GROUP BY event ORDER BY event")
    assert set(counts.values()) == {10} and set(levels.values()) == {10}
    assert notices == [("escalated", 150), ("official_notice", 150)]


@pytest.fixture
def two_processes(postgres_migrated: str) -> Iterator[tuple[str, list[str]]]:
    url = postgres_migrated
    ports = [free_port(), free_port()]
    env = {**os.environ, "CASE_STORE_DATABASE_URL": url, "CASE_STORE_CATALOGUE": str(CATALOGUE),
           "CASE_STORE_CENTRES": str(CATALOGUE.with_name("centres.yml")),
           "CASE_STORE_ESCALATION_INTERVAL": "0.2", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "case_store", "serve", "--port", str(p)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for p in ports]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for base, proc in zip(bases, procs):
            wait_http(f"{base}/healthz", 90, proc)
        yield url, bases
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


async def test_two_case_store_processes_on_postgresql_escalate_once(two_processes: tuple[str, list[str]]) -> None:
    url, bases = two_processes
    headers = {"Authorization": f"Bearer {get_settings().case_store_token}"}
    async with aiohttp.ClientSession(bases[0], headers=headers) as http:
        refs = [await create(http, entity="jfda") for _ in range(12)]
    _overdue_everything(url)
    listed = ", ".join(repr(r) for r in refs)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if query(url, f"SELECT count(*) FROM escalations e JOIN requests r ON r.id = e.request_id WHERE r.reference IN ({listed})")[0][0] >= 12:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.5)  # several more sweeps by both processes
    assert query(url, f"SELECT escalation_level, count(*) FROM requests WHERE reference IN ({listed}) GROUP BY 1") == [(1, 12)]
    assert query(url, f"SELECT event, count(*) FROM outbox WHERE reference IN ({listed}) AND event <> 'created' "
                     "GROUP BY event ORDER BY event") == [("escalated", 12), ("official_notice", 12)]
