from __future__ import annotations

import datetime as dt

from bot.i18n import format_day, format_number


def test_dates_are_formatted_per_locale() -> None:
    assert format_day(dt.date(2026, 11, 26), "en") == "Thursday, 26 November 2026"
    assert format_day(dt.date(2026, 11, 26), "ar") == "الخميس، 26 تشرين الثاني 2026"


def test_datetimes_are_shown_in_amman_time() -> None:
    late_utc = dt.datetime(2026, 11, 25, 22, 30, tzinfo=dt.timezone.utc)  # 01:30 on the 26th in Amman
    assert format_day(late_utc, "en").startswith("Thursday")


def test_numbers() -> None:
    assert format_number(12345, "en") == "12,345"
