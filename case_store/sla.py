"""SLA due dates in working days (Sunday-Thursday, minus public holidays).

All arithmetic happens on local (Amman) calendar dates, then the due time is pinned to the end
of the working day and converted back to UTC; zoneinfo handles the DST changes on the way.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from case_store.constants import IMPORTANCE, TYPES, UTC

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
# Python weekday(): Monday=0 ... Friday=4, Saturday=5, Sunday=6.
WEEKEND = frozenset({4, 5})


class SLAConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Holidays:
    dates: frozenset[dt.date] = frozenset()
    # (month, day) pairs that recur every year, if the data file gives any without a year.
    yearly: frozenset[tuple[int, int]] = frozenset()

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and (day in self.dates or (day.month, day.day) in self.yearly)


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
        return (int(value["month"]), int(value["day"]))
    raise SLAConfigError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD)")


def parse_holidays(doc: Any, where: str = "holidays.yml") -> Holidays:
    """Tolerant of the shapes a person might write: a list under `holidays:` (or a bare list)
    of ISO dates or mappings with a `date` (plus names), or a mapping date -> name."""
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
        raise SLAConfigError(f"{where}: expected a list of holidays under 'holidays:'")
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


def load_holidays(path: Path | None = None) -> Holidays:
    path = path or DATA / "holidays.yml"
    if not path.exists():
        # Not fatal: due dates only get a little earlier; say so once at start-up.
        log.warning("no public-holiday file at %s; SLA counts only weekends", path)
        return Holidays()
    return parse_holidays(yaml.safe_load(path.read_text(encoding="utf-8")), str(path.name))


@dataclass(frozen=True)
class SLATable:
    targets: dict[tuple[str, str], int]
    end_of_day: dt.time = dt.time(15, 0)

    def days(self, type_: str, importance: str) -> int:
        return self.targets[(type_, importance)]


def parse_sla(doc: Any, where: str = "sla.yml") -> SLATable:
    if not isinstance(doc, dict) or not isinstance(doc.get("targets"), dict):
        raise SLAConfigError(f"{where}: expected a mapping with 'targets: {{<type>: {{normal: N, urgent: N}}}}'")
    targets: dict[tuple[str, str], int] = {}
    for type_ in TYPES:
        row = doc["targets"].get(type_)
        if not isinstance(row, dict):
            raise SLAConfigError(f"{where}: targets has no row for type {type_!r}; allowed types: {', '.join(TYPES)}")
        for importance in IMPORTANCE:
            days = row.get(importance)
            if not isinstance(days, int) or isinstance(days, bool) or days < 1:
                raise SLAConfigError(
                    f"{where}: targets.{type_}.{importance} must be a whole number of days >= 1, got {days!r}"
                )
            targets[(type_, importance)] = days
    unknown = set(doc["targets"]) - set(TYPES)
    if unknown:
        raise SLAConfigError(f"{where}: unknown request types in targets: {', '.join(sorted(unknown))}")
    eod_raw = str(doc.get("end_of_day", "15:00"))
    try:
        eod = dt.time.fromisoformat(eod_raw)
    except ValueError:
        raise SLAConfigError(f"{where}: end_of_day must be HH:MM, got {eod_raw!r}") from None
    return SLATable(targets, eod)


def load_sla(path: Path | None = None) -> SLATable:
    path = path or DATA / "sla.yml"
    return parse_sla(yaml.safe_load(path.read_text(encoding="utf-8")), path.name)


@dataclass(frozen=True)
class Calendar:
    """Working-day arithmetic for one time zone and holiday list."""

    tz: ZoneInfo
    holidays: Holidays = field(default_factory=Holidays)

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() not in WEEKEND and day not in self.holidays

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


@dataclass(frozen=True)
class SLA:
    table: SLATable
    calendar: Calendar

    def _at_end_of_day(self, day: dt.date) -> dt.datetime:
        local = dt.datetime.combine(day, self.table.end_of_day, tzinfo=self.calendar.tz)
        return local.astimezone(UTC)

    def due_at(self, type_: str, importance: str, start: dt.datetime) -> dt.datetime:
        local_day = start.astimezone(self.calendar.tz).date()
        return self._at_end_of_day(self.calendar.add_working_days(local_day, self.table.days(type_, importance)))

    def extended_due_at(self, type_: str, old_due: dt.datetime, now: dt.datetime) -> dt.datetime:
        """After an escalation: the urgent target of the type, from the later of old due / now."""
        return self.due_at(type_, "urgent", max(old_due, now))


def load(timezone: str, sla_path: Path | None = None, holidays_path: Path | None = None) -> SLA:
    return SLA(load_sla(sla_path), Calendar(ZoneInfo(timezone), load_holidays(holidays_path)))
