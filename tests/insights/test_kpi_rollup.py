"""The daily rollup (kpi_daily, case_store/kpi_rollup.py) equals the requests: every request KPI
read from it is the one computed from the requests, after each kind of write the case store makes
(creates across a local midnight in Asia/Amman, answers, closes, ratings, reopens, rejections,
escalations), on SQLite and PostgreSQL; its percentiles stay within their stated precision; and a
paused rollup is never read."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from service_fixtures import CATALOGUE, complaint
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine, create_engine

from bot.settings import get_settings, local_timezone
from case_store import kpi_rollup, sla
from case_store.catalogue import Catalogue
from case_store.db import Database, sync_url
from case_store.models import Escalation, Request
from case_store.schemas import RatingInput, StatusInput, parse_create
from case_store.service import CaseService, Proof
from insights import requests_kpi as kpi
from insights.case_store_source import read_only_engine
from insights.scope import OPS_ROOM, PUBLIC, Scope

AMMAN = ZoneInfo("Asia/Amman")
UTC = dt.timezone.utc
START = dt.datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # a Sunday
SINCE, UNTIL = dt.date(2026, 2, 20), dt.date(2026, 6, 30)
ENTITIES = (("moh", "health"), ("jfda", "health"), ("mot", "transport"), ("gam", "municipal"))
CHANNELS = ("messenger", "sms", "voice", "contact_center", "web")
PERCENTILES = ("median_hours_to_answer", "p90_hours_to_answer")
SCOPES = (OPS_ROOM, Scope("minister", sector="health"), Scope("entity", entity="moh"), PUBLIC)


def _close_enough(raw: float | None, rolled: float | None) -> bool:
    """The rollup's percentile: never above the exact one, below it by < 1/128 of it + a minute
    (plus 0.01 h for both being rounded to two decimals)."""
    if raw is None or rolled is None:
        return raw is rolled
    return rolled <= raw + 0.01 and raw - rolled <= raw / 128 + 1 / 60 + 0.01


def _same(raw: Any, rolled: Any, path: str = "") -> None:
    if isinstance(raw, dict):
        assert isinstance(rolled, dict) and raw.keys() == rolled.keys(), path
        for k in raw:
            if k in PERCENTILES:
                assert _close_enough(raw[k], rolled[k]), f"{path}.{k}: raw {raw[k]} rollup {rolled[k]}"
            else:
                _same(raw[k], rolled[k], f"{path}.{k}")
    elif isinstance(raw, list):
        assert isinstance(rolled, list) and len(raw) == len(rolled), f"{path}: {raw} != {rolled}"
        for i, (a, b) in enumerate(zip(raw, rolled)):
            _same(a, b, f"{path}[{i}]")
    else:
        assert raw == rolled, f"{path}: raw {raw!r} rollup {rolled!r}"


def assert_rollup_matches(engine: Engine, now: dt.datetime) -> None:
    """Every view, scope, grain and breakdown: the rollup's figures are the requests' figures."""
    with engine.connect() as conn:
        assert kpi_rollup.usable(conn, local_timezone())
    for scope in SCOPES:
        bys = (None, "entity") if scope.role == "public" else (None, *kpi.BREAKDOWNS)
        for grain in kpi.GRAINS:
            # every grain for the national, entity and sector views; one for the other breakdowns
            for by in bys if grain == "week" else [b for b in bys if b in (None, "entity", "sector")]:
                for fn in (kpi.volume, kpi.satisfaction):
                    _same(fn(engine, scope, SINCE, UNTIL, grain, by, source="raw"),
                          fn(engine, scope, SINCE, UNTIL, grain, by, source="rollup"), f"{fn.__name__} {scope.role} {grain} {by}")
                _same(kpi.delays(engine, scope, SINCE, UNTIL, grain, by, now=now, source="raw"),
                      kpi.delays(engine, scope, SINCE, UNTIL, grain, by, now=now, source="rollup"), f"delays {scope.role} {grain} {by}")
            for by in (None, "entity") if scope.role == "public" else (None, "entity", "sector"):
                _same(kpi.escalations(engine, scope, SINCE, UNTIL, grain, by, source="raw"),
                      kpi.escalations(engine, scope, SINCE, UNTIL, grain, by, source="rollup"), f"escalations {scope.role} {grain} {by}")
            for rank_by in ("within_sla_share", "median_hours_to_answer", "rating_mean"):
                raw = kpi.league(engine, scope, SINCE, UNTIL, grain, rank_by=rank_by, now=now, source="raw")
                rolled = kpi.league(engine, scope, SINCE, UNTIL, grain, rank_by=rank_by, now=now, source="rollup")
                if rank_by == "median_hours_to_answer":  # an order may differ within the precision
                    key = lambda r: r["entity"]  # noqa: E731
                    raw["rows"], rolled["rows"] = sorted(raw["rows"], key=key), sorted(rolled["rows"], key=key)
                    for r in raw["rows"] + rolled["rows"]:
                        r.pop("rank")
                        for p in r["trend"]:  # the trend's points are percentiles here
                            p["median_hours_to_answer"] = p.pop("value")
                _same(raw, rolled, f"league {scope.role} {grain} {rank_by}")


def assert_equals_a_rebuild(database_url: str) -> None:
    """What the triggers kept, cell by cell, is what one GROUP BY over the requests gives."""
    writer = create_engine(sync_url(database_url), future=True)
    try:
        query = text("SELECT * FROM kpi_daily ORDER BY day, entity, dim, value")
        with writer.begin() as conn:
            kept = [tuple(r) for r in conn.execute(query)]
            kpi_rollup.rebuild(conn, local_timezone())
            built = [tuple(r) for r in conn.execute(query)]
    finally:
        writer.dispose()
    # hist entries may come in another order: compare them as sets of (bucket, count)
    def norm(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [(*r[:-1], sorted(r[-1][i:i + 8] for i in range(0, len(r[-1]), 8)) if r[-1] else None) for r in rows]

    assert kept and norm(kept) == norm(built)


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[CaseService]:
    db = Database(database_url)
    settings = get_settings()
    yield CaseService(db, Catalogue.load(CATALOGUE), sla.load(settings.timezone), settings.case_store_encryption_key)
    await db.dispose()


@pytest.fixture
def reader(database_url: str) -> Iterator[Engine]:
    engine = read_only_engine(database_url)
    yield engine
    engine.dispose()


async def test_the_rollup_follows_every_write_of_the_case_store(service: CaseService, reader: Engine, database_url: str) -> None:
    rng = random.Random(12)
    refs: list[tuple[str, str]] = []  # (reference, requester id)
    # Creates: some on either side of midnight in Amman (21:00 UTC), the rest spread over March.
    times = [dt.datetime(2026, 3, 2, 20, 59, 30, tzinfo=UTC), dt.datetime(2026, 3, 2, 21, 0, 30, tzinfo=UTC),
             dt.datetime(2026, 3, 31, 20, 59, tzinfo=UTC), dt.datetime(2026, 3, 31, 21, 1, tzinfo=UTC)]
    times += [START + dt.timedelta(hours=rng.randrange(0, 30 * 24), minutes=rng.randrange(60)) for _ in range(36)]
    for i, at in enumerate(times):
        entity, sector = ENTITIES[i % len(ENTITIES)]
        kind = ("complaint", "inquiry", "suggestion")[i % 3]
        who = f"messenger_{i:032d}"
        body = complaint(entity=entity, sector=sector, type=kind, channel=CHANNELS[i % 5], language=("ar", "en")[i % 2],
                         importance=("normal", "urgent")[i % 7 == 0], requester_id=who)
        if kind != "complaint":
            body.pop("pillar")
        data, anonymous = parse_create(body)
        created = await service.create(data, anonymous, f"rollup-test-{i}", now=at)
        refs.append((created.request["reference"], who))
    now = dt.datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    assert_rollup_matches(reader, now)
    # The local day, not the UTC one: 20:59:30 UTC on 2 March is 23:59:30 in Amman, 21:00:30 is 3 March.
    days = kpi.volume(reader, OPS_ROOM, dt.date(2026, 3, 2), dt.date(2026, 3, 3), "day", source="rollup")["rows"]
    assert [r["period"] for r in days] == ["2026-03-02", "2026-03-03"]

    # Answers after various delays (minutes to weeks), some closed, some rejected.
    for i, (ref, _) in enumerate(refs[:30]):
        at = times[i] + dt.timedelta(minutes=rng.choice((7, 95, 600, 1440, 2 * 1440 + 13, 9 * 1440 + 301)))
        await service.set_status(ref, StatusInput("in_progress", "agent:test"), now=at)
        await service.set_status(ref, StatusInput("answered", "agent:test", answer="answer"), now=at)
    for ref, _ in refs[30:33]:
        await service.set_status(ref, StatusInput("rejected", "agent:test"), now=now)
    for ref, _ in refs[:10]:
        await service.set_status(ref, StatusInput("closed", "agent:test"), now=now)
    assert_rollup_matches(reader, now)

    # Ratings, then reopens (which move the due date) and a second answer.
    for i, (ref, who) in enumerate(refs[:16]):
        await service.rate(ref, Proof(requester_id=who), RatingInput(1 + i % 5, i % 3 != 0), now=now)
    for ref, who in refs[:4]:
        await service.reopen(ref, Proof(requester_id=who), "not solved", now=now)
    await service.set_status(refs[0][0], StatusInput("answered", "agent:test", answer="again"), now=now + dt.timedelta(days=3))
    assert_rollup_matches(reader, now + dt.timedelta(days=3))

    # Escalations: the sweep, twice, weeks apart (levels 1 and 2), and overdue figures move with the clock.
    later = now + dt.timedelta(days=40)
    assert await service.escalate_overdue(now=later)
    overdue_again = later + dt.timedelta(days=39)  # the escalated due dates have passed too
    d = kpi.delays(reader, OPS_ROOM, SINCE, UNTIL, "month", now=overdue_again, source="rollup")
    assert d["totals"][0]["levels"]["1"] > 0 and d["totals"][0]["overdue"] > 0
    assert_rollup_matches(reader, overdue_again)
    await service.escalate_overdue(now=later + dt.timedelta(days=40))
    assert_rollup_matches(reader, later + dt.timedelta(days=41))
    d = kpi.delays(reader, OPS_ROOM, SINCE, UNTIL, "month", now=later + dt.timedelta(days=41), source="rollup")
    assert d["totals"][0]["levels"]["2"] > 0
    assert_equals_a_rebuild(database_url)


def test_a_direct_update_and_delete_in_sql_are_followed_too(database_url: str) -> None:
    writer = create_engine(sync_url(database_url), future=True)
    base = dict(type="complaint", sector="health", pillar="procedures", importance="normal", description="x",
                description_encrypted=False, language="ar", channel="sms", anonymous=False, confidential=False,
                status="submitted", escalation_level=0, reopen_count=0)
    at = dt.datetime(2026, 3, 3, 8, tzinfo=UTC)
    rows = [{**base, "id": i + 1, "reference": f"{2000000000 + i}", "idempotency_key": f"sql-{i}", "entity": "moh",
             "requester_id": f"sms_{i}", "created_at": at + dt.timedelta(hours=i), "updated_at": at,
             "due_at": at + dt.timedelta(days=3)} for i in range(6)]
    try:
        with writer.begin() as conn:
            conn.execute(insert(Request.__table__), rows)
        with writer.begin() as conn:  # an entity moved by hand, a level lowered, a row deleted
            conn.execute(text("UPDATE requests SET entity = 'jfda' WHERE id = 2"))
            conn.execute(text("UPDATE requests SET escalation_level = 4 WHERE id = 3"))
            conn.execute(text("UPDATE requests SET escalation_level = 1 WHERE id = 3"))
            conn.execute(text("DELETE FROM requests WHERE id = 4"))
        # The escalations log written out of order (a later one first), then its middle one deleted:
        # whether each is the request's first in its week or month changes with the others.
        log = [(1, 3, dt.datetime(2026, 3, 18, 9, tzinfo=UTC)), (1, 1, dt.datetime(2026, 3, 5, 9, tzinfo=UTC)),
               (1, 2, dt.datetime(2026, 3, 10, 9, tzinfo=UTC)), (5, 1, dt.datetime(2026, 3, 10, 20, 59, tzinfo=UTC)),
               (5, 2, dt.datetime(2026, 3, 10, 21, 1, tzinfo=UTC)), (6, 1, dt.datetime(2026, 4, 2, 9, tzinfo=UTC))]
        with writer.begin() as conn:
            conn.execute(insert(Escalation.__table__), [
                {"request_id": r, "level": lv, "at": at, "overdue_since": at, "entity": "moh", "contact_role": None,
                 "actor": "system:sla"} for r, lv, at in log])
        with writer.begin() as conn:
            conn.execute(text("DELETE FROM escalations WHERE request_id = 1 AND level = 1"))
            conn.execute(text("UPDATE requests SET sector = 'transport' WHERE id = 6"))
    finally:
        writer.dispose()
    reader = read_only_engine(database_url)
    try:
        now = dt.datetime(2026, 3, 20, tzinfo=UTC)
        assert_rollup_matches(reader, now)
        totals = {r["group"]: r for r in kpi.delays(reader, OPS_ROOM, SINCE, UNTIL, "month", "entity", now=now)["totals"]}
        assert totals["moh"]["count"] == 4 and totals["moh"]["max_level"] == 1 and totals["jfda"]["count"] == 1
    finally:
        reader.dispose()


def test_percentiles_from_the_histograms_stay_within_their_precision(database_url: str) -> None:
    """Long-tailed durations (minutes to months): each cell's and each group's median and 90th
    percentile from the histograms, against numpy's exact percentile of the same durations."""
    rng = random.Random(7)
    writer = create_engine(sync_url(database_url), future=True)
    rows, minutes = [], {}
    for i in range(400):
        created = dt.datetime(2026, 3, 1, tzinfo=UTC) + dt.timedelta(seconds=rng.randrange(90 * 86400))
        took = dt.timedelta(seconds=int(rng.lognormvariate(9.5, 1.6)))  # median ~3.7 h, long tail
        entity, sector = ENTITIES[i % 2]
        rows.append({"id": i + 1, "reference": f"{3000000000 + i}", "idempotency_key": f"p-{i}", "type": "inquiry",
                     "sector": sector, "entity": entity, "importance": "normal", "description": "x",
                     "description_encrypted": False, "language": "en", "channel": "web", "requester_id": f"web_{i}",
                     "anonymous": False, "confidential": False, "status": "answered", "created_at": created,
                     "updated_at": created, "due_at": created + dt.timedelta(days=5), "escalation_level": 0,
                     "reopen_count": 0, "answered_at": created + took})
        minutes.setdefault(entity, []).append(took.total_seconds() / 3600)
    with writer.begin() as conn:
        conn.execute(insert(Request.__table__), rows)
    writer.dispose()
    reader = read_only_engine(database_url)
    try:
        rolled = kpi.delays(reader, OPS_ROOM, SINCE, UNTIL, "month", "entity", now=START, source="rollup")
        raw = kpi.delays(reader, OPS_ROOM, SINCE, UNTIL, "month", "entity", now=START, source="raw")
    finally:
        reader.dispose()
    for r in rolled["totals"]:
        exact = np.percentile(minutes[r["group"]], [50, 90])  # linear interpolation, as percentile_cont
        for value, truth in zip((r["median_hours_to_answer"], r["p90_hours_to_answer"]), exact):
            assert _close_enough(round(float(truth), 2), value), (r["group"], value, truth)
    _same(raw, rolled)


