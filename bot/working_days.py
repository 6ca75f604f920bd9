"""Jordan's working calendar: the government week and the public holidays.

The one home of "is this a working day?" (DESIGN.md "SLA"): the case store counts SLA due dates
with it and `bot.business_hours` closes the contact center on the same days. The week is
Sunday-Thursday (Friday and Saturday are the weekly rest days); the holidays come from
`case_store/data/holidays.yml`, read by `load_holidays` only.

A holiday file lists, under `holidays:` (or as a bare list), ISO dates or mappings with a `date`
(plus names), or maps date -> name. A `date: {month: M, day: D}` without a year recurs every
year (e.g. Independence Day); the Islamic holidays move and are listed per year.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.settings import ROOT, ConfigError

log = logging.getLogger(__name__)

DEFAULT_HOLIDAYS = ROOT / "case_store" / "data" / "holidays.yml"
# Python's weekday(): Monday is 0 ... Friday 4, Saturday 5, Sunday 6.
WEEKEND = frozenset({4, 5})
WORKING_WEEK = "sun-thu"  # the same week in CONTACT_CENTER_HOURS' notation


class HolidaysError(ConfigError):
    """A holiday file that cannot be read or holds something that is not a date."""


@dataclass(frozen=True)
class Holidays:
    dates: frozenset[dt.date] = frozenset()
    # (month, day) pairs that recur every year: entries written without a year.
    yearly: frozenset[tuple[int, int]] = frozenset()

    def __contains__(self, day: object) -> bool:
        if isinstance(day, dt.datetime):
            day = day.date()
        return isinstance(day, dt.date) and (day in self.dates or (day.month, day.day) in self.yearly)

    def __bool__(self) -> bool:
        return bool(self.dates or self.yearly)


def _as_date(value: Any, where: str) -> dt.date | tuple[int, int]:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    if isinstance(value, dict) and "month" in value and "day" in value and "year" not in value:
        try:
            month, day = int(value["month"]), int(value["day"])
            dt.date(2000, month, day)  # a leap year, so 29 February is allowed
            return (month, day)
        except (TypeError, ValueError):
            pass
    raise HolidaysError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD) or a yearly {{month: M, day: D}}")


def parse_holidays(doc: Any, where: str = "holidays.yml") -> Holidays:
    """The holidays of an already-parsed YAML document (the shapes in the module docstring)."""
    items: Iterable[Any]
    if doc is None:
        return Holidays()
    if isinstance(doc, dict) and "holidays" in doc:
        doc = doc["holidays"] or []
    if isinstance(doc, dict):
        items = list(doc.keys())
    elif isinstance(doc, list):
        items = doc
    else:
        raise HolidaysError(f"{where}: expected a list of holidays under 'holidays:'")
    dates: set[dt.date] = set()
    yearly: set[tuple[int, int]] = set()
    for i, item in enumerate(items):
        raw = item.get("date", item) if isinstance(item, dict) else item
        parsed = _as_date(raw, f"{where} item {i}")
        if isinstance(parsed, tuple):
            yearly.add(parsed)
        else:
            dates.add(parsed)
    return Holidays(frozenset(dates), frozenset(yearly))


def load_holidays(path: Path | None = None, setting: str | None = None) -> Holidays:
    """Read a holiday file; `setting` is the variable that named it, for error messages.

    The default file missing is not fatal (due dates only get a little earlier, the contact
    center opens on holidays): it is said once in the log. A file that was asked for by name and
    cannot be read, or a bad entry, raises `HolidaysError`.
    """
    import yaml

    where = f"Config '{setting}': {str(path)!r}" if setting else str((path or DEFAULT_HOLIDAYS).name)
    if path is None:
        path = DEFAULT_HOLIDAYS
        if not path.exists():
            log.warning("no public-holiday file at %s; only weekends are days off", path)
            return Holidays()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise HolidaysError(f"{where} cannot be read ({e.strerror}).") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        raise HolidaysError(f"{where} is not valid YAML.") from None
    return parse_holidays(doc, where)


@dataclass(frozen=True)
class Calendar:
    """Working-day arithmetic for one time zone and holiday list."""

    tz: ZoneInfo
    holidays: Holidays = field(default_factory=Holidays)

    def is_working_day(self, day: dt.date) -> bool:
        return is_working_day(day, self.holidays)

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The `days`-th working day after `start` (start itself never counts)."""
        if days < 1:
            raise ValueError("days must be >= 1")
        day = start
        remaining = days
        while remaining:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day


def is_working_day(day: dt.date, holidays: Holidays) -> bool:
    return day.weekday() not in WEEKEND and day not in holidays
