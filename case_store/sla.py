"""SLA due dates in working days (`bot.working_days`: Sunday-Thursday, minus public holidays).

All arithmetic happens on local (BEKH_TIMEZONE, Amman by default) calendar dates, then the due time is pinned to the end
of the working day and converted back to UTC; zoneinfo handles the DST changes on the way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bot.request_rules import IMPORTANCE, REQUEST_TYPES
from bot.working_days import Calendar, load_holidays
from case_store.constants import UTC

DATA = Path(__file__).resolve().parent / "data"


class SLAConfigError(ValueError):
    pass


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
    for type_ in REQUEST_TYPES:
        row = doc["targets"].get(type_)
        if not isinstance(row, dict):
            raise SLAConfigError(f"{where}: targets has no row for type {type_!r}; allowed types: {', '.join(REQUEST_TYPES)}")
        for importance in IMPORTANCE:
            days = row.get(importance)
            if not isinstance(days, int) or isinstance(days, bool) or days < 1:
                raise SLAConfigError(
                    f"{where}: targets.{type_}.{importance} must be a whole number of days >= 1, got {days!r}"
                )
            targets[(type_, importance)] = days
    unknown = set(doc["targets"]) - set(REQUEST_TYPES)
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
class SLA:
    table: SLATable
    calendar: Calendar

    def _at_end_of_day(self, day: dt.date) -> dt.datetime:
        local = dt.datetime.combine(day, self.table.end_of_day, tzinfo=self.calendar.tz)
        return local.astimezone(UTC)

    def due_at(self, type_: str, importance: str, start: dt.datetime) -> dt.datetime:
        return self.due_in_days(self.table.days(type_, importance), start)

    def due_in_days(self, days: int, start: dt.datetime) -> dt.datetime:
        """A target given in working days by something other than the table (a campaign's SLA)."""
        local_day = start.astimezone(self.calendar.tz).date()
        return self._at_end_of_day(self.calendar.add_working_days(local_day, days))

    def extended_due_at(self, type_: str, old_due: dt.datetime, now: dt.datetime) -> dt.datetime:
        """After an escalation: the urgent target of the type, from the later of old due / now."""
        return self.due_at(type_, "urgent", max(old_due, now))


def load(timezone: str, sla_path: Path | None = None, holidays_path: Path | None = None) -> SLA:
    return SLA(load_sla(sla_path), Calendar(ZoneInfo(timezone), load_holidays(holidays_path)))
