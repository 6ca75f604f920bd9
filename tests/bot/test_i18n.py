from __future__ import annotations

import datetime as dt

import pytest

from bot.i18n import format_day, format_moment, format_number


def test_dates_are_formatted_per_locale() -> None:
    assert format_day(dt.date(2026, 11, 26), "en") == "Thursday, 26 November 2026"
    assert format_day(dt.date(2026, 11, 26), "ar") == "الخميس، 26 تشرين الثاني 2026"


def test_datetimes_are_shown_in_amman_time() -> None:
    late_utc = dt.datetime(2026, 11, 25, 22, 30, tzinfo=dt.timezone.utc)  # 01:30 on the 26th in Amman
    assert format_day(late_utc, "en").startswith("Thursday")


def test_numbers() -> None:
    assert format_number(12345, "en") == "12,345"


def test_datetimes_follow_bekh_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    late_utc = dt.datetime(2026, 11, 25, 22, 30, tzinfo=dt.timezone.utc)
    monkeypatch.setenv("BEKH_TIMEZONE", "UTC")
    assert format_day(late_utc, "en").startswith("Wednesday")
    assert "10:30:00" in format_moment(late_utc, "en")
    monkeypatch.setenv("BEKH_TIMEZONE", "Asia/Amman")
    assert "1:30:00" in format_moment(late_utc, "en") and "26 Nov" in format_moment(late_utc, "en")
