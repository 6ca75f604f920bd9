"""When agents are on duty: what a person who asks for one after hours is told, and when the wait
of a queued handoff starts counting (expiry.py). The hours, working week and holidays are
bot.business_hours' (CONTACT_CENTER_HOURS, bot.working_days); the time zone is BEKH_TIMEZONE."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_datetime

from bot import business_hours
from bot.i18n import BABEL_LOCALES, lang_or_default
from bot.settings import local_timezone
from channels.agent_console.page import t

_STEP = dt.timedelta(minutes=5)


def next_opening(now: dt.datetime) -> dt.datetime:
    """`now` when agents are on duty, else the first moment (5-minute grid) they are, within 3 weeks."""
    is_open = business_hours.current().is_open
    if is_open(now):
        return now
    t = now.replace(second=0, microsecond=0)
    t += dt.timedelta(minutes=-(t.minute % 5) + 5)
    for _ in range(21 * 24 * 12):  # three weeks covers the longest holiday run (Eid + weekend)
        if is_open(t):
            return t
        t += _STEP
    raise ValueError("the contact center has no opening hours in the next three weeks: check CONTACT_CENTER_HOURS")


def next_opening_text(language: str, now: dt.datetime) -> str:
    """What to tell a person who asks for an agent after hours, in their language."""
    language = lang_or_default(language)
    when = next_opening(now)
    if when <= now:
        return t(language, "An agent will be with you shortly.")
    available = t(language, "Our agents are available {hours}.", hours=business_hours.current().describe(language))
    moment = format_datetime(when.astimezone(local_timezone()), "EEEE HH:mm", locale=BABEL_LOCALES[language])
    return available + " " + t(language, "The next opening is {when}.", when=moment)

