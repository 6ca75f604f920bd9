"""Request KPIs from the case store: volume, delays, satisfaction, the league table, escalations.

Every function takes a sync SQLAlchemy Engine or Connection on the case-store database (open it
with `insights.case_store_source.read_only_engine()`), a Scope (insights/scope.py: who sees which
requests and the public page's small-cell rule), the local dates `since`..`until` (both included,
in BEKH_TIMEZONE) of the requests' receipt, a grain (day, week from Sunday, month) and an optional
breakdown `by`. Each has an `_async` twin for an AsyncEngine. They return plain JSON-able dicts.

What the figures mean (the cohort is always "requests received in the range"):
- volume: received; and how many of those are now open (submitted, in progress, reopened),
  answered, closed, rejected; `reopened` counts those the citizen reopened at least once.
- delays, as of `now`: open past due (count, share of the open ones, mean and max calendar days
  overdue); requests escalated, by level reached (1, 2, 3 or more); share of the answered ones
  answered within SLA (by the first due date, never escalated); median and 90th percentile of the
  time to the (latest) answer in calendar hours.
- satisfaction: ratings (mean, distribution 1..5), share rated "resolved", reopen rate (reopened
  at least once / answered at least once).
- league: one row per entity with the above and a trend series (per period of the grain) of the
  metric it is ranked on, for a sparkline.
- escalations: the escalations log by the date of each escalation (not of the receipt).

Rows carry the counts they were computed from (`count` = received; `open`; `with_answer`: those
answered at least once, whatever their status now; `rated`) where a figure is a share or mean.
For the public scope a figure computed from fewer than MIN_PUBLIC_CELL requests is None and its
row says `suppressed: true`, and so is any figure that would give such a one back by subtraction
(insights/scope.py decides, on the range's per-entity table). No free text (a description, an
answer, a comment) is ever read by these queries.

Where the figures come from (`source`): the daily rollups the case store's triggers keep
(kpi_daily, kpi_escalations_daily; case_store/kpi_rollup.py) when they are live, else the
requests themselves ("auto", the default); "raw" forces the requests, "rollup" refuses to fall
back. Both give the same figures (tests/insights/test_kpi_rollup.py), except the median and 90th
percentile of the time to answer, which the rollup gives from histograms: never above the exact
figure, below it by less than 0.78 % plus one minute. "Overdue" is always counted live.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Date, Integer, and_, case, cast, func, literal_column, select, text, tuple_
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ColumnElement

from bot.settings import local_timezone
from case_store import kpi_rollup
from case_store.constants import OPEN_STATUSES, UTC
from case_store.models import Escalation, KpiDaily, KpiEscalationsDaily, Request
from insights.scope import MIN_RANKED_PUBLIC, NATIONAL, WHOLE, Hidden, Scope, check_breakdown, hidden_cells, suppressed

GRAINS = ("day", "week", "month")
BREAKDOWNS = ("channel", "sector", "entity", "type", "pillar", "importance", "language")
LEAGUE_METRICS = {
    # metric -> True when higher is better
    "within_sla_share": True,
    "overdue_share": False,
    "median_hours_to_answer": False,
    "rating_mean": True,
    "resolved_share": True,
    "reopen_rate": False,
}

# The count each league metric is computed from (what its trend points carry).
_LEAGUE_BASE = {
    "within_sla_share": "with_answer",
    "overdue_share": "open",
    "median_hours_to_answer": "with_answer",
    "rating_mean": "rated",
    "resolved_share": "rated",
    "reopen_rate": "with_answer",
}
_SAT_METRICS = ("rating_mean", "resolved_share", "reopen_rate")

T = TypeVar("T")
Cells = dict[tuple[Any, Any], dict[str, Any]]
Percentiles = dict[tuple[Any, Any], tuple[Any, Any]]
Bind = Engine | Connection
_R = Request.__table__.c
_K = KpiDaily.__table__.c
SOURCES = ("auto", "rollup", "raw")


# --- the shape of every query ------------------------------------------------------------------


def _check(grain: str, by: str | None, since: dt.date, until: dt.date, scope: Scope) -> None:
    if grain not in GRAINS:
        raise ValueError(f"grain {grain!r} is not one of {', '.join(GRAINS)}")
    if by is not None and by not in BREAKDOWNS:
        raise ValueError(f"by {by!r} is not one of {', '.join(BREAKDOWNS)} (or None)")
    if until < since:
        raise ValueError(f"until ({until}) is before since ({since})")
    check_breakdown(scope, by)


def _utc_bounds(since: dt.date, until: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[local midnight of since, local midnight after until) in UTC."""
    start = dt.datetime.combine(since, dt.time(), tzinfo=tz).astimezone(UTC)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(UTC)
    return start, end


def _where(scope: Scope, start: dt.datetime, end: dt.datetime) -> list[ColumnElement[Any]]:
    # The scope boundary: an entity's account never counts another entity's requests.
    clauses: list[ColumnElement[Any]] = [Request.created_at >= start, Request.created_at < end]
    if scope.entity:
        clauses.append(Request.entity == scope.entity)
    if scope.sector:
        clauses.append(Request.sector == scope.sector)
    return clauses


