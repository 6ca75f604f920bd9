from __future__ import annotations

import datetime as dt

import pytest

from bot import business_hours as bh


def amman(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=bh.AMMAN)


def test_default_hours_are_sunday_to_thursday_eight_to_three() -> None:
    assert bh.is_open(amman(2026, 11, 22, 8, 0), bh.DEFAULT)      # Sunday 08:00
    assert bh.is_open(amman(2026, 11, 26, 14, 59), bh.DEFAULT)    # Thursday 14:59
    assert not bh.is_open(amman(2026, 11, 26, 15, 0), bh.DEFAULT)  # Thursday 15:00
    assert not bh.is_open(amman(2026, 11, 27, 10, 0), bh.DEFAULT)  # Friday
    assert not bh.is_open(amman(2026, 11, 28, 10, 0), bh.DEFAULT)  # Saturday
    assert not bh.is_open(amman(2026, 11, 23, 7, 59), bh.DEFAULT)  # Monday before opening


def test_utc_times_are_read_in_amman() -> None:
    # 06:30 UTC on a Sunday is 09:30 in Amman (UTC+3)
    assert bh.is_open(dt.datetime(2026, 11, 22, 6, 30, tzinfo=dt.timezone.utc), bh.DEFAULT)


def test_public_holidays_are_closed() -> None:
    holiday = sorted(d for d in bh.holidays() if d.weekday() in (6, 0, 1, 2, 3))[0]
    assert not bh.is_open(amman(holiday.year, holiday.month, holiday.day, 10, 0), bh.DEFAULT)


def test_configurable_and_checked() -> None:
    assert bh.is_open(amman(2026, 11, 28, 10, 0), "sat 09:00-13:00")
    with pytest.raises(bh.HoursError, match="sun-thu"):
        bh.parse("weekdays 9-5")


def test_description_in_both_languages() -> None:
    assert bh.describe("en", bh.DEFAULT) == "Sunday to Thursday, 08:00-15:00"
    assert bh.describe("ar", bh.DEFAULT) == "من الأحد إلى الخميس، 08:00-15:00"
