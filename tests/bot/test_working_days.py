"""bot.working_days: Jordan's week and public holidays, shared by the SLA and the contact center."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import business_hours
from bot.working_days import WEEKEND, Calendar, Holidays, HolidaysError, is_working_day, load_holidays, parse_holidays
from case_store import sla

AMMAN = ZoneInfo("Asia/Amman")


def calendar(*holidays: str) -> Calendar:
    return Calendar(AMMAN, parse_holidays({"holidays": [{"date": h, "name_en": "x"} for h in holidays]}))


def test_weekend_is_skipped() -> None:
    cal = calendar()
    thursday = dt.date(2025, 5, 8)
    assert cal.add_working_days(thursday, 1) == dt.date(2025, 5, 11)  # Fri, Sat off -> Sunday
    assert cal.add_working_days(dt.date(2025, 5, 9), 1) == dt.date(2025, 5, 11)  # from a Friday
    assert cal.add_working_days(thursday, 5) == dt.date(2025, 5, 15)


def test_holidays_are_skipped() -> None:
    cal = calendar("2025-05-11", "2025-05-12")
    assert cal.add_working_days(dt.date(2025, 5, 8), 1) == dt.date(2025, 5, 13)


def test_holiday_formats_are_tolerated() -> None:
    assert dt.date(2025, 1, 1) in parse_holidays(["2025-01-01"])
    assert dt.date(2025, 1, 1) in parse_holidays({"holidays": [dt.date(2025, 1, 1)]})
    assert dt.date(2025, 1, 1) in parse_holidays({"2025-01-01": "New Year"})
    assert dt.date(2031, 5, 25) in parse_holidays({"holidays": [{"date": {"month": 5, "day": 25}}]})
    with pytest.raises(HolidaysError, match="not an ISO date"):
        parse_holidays({"holidays": ["25/05/2025"]})
    with pytest.raises(HolidaysError, match="not an ISO date"):
        parse_holidays({"holidays": [{"date": {"month": 2, "day": 30}}]})


def test_real_holiday_file_loads() -> None:
    holidays = load_holidays()
    assert dt.date(2025, 5, 25) in holidays  # Independence Day
    assert dt.date(2026, 3, 22) in holidays  # Eid al-Fitr 2026


def yearly_file(tmp_path: Path) -> Path:
    path = tmp_path / "holidays.yml"
    path.write_text("holidays:\n  - {date: {month: 11, day: 22}, name_en: Yearly day}\n", encoding="utf-8")
    return path


def test_contact_center_closes_on_yearly_holidays(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The first wave's business-hours loader skipped `{month, day}` entries that the SLA honoured.
    monkeypatch.setenv("CONTACT_CENTER_HOURS", "sun-thu 08:00-15:00")
    monkeypatch.setenv("CONTACT_CENTER_HOLIDAYS", str(yearly_file(tmp_path)))
    assert not business_hours.is_open(dt.datetime(2026, 11, 22, 10, tzinfo=AMMAN))  # a Sunday
    assert not business_hours.is_open(dt.datetime(2027, 11, 22, 10, tzinfo=AMMAN))  # a Monday
    assert business_hours.is_open(dt.datetime(2027, 11, 23, 10, tzinfo=AMMAN))


def test_sla_and_contact_center_share_one_calendar(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every day of the shipped holiday file's years: the SLA counts it iff the center opens."""
    monkeypatch.delenv("CONTACT_CENTER_HOURS", raising=False)
    monkeypatch.delenv("CONTACT_CENTER_HOLIDAYS", raising=False)
    monkeypatch.delenv("BEKH_TIMEZONE", raising=False)
    cal = sla.load("Asia/Amman").calendar
    day = dt.date(2025, 1, 1)
    while day.year < 2029:
        at_ten = dt.datetime.combine(day, dt.time(10), tzinfo=AMMAN)
        assert cal.is_working_day(day) == business_hours.is_open(at_ten), day
        day += dt.timedelta(days=1)


def test_the_week_is_sunday_to_thursday() -> None:
    assert {dt.date(2026, 11, 27).weekday(), dt.date(2026, 11, 28).weekday()} == WEEKEND  # Fri, Sat
    assert all(is_working_day(dt.date(2026, 11, d), Holidays()) for d in (22, 23, 24, 25, 26))
    # The contact center's default week is the same week, written in CONTACT_CENTER_HOURS' notation.
    (window,) = business_hours.BusinessHours.parse(business_hours.DEFAULT_HOURS).windows
    assert window.weekdays == frozenset(range(7)) - WEEKEND


def test_an_unreadable_file_named_by_a_variable_says_which(tmp_path: Path) -> None:
    with pytest.raises(HolidaysError, match="CONTACT_CENTER_HOLIDAYS"):
        load_holidays(tmp_path / "missing.yml", setting="CONTACT_CENTER_HOLIDAYS")
