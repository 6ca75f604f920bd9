"""When the national contact center has agents on the line.

Shared by the IVR (transfer or after-hours message) and the agent console. The opening hours
come from `CONTACT_CENTER_HOURS`, e.g. "sun-thu 08:00-15:00" (the default: Jordan's government
week, Amman time) or several segments separated by ";", e.g.
"sun-wed 08:00-15:00; thu 08:00-14:00". The center is closed on the public holidays listed in
`CONTACT_CENTER_HOLIDAYS` (a holiday file as `bot.working_days` reads it; by default the case
store's `case_store/data/holidays.yml`, the one the SLA counts with; "none" disables holidays).
The time zone is BEKH_TIMEZONE (`bot.settings.local_timezone`).

A configuration mistake raises `ConfigError` naming the variable and what is allowed, when the
hours are first read, not at the first call after hours.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.settings import ConfigError, env, local_timezone, timezone_name
from bot.working_days import WORKING_WEEK, Holidays, load_holidays

DEFAULT_HOURS = f"{WORKING_WEEK} 08:00-15:00"

# Python's weekday(): Monday is 0.
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_FULL = {
    "monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu",
    "friday": "fri", "saturday": "sat", "sunday": "sun",
}
_SEGMENT = re.compile(
    r"^(?P<days>[a-z]+(?:\s*-\s*[a-z]+)?(?:\s*\+\s*[a-z]+(?:\s*-\s*[a-z]+)?)*)\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)


def _day(name: str, spec: str) -> int:
    key = _FULL.get(name, name)[:3]
    if key not in _DAYS:
        raise ConfigError(
            f"Config 'CONTACT_CENTER_HOURS' has an unknown day {name!r} in {spec!r}; "
            "allowed: sun mon tue wed thu fri sat, e.g. 'sun-thu 08:00-15:00'."
        )
    return _DAYS[key]


def _time(value: str, spec: str) -> dt.time:
    try:
        hours, minutes = (int(x) for x in value.split(":"))
        if hours == 24 and minutes == 0:
            return dt.time.max
        return dt.time(hours, minutes)
    except ValueError:
        raise ConfigError(
            f"Config 'CONTACT_CENTER_HOURS' has an invalid time {value!r} in {spec!r}; use HH:MM (00:00-24:00)."
        ) from None


def _day_range(text: str, spec: str) -> list[int]:
    days: list[int] = []
    for part in text.split("+"):
        ends = [p.strip() for p in part.split("-")]
        first = _day(ends[0], spec)
        last = _day(ends[-1], spec)
        d = first
        while True:  # a range may wrap the week end, e.g. "sat-wed"
            days.append(d)
            if d == last:
                break
            d = (d + 1) % 7
    return days


@dataclass(frozen=True)
class Window:
    weekdays: frozenset[int]
    start: dt.time
    end: dt.time

    def contains(self, local: dt.datetime) -> bool:
        return local.weekday() in self.weekdays and self.start <= local.time() < self.end


@dataclass(frozen=True)
class BusinessHours:
    windows: tuple[Window, ...]
    timezone: ZoneInfo
    holidays: Holidays = field(default_factory=Holidays)
    spec: str = DEFAULT_HOURS

    @classmethod
    def parse(cls, spec: str, timezone: ZoneInfo | None = None, holidays: Holidays | None = None) -> BusinessHours:
        """`timezone` defaults to BEKH_TIMEZONE, `holidays` to none."""
        tz = timezone or local_timezone()
        windows = []
        for raw in spec.lower().split(";"):
            segment = raw.strip()
            if not segment:
                continue
            m = _SEGMENT.match(segment)
            if not m:
                raise ConfigError(
                    f"Config 'CONTACT_CENTER_HOURS' is {spec!r}; expected '<days> HH:MM-HH:MM' segments "
                    "separated by ';', e.g. 'sun-thu 08:00-15:00' or 'sun-wed 08:00-15:00; thu 08:00-14:00'."
                )
            start, end = _time(m["start"], spec), _time(m["end"], spec)
            if end <= start:
                raise ConfigError(f"Config 'CONTACT_CENTER_HOURS': closing time {m['end']} is not after opening time {m['start']} in {spec!r}.")
            windows.append(Window(frozenset(_day_range(m["days"], spec)), start, end))
        if not windows:
            raise ConfigError(f"Config 'CONTACT_CENTER_HOURS' is {spec!r}, which opens no hours; e.g. 'sun-thu 08:00-15:00'.")
        return cls(tuple(windows), tz, holidays or Holidays(), spec)

    def local(self, now: dt.datetime | None = None) -> dt.datetime:
        """`now` in the contact center's time zone; a naive datetime is taken as already local."""
        if now is None:
            return dt.datetime.now(self.timezone)
        if now.tzinfo is None:
            return now.replace(tzinfo=self.timezone)
        return now.astimezone(self.timezone)

    def is_open(self, now: dt.datetime | None = None) -> bool:
        local = self.local(now)
        if local.date() in self.holidays:
            return False
        return any(w.contains(local) for w in self.windows)

    def describe(self, language: str) -> str:
        """The hours as the IVR says them, e.g. 'from Sunday to Thursday, 8:00 am to 3:00 pm'."""
        from babel.dates import format_time, get_day_names

        from bot.i18n import BABEL_LOCALES, gettext, lang_or_default

        loc = BABEL_LOCALES[lang_or_default(language)]
        names = get_day_names("wide", locale=loc)
        parts = []
        for w in self.windows:
            days = _ordered_from_sunday(w.weekdays)
            runs = _runs(days)
            day_text = gettext("voice", language, " and ").join(
                gettext("voice", language, "from {first} to {last}", first=names[a], last=names[b]) if a != b else str(names[a])
                for a, b in runs
            )
            end = w.end if w.end != dt.time.max else dt.time(0, 0)
            parts.append(
                gettext(
                    "voice", language, "{days}, {start} to {end}",
                    days=day_text,
                    start=format_time(w.start, "short", locale=loc),
                    end=format_time(end, "short", locale=loc),
                )
            )
        # CLDR puts narrow no-break spaces in times ("3:00\u202fpm"); speech and SMS want plain ones.
        return gettext("voice", language, "; ").join(parts).replace("\u202f", " ").replace("\xa0", " ")


def _ordered_from_sunday(days: frozenset[int]) -> list[int]:
    return sorted(days, key=lambda d: (d - 6) % 7)


def _runs(days: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for d in days:
        if runs and (runs[-1][1] + 1) % 7 == d:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


@functools.lru_cache(maxsize=8)
def _build(spec: str, timezone: str, holidays_setting: str) -> BusinessHours:
    if holidays_setting.lower() in ("none", "off", "no"):
        holidays = Holidays()
    elif holidays_setting:
        holidays = load_holidays(Path(holidays_setting), setting="CONTACT_CENTER_HOLIDAYS")
    else:
        holidays = load_holidays()
    return BusinessHours.parse(spec, ZoneInfo(timezone), holidays)


def current() -> BusinessHours:
    """The configured hours (re-read when the environment changes, so tests can monkeypatch)."""
    return _build(
        env("CONTACT_CENTER_HOURS", DEFAULT_HOURS) or DEFAULT_HOURS,
        timezone_name(),
        env("CONTACT_CENTER_HOLIDAYS", "") or "",
    )


def is_open(now: dt.datetime | None = None) -> bool:
    """True when agents are on duty at `now` (default: this moment)."""
    return current().is_open(now)
