"""Each request KPI on a small data set whose every figure is worked out by hand (docstring of
`KNOWN`), on SQLite and on PostgreSQL; the public scope's suppression, the scope boundaries and
the absence of free text."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine, create_engine

from case_store.db import sync_url
from case_store.models import Escalation, Request
from insights import requests_kpi as kpi
from insights.case_store_source import read_only_async_engine, read_only_engine
from insights.scope import OPS_ROOM, PUBLIC, Scope

AMMAN = ZoneInfo("Asia/Amman")
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
SINCE, UNTIL = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
SECRET_TEXT = "SECRET-NARRATIVE-Zx81"


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=AMMAN)


def utc(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=dt.timezone.utc)


# (n, entity, type, channel, language, status, created, due, answered_at, level, reopens, score, resolved)
# moh (health): 1, 2, 3, 4, 5, 6, 9 in range, 0 just before it (23:30 on 31 October in Amman);
# 9 is 00:30 on 1 November in Amman, i.e. still 31 October in UTC: in range.
# mot (transport): 7, 8 (fewer than 5: suppressed on the public page).
KNOWN = [
    (0, "moh", "inquiry", "web", "ar", "closed", local(31, 23, 30, month=10), utc(4, 12), local(2, 9), 0, 0, 1, False),
    (1, "moh", "complaint", "messenger", "ar", "closed", local(1, 9), utc(5, 12), local(3, 9), 0, 0, 5, True),
    (2, "moh", "inquiry", "sms", "ar", "answered", local(2, 10), utc(6, 12), local(4, 22), 0, 0, 4, True),
    (3, "moh", "complaint", "voice", "en", "answered", local(3, 8), utc(4, 12), local(7, 8), 1, 1, 2, False),
    (4, "moh", "complaint", "messenger", "ar", "in_progress", local(8, 8), utc(12, 12), None, 1, 0, None, None),
    (5, "moh", "suggestion", "web", "ar", "submitted", local(9, 8), utc(25, 12), None, 0, 0, None, None),
    (6, "moh", "complaint", "messenger", "ar", "rejected", local(10, 8), utc(16, 12), None, 0, 0, None, None),
    (7, "mot", "inquiry", "messenger", "en", "closed", local(5, 8), utc(9, 12), local(6, 8), 0, 0, 3, True),
    (8, "mot", "complaint", "sms", "ar", "reopened", local(6, 8), utc(10, 12), local(7, 8), 2, 1, None, None),
    (9, "moh", "inquiry", "contact_center", "ar", "closed", local(1, 0, 30), utc(5, 12), local(2, 0, 30), 0, 0, None, None),
]
SECTOR = {"moh": "health", "mot": "transport"}
# (request n, level, local day of the escalation): the escalations log of the same requests.
ESCALATIONS = [(3, 1, 5), (4, 1, 13), (8, 1, 10), (8, 2, 16)]


def _row(n: int, entity: str, type_: str, channel: str, language: str, status: str, created: dt.datetime, due: dt.datetime,
         answered: dt.datetime | None, level: int, reopens: int, score: int | None, resolved: bool | None) -> dict[str, Any]:
    return {
        "id": n + 1, "reference": f"{1000000000 + n}", "idempotency_key": f"kpi-test-{n}", "type": type_,
        "sector": SECTOR[entity], "entity": entity, "pillar": "service_quality" if type_ == "complaint" else None,
        "importance": "normal", "description": f"{SECRET_TEXT} description", "description_encrypted": False,
        "language": language, "channel": channel, "requester_id": f"messenger_{n}", "anonymous": False,
        "confidential": type_ == "report", "status": status, "created_at": created, "updated_at": created,
        "due_at": due, "escalation_level": level, "reopen_count": reopens,
        "answer": f"{SECRET_TEXT} answer" if answered else None, "answered_at": answered,
        "rating_score": score, "rating_resolved": resolved, "rating_comment": f"{SECRET_TEXT} comment" if score else None,
        "rated_at": answered + dt.timedelta(hours=1) if score else None,
    }


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    writer = create_engine(sync_url(database_url), future=True)
    with writer.begin() as conn:
        conn.execute(insert(Request.__table__), [_row(*k) for k in KNOWN])
        conn.execute(insert(Escalation.__table__), [
            {"request_id": n + 1, "level": level, "at": local(day, 15, 5), "overdue_since": local(day, 15),
             "entity": KNOWN[n][1], "contact_role": "secretary_general", "actor": "system:sla"} for n, level, day in ESCALATIONS])
    writer.dispose()
    reader = read_only_engine(database_url)
    yield reader
    reader.dispose()


def totals(result: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    return {r["group"]: r for r in result["totals"]}


def test_volume_counts_by_status_and_respects_the_local_day(engine: Engine) -> None:
    v = kpi.volume(engine, OPS_ROOM, SINCE, UNTIL, "month")
    assert v["rows"] == [{"period": "2026-11-01", "group": None, "received": 9, "open": 3, "answered": 2, "closed": 3,
                          "rejected": 1, "reopened": 2, "count": 9, "suppressed": False}]
    by_entity = totals(kpi.volume(engine, OPS_ROOM, SINCE, UNTIL, "month", "entity"))
    assert {k: by_entity["moh"][k] for k in kpi._VOLUME_FIELDS} == {
        "received": 7, "open": 2, "answered": 2, "closed": 2, "rejected": 1, "reopened": 1}
    assert {k: by_entity["mot"][k] for k in kpi._VOLUME_FIELDS} == {
        "received": 2, "open": 1, "answered": 0, "closed": 1, "rejected": 0, "reopened": 1}
    # Weeks start on Sunday (1 and 8 November 2026); request 9 (00:30 local) is in the first.
    weeks = kpi.volume(engine, OPS_ROOM, SINCE, UNTIL, "week")
    assert [(r["period"], r["received"]) for r in weeks["rows"]] == [("2026-11-01", 6), ("2026-11-08", 3)]
    days = kpi.volume(engine, OPS_ROOM, dt.date(2026, 10, 31), dt.date(2026, 11, 1), "day")
    assert [(r["period"], r["received"]) for r in days["rows"]] == [("2026-10-31", 1), ("2026-11-01", 2)]


def test_delays_overdue_escalation_sla_and_time_to_answer(engine: Engine) -> None:
    d = kpi.delays(engine, OPS_ROOM, SINCE, UNTIL, "month", now=NOW)
    (row,) = d["rows"]
    assert row == {
        "period": "2026-11-01", "group": None, "count": 9, "open": 3,
        "overdue": 2, "overdue_share": 0.6667, "mean_days_overdue": 9.0, "max_days_overdue": 10.0,
        "escalated": 3, "levels": {"1": 2, "2": 1, "3+": 0}, "max_level": 2,
        "with_answer": 6, "within_sla": 4, "within_sla_share": 0.6667,
        # hours to answer: 24, 24, 24, 48, 60, 96
        "median_hours_to_answer": 36.0, "p90_hours_to_answer": 78.0, "suppressed": False,
    }
    assert d["totals"][0] | {"period": "2026-11-01"} == row


def test_satisfaction_ratings_resolved_and_reopen_rate(engine: Engine) -> None:
    (row,) = kpi.satisfaction(engine, OPS_ROOM, SINCE, UNTIL, "month")["rows"]
    assert row == {
        "period": "2026-11-01", "group": None, "count": 9, "rated": 4, "rating_mean": 3.5,
        "distribution": {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}, "resolved_share": 0.75,
        "with_answer": 6, "reopened": 2, "reopen_rate": 0.3333, "suppressed": False,
    }


def test_league_ranks_entities_with_a_trend(engine: Engine) -> None:
    table = kpi.league(engine, OPS_ROOM, SINCE, UNTIL, "month", now=NOW)["rows"]
    assert [(r["rank"], r["entity"], r["within_sla_share"], r["with_answer"]) for r in table] == [
        (1, "moh", 0.75, 4), (2, "mot", 0.5, 2)]
    assert table[0]["trend"] == [{"period": "2026-11-01", "value": 0.75, "count": 4}]
    by_rating = kpi.league(engine, OPS_ROOM, SINCE, UNTIL, "month", rank_by="rating_mean", now=NOW)["rows"]
    assert [(r["entity"], r["rating_mean"]) for r in by_rating] == [("moh", 3.6667), ("mot", 3.0)]


def test_escalations_log_by_level_and_scope(engine: Engine) -> None:
    by_entity = kpi.escalations(engine, OPS_ROOM, SINCE, UNTIL, "month", "entity")["rows"]
    assert [(r["group"], r["escalations"], r["count"], r["levels"]) for r in by_entity] == [
        ("moh", 2, 2, {"1": 2, "2": 0, "3+": 0}), ("mot", 2, 1, {"1": 1, "2": 1, "3+": 0})]
    weekly = kpi.escalations(engine, OPS_ROOM, SINCE, UNTIL, "week")["rows"]
    assert [(r["period"], r["escalations"]) for r in weekly] == [("2026-11-01", 1), ("2026-11-08", 2), ("2026-11-15", 1)]
    health = kpi.escalations(engine, Scope("minister", sector="health"), SINCE, UNTIL, "month", "sector")["rows"]
    assert [(r["group"], r["escalations"]) for r in health] == [("health", 2)]
    public = kpi.escalations(engine, PUBLIC, SINCE, UNTIL, "month", "entity")["rows"]
    assert all(r["suppressed"] and r["escalations"] is None for r in public)


def test_public_scope_hides_cells_under_five_and_only_breaks_down_by_entity(engine: Engine) -> None:
    by_entity = totals(kpi.volume(engine, PUBLIC, SINCE, UNTIL, "month", "entity"))
    assert by_entity["moh"]["received"] == 7 and by_entity["moh"]["suppressed"] is False
    assert by_entity["mot"]["suppressed"] is True
    assert all(by_entity["mot"][k] is None for k in (*kpi._VOLUME_FIELDS, "count"))
    # 4 ratings nationally: the rating figures are withheld, the reopen rate (6 answered) is not.
    (sat,) = kpi.satisfaction(engine, PUBLIC, SINCE, UNTIL, "month")["rows"]
    assert sat["suppressed"] is True and sat["rating_mean"] is None and sat["distribution"] is None
    assert sat["reopen_rate"] == 0.3333
    league = kpi.league(engine, PUBLIC, SINCE, UNTIL, "month", now=NOW)["rows"]
    mot = next(r for r in league if r["entity"] == "mot")
    assert mot["suppressed"] and mot["within_sla_share"] is None and mot["rank"] is None
    with pytest.raises(ValueError, match="national and per-entity"):
        kpi.volume(engine, PUBLIC, SINCE, UNTIL, "month", "channel")


def test_an_entity_or_a_minister_never_counts_another_entitys_requests(engine: Engine) -> None:
    mot = kpi.volume(engine, Scope("entity", entity="mot"), SINCE, UNTIL, "month", "entity")
    assert [(r["group"], r["received"]) for r in mot["totals"]] == [("mot", 2)]
    health = kpi.delays(engine, Scope("minister", sector="health"), SINCE, UNTIL, "month", "entity", now=NOW)
    assert [(r["group"], r["count"]) for r in health["totals"]] == [("moh", 7)]
    league = kpi.league(engine, Scope("entity", entity="moh"), SINCE, UNTIL, "month", now=NOW)
    assert [r["entity"] for r in league["rows"]] == ["moh"]


def test_no_free_text_in_any_figure_for_any_scope(engine: Engine) -> None:
    for scope in (OPS_ROOM, PUBLIC, Scope("entity", entity="moh"), Scope("minister", sector="health")):
        for fn in (kpi.volume, kpi.satisfaction):
            assert SECRET_TEXT not in json.dumps(fn(engine, scope, SINCE, UNTIL, "day", None))
        assert SECRET_TEXT not in json.dumps(kpi.delays(engine, scope, SINCE, UNTIL, "day", "entity", now=NOW))
        assert SECRET_TEXT not in json.dumps(kpi.league(engine, scope, SINCE, UNTIL, "week", now=NOW))


def test_bad_arguments_are_refused_with_what_is_allowed(engine: Engine) -> None:
    with pytest.raises(ValueError, match="grain 'year'"):
        kpi.volume(engine, OPS_ROOM, SINCE, UNTIL, "year")
    with pytest.raises(ValueError, match="by 'description'"):
        kpi.volume(engine, OPS_ROOM, SINCE, UNTIL, "month", "description")
    with pytest.raises(ValueError, match="before since"):
        kpi.volume(engine, OPS_ROOM, UNTIL, SINCE, "month")


async def test_async_twins_give_the_same_figures(database_url: str, engine: Engine) -> None:
    aengine = read_only_async_engine(database_url)
    try:
        assert await kpi.volume_async(aengine, OPS_ROOM, SINCE, UNTIL, "week", "entity") == kpi.volume(
            engine, OPS_ROOM, SINCE, UNTIL, "week", "entity")
        assert await kpi.league_async(aengine, OPS_ROOM, SINCE, UNTIL, "month", now=NOW) == kpi.league(
            engine, OPS_ROOM, SINCE, UNTIL, "month", now=NOW)
    finally:
        await aengine.dispose()


def test_the_insights_connection_cannot_write(engine: Engine) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(text("DELETE FROM requests"))