def _period(dialect: str, grain: str, tz: ZoneInfo, at: dt.datetime, column: Any = Request.created_at) -> ColumnElement[Any]:
    """The local date that starts the period of `column` (the receipt; weeks start on Sunday)."""
    if dialect == "postgresql":
        # Literals, not bound parameters: with asyncpg's numbered parameters the SELECT's and the
        # GROUP BY's expressions would differ and PostgreSQL would refuse the grouping. Both
        # values are checked names (GRAINS, an IANA zone), never user text.
        local = func.timezone(literal_column(f"'{tz.key}'"), column)
        if grain == "week":
            shifted = func.date_trunc(literal_column("'week'"), local + literal_column("interval '1 day'"))
            return cast(shifted - literal_column("interval '1 day'"), Date)
        return cast(func.date_trunc(literal_column(f"'{grain}'"), local), Date)
    # SQLite stores naive UTC and has no time zones: shift by the zone's offset at the range's end
    # (Jordan has kept UTC+3 all year since 2022, so this is exact for recent data).
    offset = at.astimezone(tz).utcoffset() or dt.timedelta()
    shift = f"{int(offset.total_seconds() // 60):+d} minutes"
    if grain == "day":
        return func.date(column, shift)
    if grain == "week":
        return func.date(column, shift, "-6 days", "weekday 0")
    return func.strftime("%Y-%m-01", column, shift)


