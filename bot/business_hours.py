"""Contact-center opening hours (default Sunday–Thursday 08:00–15:00, Asia/Amman).

CONTACT_CENTER_HOURS overrides, e.g. "sun-thu 08:00-15:00" or "sun-thu 08:00-15:00,sat 09:00-13:00".
Public holidays (case_store/data/holidays.yml) are closed days.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from bot.settings import env

AMMAN = ZoneInfo("Asia/Amman")
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DEFAULT = "sun-thu 08:00-15:00"
HOLIDAYS = Path(__file__).resolve().parent.parent / "case_store" / "data" / "holidays.yml"
_DAY_AR = {"mon": "الاثنين", "tue": "الثلاثاء", "wed": "الأربعاء", "thu": "الخميس", "fri": "الجمعة", "sat": "السبت", "sun": "الأحد"}
_DAY_EN = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}


class HoursError(ValueError):
    pass


@functools.lru_cache(maxsize=8)
def parse(spec: str) -> tuple[tuple[frozenset[int], dt.time, dt.time, str], ...]:
    rules = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*([a-z]{3})(?:-([a-z]{3}))?\s+(\d{2}):(\d{2})-(\d{2}):(\d{2})\s*", part.lower())
        if not m or m.group(1) not in DAYS or (m.group(2) and m.group(2) not in DAYS):
            raise HoursError(f"CONTACT_CENTER_HOURS part {part!r} is not like 'sun-thu 08:00-15:00'")
        a = DAYS.index(m.group(1))
        b = DAYS.index(m.group(2) or m.group(1))
        days = frozenset((a + i) % 7 for i in range(((b - a) % 7) + 1))
        start, end = dt.time(int(m.group(3)), int(m.group(4))), dt.time(int(m.group(5)), int(m.group(6)))
        rules.append((days, start, end, part.strip()))
    return tuple(rules)


@functools.lru_cache(maxsize=1)
def holidays() -> frozenset[dt.date]:
    try:
        data = yaml.safe_load(HOLIDAYS.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return frozenset()
    out = set()
    for item in data.get("holidays", []):
        value = item.get("date") if isinstance(item, dict) else item
        out.add(value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)))
    return frozenset(out)


def is_open(now: dt.datetime | None = None, spec: str | None = None) -> bool:
    local = (now or dt.datetime.now(dt.timezone.utc)).astimezone(AMMAN)
    if local.date() in holidays():
        return False
    for days, start, end, _ in parse(spec or env("CONTACT_CENTER_HOURS", DEFAULT) or DEFAULT):
        if local.weekday() in days and start <= local.time() < end:
            return True
    return False


def describe(language: str, spec: str | None = None) -> str:
    """'من الأحد إلى الخميس، 08:00–15:00' / 'Sunday to Thursday, 08:00–15:00'."""
    parts = []
    for part in (spec or env("CONTACT_CENTER_HOURS", DEFAULT) or DEFAULT).split(","):
        m = re.fullmatch(r"\s*([a-z]{3})(?:-([a-z]{3}))?\s+(\S+)\s*", part.lower())
        if not m:
            continue
        names = _DAY_AR if language == "ar" else _DAY_EN
        span = names[m.group(1)] if not m.group(2) else (
            f"من {names[m.group(1)]} إلى {names[m.group(2)]}" if language == "ar" else f"{names[m.group(1)]} to {names[m.group(2)]}"
        )
        parts.append(f"{span}، {m.group(3)}" if language == "ar" else f"{span}, {m.group(3)}")
    return ("؛ " if language == "ar" else "; ").join(parts)
