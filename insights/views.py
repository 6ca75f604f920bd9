"""What each dashboard shows, as tiles, charts and tables built from the KPI functions.

The request figures come from insights/requests_kpi.py (scoped and, for the public, suppressed
there: insights/scope.py); the conversation figures from insights/conversation_kpi.py, for the
operations room only. One Table feeds both the HTML page (formatted with Babel) and the CSV
export (raw values), so the two never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from bot.i18n import N_, format_decimal1, format_month, format_number, format_percent, format_short_day, gettext, lang_or_default
from bot.request_rules import REQUEST_TYPES
from insights import charts, conversation_kpi, requests_kpi
from insights.scope import MIN_PUBLIC_CELL, MIN_RANKED_PUBLIC, Scope

DOMAIN = "insights"
DASH = "—"
# name -> (days back, grain)
PERIODS = {"30d": (30, "day"), "90d": (90, "week"), "12m": (365, "month")}
DEFAULT_PERIOD = "90d"


def t(language: str, message: str, **params: object) -> str:
    return gettext(DOMAIN, lang_or_default(language), message, **params)


@dataclass(frozen=True)
class Column:
    key: str
    title: str  # msgid
    kind: str = "int"  # text | int | share | dec | spark


@dataclass
class Table:
    key: str
    title: str  # msgid
    columns: list[Column]
    rows: list[dict[str, Any]]
    note: str | None = None  # msgid


@dataclass
class Dashboard:
    view: str  # ops_room | minister | entity | public
    language: str
    since: dt.date
    until: dt.date
    grain: str
    period: str
    tiles: list[tuple[str, str]] = field(default_factory=list)  # (msgid, formatted value)
    charts: list[tuple[str, str]] = field(default_factory=list)  # (msgid, svg)
    tables: list[Table] = field(default_factory=list)
    conversation_tiles: list[tuple[str, str]] = field(default_factory=list)
    conversation_charts: list[tuple[str, str]] = field(default_factory=list)
    conversation_tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Sources:
    """What the builder reads: the case store (read-only), the analytics store, names, filings."""

    cases: Engine
    analytics: Engine
    entity_name: Callable[[str, str], str]  # (id, language) -> name
    sector_name: Callable[[str, str], str]
    agent_filings: Callable[[dt.datetime, dt.datetime], list[dict[str, Any]]]
    quiet: dt.timedelta = conversation_kpi.QUIET


def fmt(value: Any, kind: str, language: str) -> str:
    if value is None:
        return DASH
    if kind == "int":
        return format_number(int(value), language)
    if kind == "share":
        return format_percent(float(value), language)
    if kind == "dec":
        return format_decimal1(float(value), language)
    return str(value)


def period_range(period: str, today: dt.date) -> tuple[dt.date, dt.date, str]:
    days, grain = PERIODS.get(period, PERIODS[DEFAULT_PERIOD])
    return today - dt.timedelta(days=days - 1), today, grain


def _period_label(iso: str, grain: str, language: str) -> str:
    day = dt.date.fromisoformat(iso[:10])
    return format_month(day, language) if grain == "month" else format_short_day(day, language)


# --- requests ------------------------------------------------------------------------------------

def _request_part(d: Dashboard, src: Sources, scope: Scope, now: dt.datetime) -> None:
    lang, rtl = d.language, d.language == "ar"
    args = (src.cases, scope, d.since, d.until, d.grain)
    vol = requests_kpi.volume(*args)
    dly = requests_kpi.delays(*args, now=now)
    sat = requests_kpi.satisfaction(*args)
    # Every viewer's league table ranks only entities with enough requests behind the figure.
    league = requests_kpi.league(*args, now=now, min_volume=MIN_RANKED_PUBLIC)
    v = (vol["totals"] or [{}])[0]
    dl = (dly["totals"] or [{}])[0]
    s = (sat["totals"] or [{}])[0]
    public = scope.role == "public"
    d.tiles = [
        (N_("Requests received"), fmt(v.get("received"), "int", lang)),
        (N_("Answered within the SLA"), fmt(dl.get("within_sla_share"), "share", lang)),
        (N_("Mean rating (1-5)"), fmt(s.get("rating_mean"), "dec", lang)),
        (N_("Rated resolved"), fmt(s.get("resolved_share"), "share", lang)),
    ]
    if not public:
        d.tiles[1:1] = [
            (N_("Open"), fmt(v.get("open"), "int", lang)),
            (N_("Open past their due date"), fmt(dl.get("overdue"), "int", lang)),
            (N_("Share of open requests overdue"), fmt(dl.get("overdue_share"), "share", lang)),
            (N_("Median hours to answer"), fmt(dl.get("median_hours_to_answer"), "dec", lang)),
            (N_("Escalated"), fmt(dl.get("escalated"), "int", lang)),
            (N_("Reopen rate"), fmt(s.get("reopen_rate"), "share", lang)),
        ]
    periods = sorted({r["period"] for r in vol["rows"]})
    by_p = {r["period"]: r for r in vol["rows"]}
    sla_by_p = {r["period"]: r for r in dly["rows"]}
    received = [by_p[p].get("received") for p in periods]
    answered = [(by_p[p].get("answered") or 0) + (by_p[p].get("closed") or 0) if by_p[p].get("answered") is not None else None
                for p in periods]
    top = max([x for x in received if x is not None] or [0])
    d.charts.append((N_("Requests received and answered"), charts.line_chart(
        t(lang, "Requests received and answered"), [_period_label(p, d.grain, lang) for p in periods],
        [(t(lang, "Received"), received), (t(lang, "Answered or closed"), answered)], rtl=rtl,
        y_format=(fmt(top, "int", lang), fmt(0, "int", lang)))))
    sla = [sla_by_p[p].get("within_sla_share") if p in sla_by_p else None for p in periods]
    d.charts.append((N_("Answered within the SLA, by period"), charts.line_chart(
        t(lang, "Answered within the SLA, by period"), [_period_label(p, d.grain, lang) for p in periods],
        [(t(lang, "Within the SLA"), [x * 100 if x is not None else None for x in sla])], rtl=rtl,
        y_format=(fmt(max([x for x in sla if x is not None] or [0]), "share", lang), fmt(0, "share", lang)))))
    dist = s.get("distribution") or {}
    d.charts.append((N_("Ratings"), charts.bar_chart(
        t(lang, "Ratings"), [(t(lang, "{n} of 5", n=fmt(i, "int", lang)), dist.get(str(i)), fmt(dist.get(str(i)), "int", lang))
                             for i in range(5, 0, -1)], rtl=rtl)))
    if not public:
        statuses = [(N_("Open"), v.get("open")), (N_("Answered"), v.get("answered")), (N_("Closed"), v.get("closed")),
                    (N_("Rejected"), v.get("rejected"))]
        d.charts.append((N_("Where the requests are now"), charts.bar_chart(
            t(lang, "Where the requests are now"), [(t(lang, k), n, fmt(n, "int", lang)) for k, n in statuses], rtl=rtl)))
        levels = dl.get("levels") or {}
        d.tables.append(Table("escalations", N_("Escalations by level reached"),
                              [Column("level", N_("Level"), "text"), Column("requests", N_("Requests"))],
                              [{"level": t(lang, "{n} or more", n=fmt(3, "int", lang)) if k == "3+" else fmt(int(k), "int", lang),
                                "requests": n} for k, n in levels.items()]))
    rows, hidden = [], 0
    for r in league["rows"]:
        if public and r.get("count") is None:
            hidden += 1  # nothing of it may be shown: the note says how many such entities
            continue
        rows.append({
            "entity": src.entity_name(r["entity"], lang), "count": r["count"], "overdue_share": r.get("overdue_share"),
            "within_sla_share": r.get("within_sla_share"), "median_hours_to_answer": r.get("median_hours_to_answer"),
            "rating_mean": r.get("rating_mean"), "resolved_share": r.get("resolved_share"), "rank": r.get("rank"),
            "trend": [p.get("value") for p in r.get("trend", [])], "suppressed": r.get("suppressed"),
        })
    cols = [Column("rank", N_("Rank"), "int"), Column("entity", N_("Entity"), "text"), Column("count", N_("Received"))]
    if not public:
        cols += [Column("overdue_share", N_("Open overdue"), "share")]
    cols += [Column("within_sla_share", N_("Within the SLA"), "share")]
    if not public:
        cols += [Column("median_hours_to_answer", N_("Median hours to answer"), "dec")]
    cols += [Column("rating_mean", N_("Mean rating"), "dec"), Column("resolved_share", N_("Resolved"), "share"),
             Column("trend", N_("Trend (within the SLA)"), "spark")]
    note = N_("A dash: computed from fewer than {n} requests, not shown to protect privacy.") if public else None
    d.tables.append(Table("league", N_("Entities") if public else N_("League table of entities"), cols, rows, note))
    if public and hidden:
        d.notes.append(t(lang, "{count} entities are not listed: they received fewer than {n} requests in this period, "
                               "or their figures would let a hidden one be worked out.",
                         count=fmt(hidden, "int", lang), n=fmt(MIN_PUBLIC_CELL, "int", lang)))
    if public:
        d.notes.insert(0, t(lang, "Figures computed from fewer than {n} requests are not shown (a dash), so that no one can be recognised.",
                         n=fmt(MIN_PUBLIC_CELL, "int", lang)))
        d.notes.insert(1, t(lang, "Some other figures are hidden too where needed, so that a hidden one cannot be worked out by "
                               "subtracting the ones shown."))
    if league.get("min_volume", 1) > 1:
        d.notes.append(t(lang, "Only entities with at least {n} requests behind the figure are ranked; the others follow, without a rank.",
                         n=fmt(league["min_volume"], "int", lang)))


# --- conversations -------------------------------------------------------------------------------

STEP_LABELS = {
    "started": N_("Form started"), "sector": N_("Sector"), "entity_id": N_("Entity"), "pillar": N_("Pillar"),
    "importance": N_("Importance"), "description": N_("Description"), "contact_phone": N_("Phone number"),
    "edit_field": N_("Summary shown"), "confirmed": N_("Confirmation"), "filed": N_("Filed"), "none": N_("Before the first step"),
}
TYPE_LABELS = {"inquiry": N_("Ask the Government"), "suggestion": N_("Suggestion"), "compliment": N_("Compliment"),
               "complaint": N_("Complaint"), "report": N_("Report")}
LANGUAGE_LABELS = {"ar": N_("Arabic"), "ar_latn": N_("Arabic in Latin letters"), "en": N_("English"), "unknown": N_("Not yet known")}


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def _conversation_part(d: Dashboard, src: Sources, now: dt.datetime) -> None:
    lang, rtl = d.language, d.language == "ar"
    from bot.settings import local_timezone

    tz = local_timezone()
    since = dt.datetime.combine(d.since, dt.time(), tz)
    until = dt.datetime.combine(d.until + dt.timedelta(days=1), dt.time(), tz)
    f = conversation_kpi.figures(src.analytics, since, until, now=now, quiet=src.quiet)
    h = f["handoffs"]
    d.conversation_tiles = [
        (N_("Conversations started"), fmt(f["conversations_started"], "int", lang)),
        (N_("Requests filed in conversations"), fmt(f["requests_filed"], "int", lang)),
        (N_("Median minutes from first message to reference"), fmt(_minutes(f["median_seconds_to_reference"]), "dec", lang)),
        (N_("Handoffs to agents"), fmt(h["count"], "int", lang)),
        (N_("Median minutes until an agent took it"), fmt(_minutes(h["median_wait_seconds"]), "dec", lang)),
        (N_("Handoffs after hours"), fmt(h["after_hours_share"], "share", lang)),
    ]
    started = f["funnel"][0]["count"] or 0
    d.conversation_charts.append((N_("Request forms: how far people got"), charts.funnel(
        t(lang, "Request forms: how far people got"),
        [(t(lang, STEP_LABELS[s["step"]]), s["count"],
          f"{fmt(s['count'], 'int', lang)} · {fmt(s['count'] / started if started else None, 'share', lang)}") for s in f["funnel"]],
        rtl=rtl)))
    days = f["per_day"]
    d.conversation_charts.append((N_("Conversations and filings per day"), charts.line_chart(
        t(lang, "Conversations and filings per day"), [format_short_day(dt.date.fromisoformat(x["day"]), lang) for x in days],
        [(t(lang, "Conversations"), [x["conversations"] for x in days]), (t(lang, "Filed"), [x["filed"] for x in days])],
        rtl=rtl, y_format=(fmt(max([x["conversations"] for x in days] or [0]), "int", lang), fmt(0, "int", lang)))))
    d.conversation_tables.append(Table(
        "completion", N_("Completion by request type"),
        [Column("type", N_("Request type"), "text"), Column("started", N_("Started")), Column("filed", N_("Filed")),
         Column("cancelled", N_("Cancelled")), Column("abandoned", N_("Left unfinished")),
         Column("in_progress", N_("In progress")), Column("rate", N_("Completion rate"), "share")],
        [{"type": t(lang, TYPE_LABELS[k]), **f["completion"][k]} for k in REQUEST_TYPES]))
    d.conversation_tables.append(Table(
        "dropoff", N_("Where people gave up (step being asked)"),
        [Column("step", N_("Step"), "text"), Column("cancelled", N_("Cancelled")), Column("abandoned", N_("Left unfinished"))],
        [{"step": t(lang, STEP_LABELS[k]), **v} for k, v in f["dropoff"].items() if v["cancelled"] or v["abandoned"]]))
    d.conversation_tables.append(Table(
        "fallback", N_("Turns not understood, by language"),
        [Column("language", N_("Language"), "text"), Column("turns", N_("Turns")), Column("fallbacks", N_("Not understood")),
         Column("share", N_("Share"), "share")],
        [{"language": t(lang, LANGUAGE_LABELS.get(k, k)), **v} for k, v in sorted(f["fallback"].items())]))
    ivr = f["ivr"]
    d.conversation_tables.append(Table(
        "ivr", N_("Phone line (IVR)"), [Column("what", N_("Calls"), "text"), Column("n", N_("Number"))],
        [{"what": t(lang, N_("Calls")), "n": ivr["calls"]}, {"what": t(lang, N_("Transferred to an agent")), "n": ivr["transfers"]},
         {"what": t(lang, N_("Hung up before the end")), "n": ivr["hangups_before_end"]}]))
    d.conversation_tables.append(Table(
        "agents", N_("Contact-center filings per agent"),
        [Column("agent", N_("Agent"), "text"), Column("filed", N_("Requests filed"))], src.agent_filings(since, until)))


def build(
    view: str, scope: Scope, language: str, period: str, src: Sources, now: dt.datetime | None = None,
    span: tuple[dt.date, dt.date, str] | None = None,
) -> Dashboard:
    """The view of `scope` over a named period up to today, or over `span` (since, until, grain)."""
    from bot.settings import local_timezone

    now = now or dt.datetime.now(dt.timezone.utc)
    period = period if period in PERIODS else DEFAULT_PERIOD
    since, until, grain = span or period_range(period, now.astimezone(local_timezone()).date())
    d = Dashboard(view=view, language=lang_or_default(language), since=since, until=until, grain=grain, period=period)
    _request_part(d, src, scope, now)
    if scope.role == "ops_room":
        _conversation_part(d, src, now)
    return d


def all_tables(d: Dashboard) -> list[Table]:
    return d.tables + d.conversation_tables