def _epoch(dialect: str, column: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _group_cols(by: str | None) -> list[ColumnElement[Any]]:
    return [getattr(Request, by)] if by else []


def _run(bind: Bind, work: Callable[[Connection], T]) -> T:
    if isinstance(bind, Connection):
        return work(bind)
    with bind.connect() as conn:
        return work(conn)


def _share(part: int | float | None, whole: int | None) -> float | None:
    return round(part / whole, 4) if whole and part is not None else None


def _mean(total: float | None, n: int | None) -> float | None:
    return round(total / n, 4) if n and total is not None else None


def _hide(row: dict[str, Any], scope: Scope, fields_by_base: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """Public scope: every figure whose base count is under the threshold becomes None."""
    if not scope.suppress_small_cells:
        row["suppressed"] = False
        return row
    hidden = False
    for base, fields in fields_by_base.items():
        if suppressed(row.get(base), scope):
            hidden = True
            for f in fields:
                row[f] = None
    if suppressed(row.get("count"), scope):
        hidden = True
        for base in fields_by_base:
            row[base] = None
    row["suppressed"] = hidden
    return row


# What each view's figures are computed from, for the public page's suppression (the first is the
# request count: what it hides, it hides whole).
_PUBLIC_BASES = ("count", "open", "with_answer", "rated")
Suppress = Callable[[list[dict[str, Any]], list[dict[str, Any]]], tuple[list[dict[str, Any]], list[dict[str, Any]]]]


def _public_hidden(conn: Connection, scope: Scope, since: dt.date, until: dt.date, grain: str, source: str,
                   per_entity: Cells | None = None) -> dict[str, Hidden]:
    """The public page's hidden cells for this range and grain: decided on the per-entity table
    and its margins (insights/scope.py), so a national view and a per-entity view of the same
    range hide consistently and neither gives away what the other hides. `per_entity`: the
    view's own cells when it is broken down by entity (else they are read here)."""
    if per_entity is not None:
        table: dict[Any, dict[str, int | None]] = {
            key: {"count": m.get("count", m.get("received")), **{b: m.get(b) for b in _PUBLIC_BASES[1:]}}
            for key, m in per_entity.items()}
        return hidden_cells(table, _PUBLIC_BASES)
    if _use_rollup(conn, source):
        columns = _sums(count="received", open="open", with_answer="with_answer", rated="rated")
        cells = _rollup_cells(conn, scope, since, until, grain, "entity", columns)
    else:
        columns = [func.count().label("count"),
                   func.sum(case((Request.status.in_(OPEN_STATUSES), 1), else_=0)).label("open"),
                   func.sum(case((Request.answered_at.is_not(None), 1), else_=0)).label("with_answer"),
                   func.count(Request.rating_score).label("rated")]
        cells = _grouped(conn, scope, since, until, grain, "entity", columns)
    return hidden_cells(cells, _PUBLIC_BASES)


def _suppressor(scope: Scope, by: str | None, hidden: dict[str, Hidden] | None,
                fields_by_base: Mapping[str, Iterable[str]]) -> Suppress:
    """(rows, totals) -> the same with what this scope may not see set to None (`suppressed`)."""
    if not scope.suppress_small_cells or hidden is None:
        def primary_only(rows: list[dict[str, Any]], totals: list[dict[str, Any]]
                         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return [_hide(r, scope, fields_by_base) for r in rows], [_hide(r, scope, fields_by_base) for r in totals]

        return primary_only
    every = [f for fields in fields_by_base.values() for f in fields] + list(_PUBLIC_BASES)

    def hide(row: dict[str, Any], is_hidden: Callable[[Hidden], bool]) -> dict[str, Any]:
        # Fewer than MIN_PUBLIC_CELL requests: nothing of the cell. Otherwise each base's figures
        # (and the base count itself, else subtraction would rebuild it) as that base decides.
        whole = is_hidden(hidden[WHOLE])
        row["suppressed"] = False
        for base in _PUBLIC_BASES:
            if not whole and ((base not in fields_by_base and base != "count") or not is_hidden(hidden[base])):
                continue
            row["suppressed"] = True
            for f in every if whole else (*fields_by_base.get(base, ()), base):
                if f in row:
                    row[f] = None
        return row

    def apply(rows: list[dict[str, Any]], totals: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        out_rows, out_totals = [], []
        def in_cells(key: Any) -> Callable[[Hidden], bool]:
            return lambda h: key in h.cells

        def in_national(period: Any) -> Callable[[Hidden], bool]:
            return lambda h: period in h.national

        def in_totals(group: Any) -> Callable[[Hidden], bool]:
            return lambda h: group in h.totals

        for r in rows:
            out_rows.append(hide(r, in_cells((r["period"], r["group"])) if by == "entity" else in_national(r["period"])))
        for r in totals:
            out_totals.append(hide(r, in_totals(r["group"]) if by == "entity" else in_national(NATIONAL)))
        return out_rows, out_totals

    return apply


def _envelope(kind: str, scope: Scope, since: dt.date, until: dt.date, grain: str, by: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "kpi": kind,
        "scope": {"role": scope.role, "sector": scope.sector, "entity": scope.entity},
        "since": since.isoformat(),
        "until": until.isoformat(),
        "grain": grain,
        "by": by,
        **extra,
    }


# --- the daily rollup (case_store/kpi_rollup.py) -------------------------------------------------
# Every figure but "overdue" (which moves with the clock) and the percentiles (a histogram per
# cell) is a sum or a max over kpi_daily's rows, which the case store's triggers keep equal to the
# requests. The functions below read it when it is usable and fall back to the requests (the
# queries further down) when it is paused (a seed is loading), missing, or cut in another zone.


def _use_rollup(conn: Connection, source: str) -> bool:
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    if source == "raw":
        return False
    usable = kpi_rollup.usable(conn, local_timezone())
    if source == "rollup" and not usable:
        raise RuntimeError("the kpi_daily rollup is paused, missing or cut in another time zone; "
                           "rebuild it with `python -m case_store rollup --rebuild`")
    return usable


def _day_period(dialect: str, grain: str, day: Any) -> ColumnElement[Any]:
    """The local date that starts the period of a rollup day (weeks start on Sunday)."""
    if dialect == "postgresql":
        if grain == "day":
            return day
        # date minus whole days: no cast to a timestamp (with a zone) and back for every row; no
        # bound parameter either (asyncpg would number it twice, see _period)
        if grain == "week":
            return day - cast(func.extract("dow", day), Integer)
        return day - (cast(func.extract("day", day), Integer) - literal_column("1"))
    if grain == "day":
        return func.date(day)
    if grain == "week":
        return func.date(day, "-6 days", "weekday 0")
    return func.strftime("%Y-%m-01", day)


def _concat(dialect: str, column: Any) -> ColumnElement[Any]:
    return func.string_agg(column, literal_column("''")) if dialect == "postgresql" else func.group_concat(column, "")


def _rollup_cells(conn: Connection, scope: Scope, since: dt.date, until: dt.date, grain: str, by: str | None,
                  columns: list[ColumnElement[Any]], with_hist: bool = False) -> Cells:
    """One read of the rollup: `columns` (labelled aggregates of kpi_daily) per (period, group)."""
    dialect = conn.dialect.name
    dim = by if by in kpi_rollup.DIMENSIONS else ""
    period = _day_period(dialect, grain, _K.day).label("period")
    groups = [(_K.value if dim else _K[by]).label(by)] if by else []
    where = [_K.dim == dim, _K.day >= since, _K.day <= until]
    if scope.entity:
        where.append(_K.entity == scope.entity)
    if scope.sector:
        where.append(_K.sector == scope.sector)
    extra = [_concat(dialect, _K.hist).label("hist")] if with_hist else []
    query = select(period, *groups, *columns, *extra).where(*where).group_by(period, *groups)
    cells: Cells = {}
    for r in conn.execute(query):
        m = dict(r._mapping)
        group = m[by] if by else None
        if dim == "pillar" and group == "":
            group = None  # requests without a pillar, as the raw query groups them
        m[by or "group"] = group
        cells[(_iso(m["period"]), group)] = m
    return dict(sorted(cells.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))))


def _sums(**labels: str) -> list[ColumnElement[Any]]:
    """sum(kpi_daily.<column>) AS <label>, for label=column pairs."""
    return [func.sum(_K[column]).label(label) for label, column in labels.items()]


_VOLUME_SUMS = _sums(received="received", open="open", answered="answered", closed="closed", rejected="rejected",
                     reopened="reopened")
_SAT_SUMS_ROLLUP = _sums(rated="rated", score_sum="score_sum", s1="s1", s2="s2", s3="s3", s4="s4", s5="s5",
                         resolved_known="resolved_known", resolved="resolved", reopened="reopened_answered")
_DELAY_SUMS_ROLLUP = [
    *_sums(count="received", open="open", escalated="escalated", level_1="level_1", level_2="level_2",
           level_3_plus="level_3_plus", with_answer="with_answer", within_sla="within_sla"),
    func.max(_K.max_level).label("max_level"),
]

# Minutes each histogram bucket stands for (its lower bound; kpi_rollup.py says how close that is).
_BUCKET_MINUTES = np.array([kpi_rollup.lower_bound(b) for b in range(kpi_rollup.BUCKETS)], dtype=np.float64)
_EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def _parse_hist(hexes: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(buckets, counts) of a concatenation of `bbbnnnnn` hex entries."""
    if not hexes:
        return _EMPTY
    entries = np.frombuffer(bytes.fromhex(hexes), dtype=">u4").astype(np.int64)
    return entries >> 20, entries & 0xFFFFF


def _dense(buckets: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Counts per bucket (entries of one bucket may repeat: they add up)."""
    return np.bincount(buckets, weights=counts, minlength=kpi_rollup.BUCKETS).astype(np.float64, copy=False)


def _hist_percentiles(dense: np.ndarray) -> tuple[float | None, float | None]:
    """Median and 90th percentile in hours: percentile_cont over the durations taken as their
    buckets' lower bounds."""
    cum = np.cumsum(dense)
    total = round(float(cum[-1]))
    if total == 0:
        return None, None
    out = []
    for q in (0.5, 0.9):
        pos = (total - 1) * q
        lo, hi = math.floor(pos), math.ceil(pos)
        v_lo = _BUCKET_MINUTES[np.searchsorted(cum, lo + 0.5)]  # the first bucket holding rank lo
        v_hi = _BUCKET_MINUTES[np.searchsorted(cum, hi + 0.5)]
        out.append(float(v_lo + (v_hi - v_lo) * (pos - lo)) / 60.0)
    return out[0], out[1]


# Literal values, not bound parameters: the planners (SQLite's above all) then see that the
# partial index ix_requests_open_due (migration 0005) covers the query. Checked names, no user text.
_IS_OPEN_LITERAL = text("requests.status IN (" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")")


def _overdue_cells(conn: Connection, scope: Scope, start: dt.datetime, end: dt.datetime, now: dt.datetime, grain: str,
                   by: str | None, tz: ZoneInfo) -> Cells:
    """What the clock changes without any write: the open requests past due, live from the
    requests (a few percent of them; ix_requests_status_due finds them)."""
    dialect = conn.dialect.name
    period = _period(dialect, grain, tz, end).label("period")
    groups = _group_cols(by)
    due = _epoch(dialect, Request.due_at)
    query = (
        select(period, *groups, func.count().label("overdue"), func.sum(due).label("overdue_due_sum"),
               func.min(due).label("overdue_due_min"))
        .where(*_where(scope, start, end), _IS_OPEN_LITERAL, Request.due_at < now)
        .group_by(period, *groups)
    )
    return {(_iso(r._mapping["period"]), r._mapping[by] if by else None): dict(r._mapping) for r in conn.execute(query)}


def _delay_query_rollup(conn: Connection, scope: Scope, since: dt.date, until: dt.date, now: dt.datetime, grain: str,
                        by: str | None, tz: ZoneInfo, with_satisfaction: bool = False, cell_percentiles: bool = True
                        ) -> tuple[Cells, Percentiles]:
    """_delay_query's figures from the rollup, the overdue ones live, the percentiles from the
    cells' histograms (per cell and per group over the whole range)."""
    start, end = _utc_bounds(since, until, tz)
    columns = _DELAY_SUMS_ROLLUP + (_SAT_SUMS_ROLLUP if with_satisfaction else [])
    cells = _rollup_cells(conn, scope, since, until, grain, by, columns, with_hist=True)
    for key, late in _overdue_cells(conn, scope, start, end, now, grain, by, tz).items():
        cell = cells.setdefault(key, {})
        cell.update({k: late[k] for k in ("overdue", "overdue_due_sum", "overdue_due_min")})
    pct: Percentiles = {}
    whole: dict[Any, np.ndarray] = {}
    for key, cell in cells.items():
        dense = _dense(*_parse_hist(cell.pop("hist", None)))
        pct[key] = _hist_percentiles(dense) if cell_percentiles else (None, None)
        whole[key[1]] = whole[key[1]] + dense if key[1] in whole else dense
    for group, dense in whole.items():
        pct[(TOTAL, group)] = _hist_percentiles(dense)
    return cells, pct



# --- volume --------------------------------------------------------------------------------------

_VOLUME_FIELDS = ("received", "open", "answered", "closed", "rejected", "reopened")


def _grouped(conn: Connection, scope: Scope, since: dt.date, until: dt.date, grain: str, by: str | None,
             columns: list[ColumnElement[Any]]) -> Cells:
    """One scan of the range: `columns` (labelled aggregates) per (period, group), in order."""
    tz = local_timezone()
    start, end = _utc_bounds(since, until, tz)
    period = _period(conn.dialect.name, grain, tz, end).label("period")
    groups = _group_cols(by)
    query = select(period, *groups, *columns).where(*_where(scope, start, end)).group_by(period, *groups)
    cells = {(_iso(r._mapping["period"]), r._mapping[by] if by else None): dict(r._mapping) for r in conn.execute(query)}
    return dict(sorted(cells.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))))


def _volume_columns() -> list[ColumnElement[Any]]:
    return [
        func.count().label("received"),
        func.sum(case((Request.status.in_(OPEN_STATUSES), 1), else_=0)).label("open"),
        func.sum(case((Request.status == "answered", 1), else_=0)).label("answered"),
        func.sum(case((Request.status == "closed", 1), else_=0)).label("closed"),
        func.sum(case((Request.status == "rejected", 1), else_=0)).label("rejected"),
        func.sum(case((Request.reopen_count > 0, 1), else_=0)).label("reopened"),
    ]


def volume(bind: Bind, scope: Scope, since: dt.date, until: dt.date, grain: str = "month", by: str | None = None,
           *, source: str = "auto") -> dict[str, Any]:
    _check(grain, by, since, until, scope)

    def work(conn: Connection) -> dict[str, Any]:
        rows, totals = [], defaultdict(lambda: dict.fromkeys(_VOLUME_FIELDS, 0))
        if _use_rollup(conn, source):
            cells = _rollup_cells(conn, scope, since, until, grain, by, _VOLUME_SUMS)
        else:
            cells = _grouped(conn, scope, since, until, grain, by, _volume_columns())
        hidden = (_public_hidden(conn, scope, since, until, grain, source, cells if by == "entity" else None)
                  if scope.suppress_small_cells else None)
        for (period, group), m in cells.items():
            row = {"period": period, "group": group, **{f: int(m[f] or 0) for f in _VOLUME_FIELDS}}
            for f in _VOLUME_FIELDS:
                totals[group][f] += row[f]
            row["count"] = row["received"]
            rows.append(row)
        total_rows = [{"group": g, **t, "count": t["received"]} for g, t in sorted(totals.items(), key=lambda kv: str(kv[0]))]
        rows, total_rows = _suppressor(scope, by, hidden, {"count": _VOLUME_FIELDS})(rows, total_rows)
        return _envelope("volume", scope, since, until, grain, by, rows=rows, totals=total_rows)

    return _run(bind, work)


# --- delays --------------------------------------------------------------------------------------

_DELAY_SUMS = ("count", "open", "overdue", "escalated", "level_1", "level_2", "level_3_plus", "with_answer", "within_sla")


def _delay_query(conn: Connection, scope: Scope, start: dt.datetime, end: dt.datetime, now: dt.datetime, grain: str,
                 by: str | None, tz: ZoneInfo, with_satisfaction: bool = False) -> tuple[Cells, Percentiles]:
    """One scan of the range: the delay sums per (period, group), and the median and 90th
    percentile of the hours to answer per (period, group) and per (TOTAL, group).

    PostgreSQL computes the percentiles (percentile_cont, with GROUPING SETS adding each group's
    whole range to the same scan). SQLite has no percentile function: each cell's durations come
    back as one string (group_concat, rounded to 3 decimals of an hour) and are sorted here,
    which is far cheaper than a row per request through the driver or SQLite's window functions."""
    dialect = conn.dialect.name
    period = _period(dialect, grain, tz, end).label("period")
    groups = _group_cols(by)
    is_open = Request.status.in_(OPEN_STATUSES)
    overdue = and_(is_open, Request.due_at < now)
    level = Request.escalation_level
    hours = (_epoch(dialect, Request.answered_at) - _epoch(dialect, Request.created_at)) / 3600.0
    if dialect == "postgresql":
        spread = [func.percentile_cont(0.5).within_group(hours).label("p50"),
                  func.percentile_cont(0.9).within_group(hours).label("p90"),
                  func.grouping(period.element).label("is_total")]
        grouping: list[Any] = [func.grouping_sets(tuple_(period.element, *groups), tuple_(*groups) if groups else literal_column("()"))]
    else:
        spread = [func.group_concat(func.round(hours, 3)).label("hours")]
        grouping = [period, *groups]
    query = (
        select(
            period,
            *groups,
            func.count().label("count"),
            func.sum(case((is_open, 1), else_=0)).label("open"),
            func.sum(case((overdue, 1), else_=0)).label("overdue"),
            func.sum(case((overdue, _epoch(dialect, Request.due_at)), else_=None)).label("overdue_due_sum"),
            func.min(case((overdue, _epoch(dialect, Request.due_at)), else_=None)).label("overdue_due_min"),
            func.sum(case((level > 0, 1), else_=0)).label("escalated"),
            func.sum(case((level == 1, 1), else_=0)).label("level_1"),
            func.sum(case((level == 2, 1), else_=0)).label("level_2"),
            func.sum(case((level >= 3, 1), else_=0)).label("level_3_plus"),
            func.max(level).label("max_level"),
            func.sum(case((Request.answered_at.is_not(None), 1), else_=0)).label("with_answer"),
            func.sum(
                case((and_(Request.answered_at.is_not(None), level == 0, Request.answered_at <= Request.due_at), 1), else_=0)
            ).label("within_sla"),
            *spread,
            *(_sat_columns() if with_satisfaction else ()),
        )
        .where(*_where(scope, start, end))
        .group_by(*grouping)
    )
    cells: Cells = {}
    pct: Percentiles = {}
    whole: dict[Any, list[float]] = defaultdict(list)
    for r in conn.execute(query):
        m = r._mapping
        g = m[by] if by else None
        if dialect == "postgresql":
            if m["is_total"]:
                pct[(TOTAL, g)] = (m["p50"], m["p90"])
                continue
            key = (_iso(m["period"]), g)
            pct[key] = (m["p50"], m["p90"])
        else:
            key = (_iso(m["period"]), g)
            numbers = sorted(float(x) for x in str(m["hours"]).split(",")) if m["hours"] else []
            pct[key] = (_percentile(numbers, 0.5), _percentile(numbers, 0.9))
            whole[g].extend(numbers)
        cells[key] = dict(m)
    for g, numbers in whole.items():
        numbers.sort()
        pct[(TOTAL, g)] = (_percentile(numbers, 0.5), _percentile(numbers, 0.9))
    return cells, pct


TOTAL = "*"  # the period key of a group's whole-range percentiles


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _delay_row(sums: dict[str, Any], pct: tuple[float | None, float | None], now_epoch: float) -> dict[str, Any]:
    overdue = int(sums.get("overdue") or 0)
    due_sum, due_min = sums.get("overdue_due_sum"), sums.get("overdue_due_min")
    median, p90 = pct
    return {
        "count": int(sums.get("count") or 0),
        "open": int(sums.get("open") or 0),
        "overdue": overdue,
        "overdue_share": _share(overdue, int(sums.get("open") or 0)),
        "mean_days_overdue": round((now_epoch - float(due_sum) / overdue) / 86400, 2) if overdue and due_sum is not None else None,
        "max_days_overdue": round((now_epoch - float(due_min)) / 86400, 2) if overdue and due_min is not None else None,
        "escalated": int(sums.get("escalated") or 0),
        "levels": {"1": int(sums.get("level_1") or 0), "2": int(sums.get("level_2") or 0), "3+": int(sums.get("level_3_plus") or 0)},
        "max_level": int(sums.get("max_level") or 0),
        "with_answer": int(sums.get("with_answer") or 0),
        "within_sla": int(sums.get("within_sla") or 0),
        "within_sla_share": _share(int(sums.get("within_sla") or 0), int(sums.get("with_answer") or 0)),
        "median_hours_to_answer": round(float(median), 2) if median is not None else None,
        "p90_hours_to_answer": round(float(p90), 2) if p90 is not None else None,
    }


_DELAY_HIDE = {
    "open": ("overdue", "overdue_share", "mean_days_overdue", "max_days_overdue"),
    "with_answer": ("within_sla", "within_sla_share", "median_hours_to_answer", "p90_hours_to_answer"),
    "count": ("escalated", "levels", "max_level"),
}


def _merge(into: dict[str, Any], sums: dict[str, Any]) -> None:
    for k in _DELAY_SUMS + ("overdue_due_sum",):
        into[k] = (into.get(k) or 0) + (sums.get(k) or 0)
    for k, pick in (("overdue_due_min", min), ("max_level", max)):
        values = [v for v in (into.get(k), sums.get(k)) if v is not None]
        into[k] = pick(values) if values else None


def _delays(conn: Connection, scope: Scope, since: dt.date, until: dt.date, grain: str, by: str | None,
            now: dt.datetime, source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tz = local_timezone()
    if _use_rollup(conn, source):
        cells, pct = _delay_query_rollup(conn, scope, since, until, now, grain, by, tz)
    else:
        start, end = _utc_bounds(since, until, tz)
        cells, pct = _delay_query(conn, scope, start, end, now, grain, by, tz)
    hidden = (_public_hidden(conn, scope, since, until, grain, source, cells if by == "entity" else None)
              if scope.suppress_small_cells else None)
    return _delay_rows(cells, pct, now, _suppressor(scope, by, hidden, _DELAY_HIDE))


def _delay_rows(cells: Cells, pct: Percentiles, now: dt.datetime, suppress: Suppress
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    now_epoch = now.timestamp()
    none = (None, None)
    rows: list[dict[str, Any]] = []
    group_sums: dict[Any, dict[str, Any]] = defaultdict(dict)
    for (period, group), sums in sorted(cells.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        rows.append({"period": period, "group": group, **_delay_row(sums, pct.get((period, group), none), now_epoch)})
        _merge(group_sums[group], sums)
    totals = [{"group": g, **_delay_row(s, pct.get((TOTAL, g), none), now_epoch)}
              for g, s in sorted(group_sums.items(), key=lambda kv: str(kv[0]))]
    return suppress(rows, totals)


def delays(bind: Bind, scope: Scope, since: dt.date, until: dt.date, grain: str = "month", by: str | None = None,
           now: dt.datetime | None = None, *, source: str = "auto") -> dict[str, Any]:
    _check(grain, by, since, until, scope)
    now = now or dt.datetime.now(UTC)
    rows, totals = _run(bind, lambda conn: _delays(conn, scope, since, until, grain, by, now, source))
    return _envelope("delays", scope, since, until, grain, by, as_of=now.isoformat(), hours="calendar hours",
                     overdue_days="calendar days", rows=rows, totals=totals)


# --- satisfaction --------------------------------------------------------------------------------

_SAT_SUMS = ("count", "rated", "score_sum", "s1", "s2", "s3", "s4", "s5", "resolved_known", "resolved", "with_answer", "reopened")


def _sat_row(s: dict[str, Any]) -> dict[str, Any]:
    n = {k: int(s.get(k) or 0) for k in _SAT_SUMS}
    return {
        "count": n["count"],
        "rated": n["rated"],
        "rating_mean": _mean(n["score_sum"], n["rated"]),
        "distribution": {str(i): n[f"s{i}"] for i in range(1, 6)},
        "resolved_share": _share(n["resolved"], n["resolved_known"]),
        "with_answer": n["with_answer"],
        "reopened": n["reopened"],
        "reopen_rate": _share(n["reopened"], n["with_answer"]),
    }


_SAT_HIDE = {
    "rated": ("rating_mean", "distribution", "resolved_share"),
    "with_answer": ("reopened", "reopen_rate"),
}


def _sat_columns() -> list[ColumnElement[Any]]:
    score = Request.rating_score
    return [
        func.count(score).label("rated"),
        func.sum(score).label("score_sum"),
        *[func.sum(case((score == i, 1), else_=0)).label(f"s{i}") for i in range(1, 6)],
        func.count(Request.rating_resolved).label("resolved_known"),
        func.sum(case((Request.rating_resolved.is_(True), 1), else_=0)).label("resolved"),
        func.sum(case((and_(Request.answered_at.is_not(None), Request.reopen_count > 0), 1), else_=0)).label("reopened"),
    ]


def _satisfaction(conn: Connection, scope: Scope, since: dt.date, until: dt.date, grain: str, by: str | None,
                  source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if _use_rollup(conn, source):
        columns = _sums(count="received", with_answer="with_answer") + _SAT_SUMS_ROLLUP
        cells = _rollup_cells(conn, scope, since, until, grain, by, columns)
    else:
        columns = [func.count().label("count"),
                   func.sum(case((Request.answered_at.is_not(None), 1), else_=0)).label("with_answer"),
                   *_sat_columns()]
        cells = _grouped(conn, scope, since, until, grain, by, columns)
    hidden = (_public_hidden(conn, scope, since, until, grain, source, cells if by == "entity" else None)
              if scope.suppress_small_cells else None)
    return _sat_rows(cells, _suppressor(scope, by, hidden, _SAT_HIDE))


def _sat_rows(cells: Cells, suppress: Suppress) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    group_sums: dict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_SAT_SUMS, 0))
    for (period, group), m in sorted(cells.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        rows.append({"period": period, "group": group, **_sat_row(m)})
        for k in _SAT_SUMS:
            group_sums[group][k] += int(m.get(k) or 0)
    totals = [{"group": g, **_sat_row(s)} for g, s in sorted(group_sums.items(), key=lambda kv: str(kv[0]))]
    return suppress(rows, totals)


def satisfaction(bind: Bind, scope: Scope, since: dt.date, until: dt.date, grain: str = "month", by: str | None = None,
                 *, source: str = "auto") -> dict[str, Any]:
    _check(grain, by, since, until, scope)
    rows, totals = _run(bind, lambda conn: _satisfaction(conn, scope, since, until, grain, by, source))
    return _envelope("satisfaction", scope, since, until, grain, by, rows=rows, totals=totals)


# --- league table --------------------------------------------------------------------------------


def _league(conn: Connection, scope: Scope, since: dt.date, until: dt.date, grain: str, rank_by: str,
            now: dt.datetime, source: str, min_volume: int) -> list[dict[str, Any]]:
    # One read for both the delay and the satisfaction sums (and the percentiles).
    tz = local_timezone()
    if _use_rollup(conn, source):
        # the periods' percentiles only matter when they are the trend
        cells, pct = _delay_query_rollup(conn, scope, since, until, now, grain, "entity", tz, with_satisfaction=True,
                                         cell_percentiles=rank_by == "median_hours_to_answer")
    else:
        start, end = _utc_bounds(since, until, tz)
        cells, pct = _delay_query(conn, scope, start, end, now, grain, "entity", tz, with_satisfaction=True)
    hidden = _public_hidden(conn, scope, since, until, grain, source, cells) if scope.suppress_small_cells else None
    d_rows, d_totals = _delay_rows(cells, pct, now, _suppressor(scope, "entity", hidden, _DELAY_HIDE))
    s_rows, s_totals = _sat_rows(cells, _suppressor(scope, "entity", hidden, _SAT_HIDE))
    sat = {r["group"]: r for r in s_totals}
    trend: dict[str, list[dict[str, Any]]] = defaultdict(list)
    base = _LEAGUE_BASE[rank_by]
    for r in s_rows if rank_by in _SAT_METRICS else d_rows:
        trend[r["group"]].append({"period": r["period"], "value": r[rank_by], "count": r[base]})
    table = []
    for d in d_totals:
        s = sat.get(d["group"], {})
        row = {
            "entity": d["group"],
            "count": d["count"],
            "open": d["open"],
            "overdue": d["overdue"],
            "overdue_share": d["overdue_share"],
            "max_days_overdue": d["max_days_overdue"],
            "escalated": d["escalated"],
            "with_answer": d["with_answer"],
            "within_sla_share": d["within_sla_share"],
            "median_hours_to_answer": d["median_hours_to_answer"],
            "p90_hours_to_answer": d["p90_hours_to_answer"],
            "rated": s.get("rated"),
            "rating_mean": s.get("rating_mean"),
            "resolved_share": s.get("resolved_share"),
            "reopen_rate": s.get("reopen_rate"),
            "suppressed": bool(d["suppressed"] or s.get("suppressed")),
            "trend": trend[d["group"]],
        }
        table.append(row)
    higher_better = LEAGUE_METRICS[rank_by]

    def ranked(r: dict[str, Any]) -> bool:  # a figure, from enough requests to mean something
        return r[rank_by] is not None and (r[base] or 0) >= min_volume

    # Ranked entities first; then those with too few requests behind the figure (in the figure's
    # order, unranked), then those without it (or with it suppressed), in catalogue-id order.
    table.sort(key=lambda r: (not ranked(r), r[rank_by] is None, -(r[rank_by] or 0) if higher_better else (r[rank_by] or 0),
                              r["entity"]))
    n = 0
    for row in table:
        n += ranked(row)
        row["rank"] = n if ranked(row) else None
    return table


def league(bind: Bind, scope: Scope, since: dt.date, until: dt.date, grain: str = "month", by: str | None = "entity",
           rank_by: str = "within_sla_share", now: dt.datetime | None = None, *, source: str = "auto",
           min_volume: int | None = None) -> dict[str, Any]:
    """Entities ranked on `rank_by` (see LEAGUE_METRICS); `by` is accepted for the common
    signature and must be None or "entity". Only entities with at least `min_volume` requests
    behind the ranked figure get a rank (default: MIN_RANKED_PUBLIC on the public page, 1
    elsewhere); the others are listed after them, unranked."""
    if by not in (None, "entity"):
        raise ValueError(f"the league table ranks entities; by must be 'entity' or None, got {by!r}")
    if rank_by not in LEAGUE_METRICS:
        raise ValueError(f"rank_by {rank_by!r} is not one of {', '.join(LEAGUE_METRICS)}")
    _check(grain, "entity", since, until, scope)
    now = now or dt.datetime.now(UTC)
    minimum = max(1, min_volume if min_volume is not None else MIN_RANKED_PUBLIC if scope.suppress_small_cells else 1)
    rows = _run(bind, lambda conn: _league(conn, scope, since, until, grain, rank_by, now, source, minimum))
    return _envelope("league", scope, since, until, grain, "entity", rank_by=rank_by,
                     higher_is_better=LEAGUE_METRICS[rank_by], min_volume=minimum, ranked_on=_LEAGUE_BASE[rank_by],
                     as_of=now.isoformat(), rows=rows)


# --- escalations ---------------------------------------------------------------------------------


def _period_start(day: dt.date, grain: str) -> dt.date:
    if grain == "week":
        return day - dt.timedelta(days=(day.weekday() + 1) % 7)  # back to Sunday
    return day.replace(day=1) if grain == "month" else day


def _esc_rollup_rows(conn: Connection, scope: Scope, since: dt.date, until: dt.date, grain: str,
                     by: str | None) -> list[dict[str, Any]]:
    """The escalations view from kpi_escalations_daily: sums, and a period's distinct requests as
    the sum of its days' requests new in that period."""
    e = KpiEscalationsDaily.__table__.c
    period = _day_period(conn.dialect.name, grain, e.day).label("period")
    groups = [e.entity.label("entity")] if by == "entity" else [e.sector.label("sector")] if by == "sector" else []
    new = {"day": e.requests_day, "week": e.requests_new_week, "month": e.requests_new_month}[grain]
    where = [e.day >= since, e.day <= until]
    if scope.entity:
        where.append(e.entity == scope.entity)
    if scope.sector:
        where.append(e.sector == scope.sector)
    query = (
        select(period, *groups, func.sum(e.escalations).label("escalations"), func.sum(new).label("count"),
               func.sum(e.level_1).label("level_1"), func.sum(e.level_2).label("level_2"),
               func.sum(e.level_3_plus).label("level_3_plus"))
        .where(*where).group_by(period, *groups).order_by(period, *groups)
    )
    return [_esc_row(r._mapping, by) for r in conn.execute(query)]


def _esc_row(m: Any, by: str | None) -> dict[str, Any]:
    return {
        "period": _iso(m["period"]), "group": m[by] if by else None, "count": int(m["count"] or 0),
        "escalations": int(m["escalations"] or 0),
        "levels": {"1": int(m["level_1"] or 0), "2": int(m["level_2"] or 0), "3+": int(m["level_3_plus"] or 0)},
    }


def escalations(bind: Bind, scope: Scope, since: dt.date, until: dt.date, grain: str = "month", by: str | None = None,
                *, source: str = "auto") -> dict[str, Any]:
    """Escalations that happened in the range (the `escalations` log, by the local date of the
    escalation, not of the receipt): how many, by level reached (1, 2, 3+), and how many distinct
    requests. `by` may be None, entity or sector (or, for the public page, None or entity)."""
    if by not in (None, "entity", "sector"):
        raise ValueError(f"escalations break down by entity or sector (or None), got {by!r}")
    _check(grain, by, since, until, scope)
    tz = local_timezone()
    start, end = _utc_bounds(since, until, tz)

    def rows_by(conn: Connection, by: str | None) -> list[dict[str, Any]]:
        if _use_rollup(conn, source) and conn.dialect.has_table(conn, kpi_rollup.ESC_TABLE):
            rows = _esc_rollup_rows(conn, scope, since, until, grain, by)
            first = _period_start(since, grain)
            if first < since:  # a first period cut by the range: its distinct requests from the log
                cut = min(until, _period_start(first + dt.timedelta(days=32), grain) - dt.timedelta(days=1)
                          if grain == "month" else first + dt.timedelta(days=6))
                exact = {r["group"]: r["count"] for r in raw_rows(conn, by, *_utc_bounds(since, cut, tz))}
                for r in rows:
                    if r["period"] == first.isoformat():
                        r["count"] = exact.get(r["group"], 0)
            return rows
        return raw_rows(conn, by, start, end)

    def raw_rows(conn: Connection, by: str | None, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        period = _period(conn.dialect.name, grain, tz, end, Escalation.at).label("period")
        groups = [Escalation.entity.label("entity")] if by == "entity" else [Request.sector.label("sector")] if by == "sector" else []
        where = [Escalation.at >= start, Escalation.at < end]
        if scope.entity:
            where.append(Escalation.entity == scope.entity)
        if scope.sector:
            where.append(Request.sector == scope.sector)
        query = (
            select(
                period, *groups,
                func.count().label("escalations"),
                func.count(func.distinct(Escalation.request_id)).label("count"),
                func.sum(case((Escalation.level == 1, 1), else_=0)).label("level_1"),
                func.sum(case((Escalation.level == 2, 1), else_=0)).label("level_2"),
                func.sum(case((Escalation.level >= 3, 1), else_=0)).label("level_3_plus"),
            )
            .where(*where)
            .group_by(period, *groups)
            .order_by(period, *groups)
        )
        if by == "sector" or scope.sector:  # the log keeps the entity; the sector is on the request
            query = query.join(Request, Request.id == Escalation.request_id)
        return [_esc_row(r._mapping, by) for r in conn.execute(query)]

    def work(conn: Connection) -> dict[str, Any]:
        rows = rows_by(conn, by)
        hide = {"count": ("escalations", "levels")}
        hidden = None
        if scope.suppress_small_cells:  # decided per entity, so the national rows give nothing away either
            per_entity = rows if by == "entity" else rows_by(conn, "entity")
            hidden = hidden_cells({(r["period"], r["group"]): {"count": r["count"]} for r in per_entity}, ("count",),
                                  with_totals=False)
            hidden = {b: hidden["count"] for b in (WHOLE, *_PUBLIC_BASES)}
        rows, _ = _suppressor(scope, by, hidden, hide)(rows, [])
        return _envelope("escalations", scope, since, until, grain, by, rows=rows)

    return _run(bind, work)


# --- async twins ---------------------------------------------------------------------------------


async def _async(engine: AsyncEngine, fn: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync_conn: fn(sync_conn, *args, **kwargs))


async def volume_async(engine: AsyncEngine, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return await _async(engine, volume, *args, **kwargs)


async def delays_async(engine: AsyncEngine, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return await _async(engine, delays, *args, **kwargs)


async def satisfaction_async(engine: AsyncEngine, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return await _async(engine, satisfaction, *args, **kwargs)


async def escalations_async(engine: AsyncEngine, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return await _async(engine, escalations, *args, **kwargs)


async def league_async(engine: AsyncEngine, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return await _async(engine, league, *args, **kwargs)
