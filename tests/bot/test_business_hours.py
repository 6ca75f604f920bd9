"""bot.business_hours: Sunday-Thursday 08:00-15:00 Amman time unless configured."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot import business_hours
from bot.business_hours import BusinessHours
from bot.settings import ConfigError
from bot.working_days import Holidays

AMMAN = ZoneInfo("Asia/Amman")
UTC = dt.timezone.utc


def at(y: int, m: int, d: int, hh: int, mm: int = 0, tz: dt.tzinfo = AMMAN) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=tz)


@pytest.fixture
def default_hours() -> BusinessHours:
    return BusinessHours.parse(business_hours.DEFAULT_HOURS)


def test_open_sunday_to_thursday_from_eight_until_three(default_hours: BusinessHours) -> None:
    # 2026-11-22 is a Sunday, 2026-11-26 a Thursday.
    assert default_hours.is_open(at(2026, 11, 22, 8, 0))
    assert default_hours.is_open(at(2026, 11, 26, 14, 59))
    assert not default_hours.is_open(at(2026, 11, 22, 7, 59))
    assert not default_hours.is_open(at(2026, 11, 22, 15, 0))


def test_closed_on_friday_and_saturday(default_hours: BusinessHours) -> None:
    assert not default_hours.is_open(at(2026, 11, 27, 10))  # Friday
    assert not default_hours.is_open(at(2026, 11, 28, 10))  # Saturday


def test_aware_times_are_converted_to_amman(default_hours: BusinessHours) -> None:
    # 05:30 UTC is 08:30 in Amman (UTC+3): open; 12:30 UTC is 15:30: closed.
    assert default_hours.is_open(at(2026, 11, 22, 5, 30, tz=UTC))
    assert not default_hours.is_open(at(2026, 11, 22, 12, 30, tz=UTC))


def test_naive_times_are_taken_as_local(default_hours: BusinessHours) -> None:
    assert default_hours.is_open(dt.datetime(2026, 11, 22, 9, 0))


def test_public_holidays_are_closed() -> None:
    hours = BusinessHours.parse("sun-thu 08:00-15:00", holidays=Holidays(frozenset({dt.date(2026, 11, 22)})))
    assert not hours.is_open(at(2026, 11, 22, 10))
    assert hours.is_open(at(2026, 11, 23, 10))


def test_several_segments_and_wrapping_ranges() -> None:
    hours = BusinessHours.parse("sun-wed 08:00-15:00; thu 08:00-14:00; sat-sun 20:00-22:00")
    assert not hours.is_open(at(2026, 11, 26, 14, 30))  # Thursday after 14:00
    assert hours.is_open(at(2026, 11, 25, 14, 30))  # Wednesday
    assert hours.is_open(at(2026, 11, 28, 21))  # Saturday evening
    assert hours.is_open(at(2026, 11, 22, 21))  # Sunday evening


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("mon-fry 08:00-15:00", "unknown day 'fry'"),
        ("sun-thu 8-15", "expected '<days> HH:MM-HH:MM'"),
        ("sun-thu 25:00-26:00", "invalid time '25:00'"),
        ("sun-thu 15:00-08:00", "not after opening time"),
        ("", "opens no hours"),
    ],
)
def test_bad_configuration_names_the_variable(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        BusinessHours.parse(spec)
    assert "CONTACT_CENTER_HOURS" in str(err.value)
    assert fragment in str(err.value)


def test_environment_configures_the_module_level_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACT_CENTER_HOURS", "fri 10:00-11:00")
    monkeypatch.setenv("CONTACT_CENTER_HOLIDAYS", "none")
    assert business_hours.is_open(at(2026, 11, 27, 10, 30))
    assert not business_hours.is_open(at(2026, 11, 22, 10, 30))


def test_default_uses_the_case_store_holiday_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTACT_CENTER_HOURS", raising=False)
    monkeypatch.delenv("CONTACT_CENTER_HOLIDAYS", raising=False)
    # 2026-03-22 (a Sunday) falls in Eid al-Fitr 2026 (20-23 March) per case_store/data/holidays.yml.
    assert not business_hours.is_open(at(2026, 3, 22, 10))
    assert business_hours.is_open(at(2026, 3, 29, 10))


def test_holiday_file_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CONTACT_CENTER_HOLIDAYS", str(tmp_path / "missing.yml"))
    with pytest.raises(ConfigError, match="CONTACT_CENTER_HOLIDAYS"):
        business_hours.current()


def test_describe_in_both_languages(default_hours: BusinessHours) -> None:
    assert default_hours.describe("en") == "from Sunday to Thursday, 8:00 am to 3:00 pm"
    assert default_hours.describe("ar") == "من الأحد إلى الخميس، من الساعة 8:00 ص حتى 3:00 م"