def test_bucket_arithmetic_is_the_same_in_python_and_sql(database_url: str) -> None:
    probes = [0, 1, 127, 128, 255, 256, 257, 1439, 1440, 2880, 3600, 5760, 10**5, 2**24 + 5, 2**25 - 1, 2**25, 10**9]
    for m in probes:
        b = kpi_rollup.bucket_of(m)
        assert kpi_rollup.lower_bound(b) <= max(m, 0)
        assert m >= 2**25 or max(m, 0) - kpi_rollup.lower_bound(b) <= m / 128
    engine = create_engine(sync_url(database_url), future=True)
    try:
        with engine.connect() as conn:
            sql = kpi_rollup._bucket_sql("m")
            got = [conn.execute(text(f"SELECT {sql} FROM (SELECT CAST(:m AS BIGINT) AS m) t"), {"m": m}).scalar() for m in probes]
    finally:
        engine.dispose()
    assert got == [kpi_rollup.bucket_of(m) for m in probes]


def test_a_paused_rollup_is_not_read(database_url: str) -> None:
    writer = create_engine(sync_url(database_url), future=True)
    try:
        with writer.begin() as conn:
            kpi_rollup.pause(conn)
    finally:
        writer.dispose()
    reader = read_only_engine(database_url)
    try:
        with pytest.raises(RuntimeError, match="rollup --rebuild"):
            kpi.volume(reader, OPS_ROOM, SINCE, UNTIL, source="rollup")
        assert kpi.volume(reader, OPS_ROOM, SINCE, UNTIL)["rows"] == []  # auto: the requests, not the rollup
    finally:
        reader.dispose()
        with writer.begin() as conn:  # what `python -m case_store rollup --rebuild` does
            kpi_rollup.rebuild(conn, local_timezone())
        writer.dispose()


async def test_concurrent_writers_to_one_cell_leave_it_exact(database_url: str) -> None:
    """Two processes' worth of connections creating in the same (day, entity) cell at once."""
    settings = get_settings()
    dbs = [Database(database_url), Database(database_url)]
    services = [CaseService(db, Catalogue.load(CATALOGUE), sla.load(settings.timezone), settings.case_store_encryption_key)
                for db in dbs]
    at = dt.datetime(2026, 3, 4, 8, tzinfo=UTC)

    async def one(i: int) -> None:
        data, anonymous = parse_create(complaint(requester_id=f"messenger_{i:032d}"))
        await services[i % 2].create(data, anonymous, f"race-{i}", now=at + dt.timedelta(seconds=i))

    try:
        await asyncio.gather(*(one(i) for i in range(24)))
    finally:
        for db in dbs:
            await db.dispose()
    reader = read_only_engine(database_url)
    try:
        (row,) = kpi.volume(reader, OPS_ROOM, SINCE, UNTIL, "month", source="rollup")["rows"]
        assert row["received"] == 24
        assert_rollup_matches(reader, at)
    finally:
        reader.dispose()
