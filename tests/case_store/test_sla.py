"""SLA due dates and the escalation sweep (working-day arithmetic: tests/bot/test_working_days.py)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from service_fixtures import Running, complaint

from bot.working_days import Calendar, parse_holidays
from case_store import sla
from case_store.constants import UTC

AMMAN = ZoneInfo("Asia/Amman")


def calendar(*holidays: str) -> Calendar:
    return Calendar(AMMAN, parse_holidays({"holidays": [{"date": h, "name_en": "x"} for h in holidays]}))


def test_due_time_is_end_of_working_day_in_amman() -> None:
    rules = sla.SLA(sla.load_sla(), calendar())
    start = dt.datetime(2025, 5, 8, 20, 0, tzinfo=UTC)  # Thursday 23:00 in Amman
    due = rules.due_at("inquiry", "urgent", start)  # 3 working days: Sun, Mon, Tue
    assert due.astimezone(AMMAN) == dt.datetime(2025, 5, 13, 15, 0, tzinfo=AMMAN)


def test_sla_table_is_complete_and_validated() -> None:
    table = sla.load_sla()
    assert table.days("complaint", "normal") == 10 and table.days("complaint", "urgent") == 3
    with pytest.raises(sla.SLAConfigError, match="no row for type 'suggestion'"):
        sla.parse_sla({"targets": {"inquiry": {"normal": 1, "urgent": 1}}})


async def _create(http: aiohttp.ClientSession, k: str, **overrides: object) -> dict[str, object]:
    async with http.post("/v1/requests", json=complaint(**overrides), headers={"Idempotency-Key": k}) as resp:
        assert resp.status == 201
        return await resp.json()


async def test_escalation_sweep_is_idempotent_per_due_period(store: Running, http: aiohttp.ClientSession) -> None:
    late = await _create(http, "key-late-0001", importance="urgent")  # due Wed 7 May 15:00
    await _create(http, "key-ontime-01")  # due 18 May
    answered = await _create(http, "key-answered1", importance="urgent")
    for status in ("in_progress", "answered"):
        body = {"status": status, "actor": "entity:moh", "answer": "done"}
        async with http.post(f"/v1/requests/{answered['reference']}/status", json=body) as resp:
            assert resp.status == 200
    service = store.service

    before_due = dt.datetime(2025, 5, 7, 11, 59, tzinfo=UTC)
    assert await service.escalate_overdue(now=before_due) == []
    after_due = dt.datetime(2025, 5, 7, 12, 1, tzinfo=UTC)
    assert await service.escalate_overdue(now=after_due) == [late["reference"]]
    assert await service.escalate_overdue(now=after_due) == []  # same period: nothing
    assert await service.escalate_overdue(now=after_due + dt.timedelta(days=1)) == []

    view = await service.admin_get(str(late["reference"]))
    assert view["escalation_level"] == 1
    assert view["due_at"] == "2025-05-12T12:00:00Z"  # +3 working days from Wed 7 May: Thu, Sun, Mon
    assert view["timeline"][-1]["actor"] == "system:sla"
    assert view["timeline"][-1]["note"] == "escalated to level 1"

    # The next period is escalated again.
    assert await service.escalate_overdue(now=dt.datetime(2025, 5, 12, 12, 1, tzinfo=UTC)) == [late["reference"]]
    assert (await service.admin_get(str(late["reference"])))["escalation_level"] == 2
    async with http.get("/v1/outbox", params={"limit": "100"}) as resp:
        events = [e for e in (await resp.json())["events"] if e["event"] == "escalated"]
    assert [e["payload"]["escalation_level"] for e in events] == [1, 2]
    assert events[0]["payload"]["overdue_since"] == "2025-05-07T12:00:00Z"
