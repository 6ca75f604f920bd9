"""The conversation figures, from the analytics store (insights/analytics.py fills it).

Every function takes an engine or connection and a half-open UTC range [since, until) and returns
plain JSON-able dicts. A form left open longer than `quiet` counts as abandoned at the step it
was asking for; one still in its quiet time counts as in progress and is left out of the rates.
These figures are for the operations room: they are not per entity and hold no request.
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection, Engine

from bot.request_rules import REQUEST_TYPES
from insights.analytics_tables import conversations, forms, handoffs, turns

Json = dict[str, Any]
QUIET = dt.timedelta(minutes=30)
# The request forms' steps in the order the form asks them (domain.yml forms.*.required_slots).
FORM_STEPS = ("sector", "entity_id", "pillar", "importance", "description", "contact_phone", "edit_field", "confirmed")
VOICE_CHANNEL = "twilio_voice"  # channels/twilio_voice/settings.py CHANNEL (not imported: it loads Rasa)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _conn(bind: Engine | Connection) -> Any:
    return bind.connect() if isinstance(bind, Engine) else _Borrowed(bind)


class _Borrowed:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, *_: object) -> None:
        return None


def _outcome(row: Any, now: dt.datetime, quiet: dt.timedelta) -> str:
    if row.outcome != "open":
        return str(row.outcome)
    last = _aware(row.last_event_at)
    return "abandoned" if last is not None and now - last >= quiet else "in_progress"


def figures(
    bind: Engine | Connection, since: dt.datetime, until: dt.datetime, *, now: dt.datetime | None = None,
    quiet: dt.timedelta = QUIET,
) -> Json:
    """Everything the operations room shows about conversations, for forms and conversations that
    started in [since, until) and turns and handoffs that happened then."""
    now = now or dt.datetime.now(dt.timezone.utc)
    with _conn(bind) as conn:
        convs = conn.execute(
            select(conversations.c.channel, conversations.c.started_at, conversations.c.first_reference_at, conversations.c.conv)
            .where(conversations.c.started_at >= since, conversations.c.started_at < until)
        ).all()
        form_rows = conn.execute(
            select(forms.c.conv, forms.c.channel, forms.c.request_type, forms.c.step, forms.c.outcome, forms.c.last_event_at,
                   forms.c.started_at)
            .where(forms.c.started_at >= since, forms.c.started_at < until)
        ).all()
        turn_rows = conn.execute(
            select(turns.c.language, func.count(), func.sum(case((turns.c.fallback, 1), else_=0)))
            .where(turns.c.at >= since, turns.c.at < until).group_by(turns.c.language)
        ).all()
        hand_rows = conn.execute(
            select(handoffs.c.conv, handoffs.c.channel, handoffs.c.wait_seconds, handoffs.c.after_hours, handoffs.c.taken_at)
            .where(and_(handoffs.c.requested_at >= since, handoffs.c.requested_at < until))
        ).all()
    outcomes = [(_outcome(f, now, quiet), f) for f in form_rows]
    completion: dict[str, Json] = {}
    for rtype in REQUEST_TYPES:
        mine = [o for o, f in outcomes if f.request_type == rtype]
        done = [o for o in mine if o != "in_progress"]
        filed = mine.count("filed")
        completion[rtype] = {
            "started": len(mine), "filed": filed, "cancelled": mine.count("cancelled"), "abandoned": mine.count("abandoned"),
            "in_progress": mine.count("in_progress"), "rate": _share(filed, len(done)),
        }
    dropoff = {step: {"cancelled": 0, "abandoned": 0} for step in (*FORM_STEPS, "none")}
    for o, f in outcomes:
        if o in ("cancelled", "abandoned"):
            step = f.step if f.step in FORM_STEPS else "none"
            dropoff[step][o] += 1
    ended = [(o, f) for o, f in outcomes if o != "in_progress"]
    funnel = [{"step": "started", "count": len(ended)}]
    for i, step in enumerate(FORM_STEPS):
        reached = sum(1 for o, f in ended if o == "filed" or (f.step in FORM_STEPS and FORM_STEPS.index(f.step) >= i))
        funnel.append({"step": step, "count": reached})
    funnel.append({"step": "filed", "count": sum(1 for o, _ in ended if o == "filed")})
    fallback = {}
    for language, n, fb in turn_rows:
        fallback[language or "unknown"] = {"turns": int(n), "fallbacks": int(fb or 0), "share": _share(int(fb or 0), int(n))}
    waits = [float(h.wait_seconds) for h in hand_rows if h.wait_seconds is not None]
    voice_convs = {c.conv for c in convs if c.channel == VOICE_CHANNEL}
    transferred = {h.conv for h in hand_rows if h.channel == VOICE_CHANNEL}
    unfinished = {f.conv for o, f in outcomes if f.channel == VOICE_CHANNEL and o in ("cancelled", "abandoned")}
    to_reference = [
        ((_aware(c.first_reference_at) or now) - (_aware(c.started_at) or now)).total_seconds() for c in convs if c.first_reference_at
    ]
    per_day: dict[str, int] = {}
    for c in convs:
        day = (_aware(c.started_at) or now).date().isoformat()
        per_day[day] = per_day.get(day, 0) + 1
    filed_per_day: dict[str, int] = {}
    for o, f in outcomes:
        if o == "filed":
            day = (_aware(f.started_at) or now).date().isoformat()
            filed_per_day[day] = filed_per_day.get(day, 0) + 1
    return {
        "since": since.isoformat(), "until": until.isoformat(),
        "conversations_started": len(convs),
        "requests_filed": sum(c["filed"] for c in completion.values()),
        "completion": completion,
        "dropoff": dropoff,
        "funnel": funnel,
        "fallback": fallback,
        "handoffs": {
            "count": len(hand_rows), "taken": len(waits), "waiting_or_expired": len(hand_rows) - len(waits),
            "median_wait_seconds": _median(waits),
            "after_hours": sum(1 for h in hand_rows if h.after_hours),
            "after_hours_share": _share(sum(1 for h in hand_rows if h.after_hours), len(hand_rows)),
        },
        "ivr": {"calls": len(voice_convs), "transfers": len(transferred & voice_convs),
                "hangups_before_end": len((unfinished - transferred) & voice_convs)},
        "median_seconds_to_reference": _median(to_reference),
        "per_day": [{"day": d, "conversations": per_day[d], "filed": filed_per_day.get(d, 0)} for d in sorted(per_day)],
    }
