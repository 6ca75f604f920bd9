"""The daily KPI rollup: `kpi_daily`, one row per (local day of receipt, entity, dimension, value).

(And per sector: an entity's requests all have its sector, unless someone changed one by hand,
which the rollup then follows too.)

The operations room's year-long views used to aggregate every request of the year (half a million
rows on PostgreSQL with a million requests, 3-6 s; bench/kpi_load.py). This table holds the same
sums per local day and entity, once for all requests of the cell (dimension '') and once per value
of each breakdown the views use (channel, type, pillar, importance, language), so a year of the
operations room is a few tens of thousands of rows. insights/requests_kpi.py reads it.

Kept fresh by the database itself: triggers on `requests` (INSERT, UPDATE of a column a figure
reads, DELETE, and TRUNCATE on PostgreSQL) recompute the affected (day, entity) cell from its
requests in the same transaction. So whoever writes (the service, the escalation sweep, the admin
CLI, a seed, a hand-made fix in SQL) the rollup is exact when the write commits; nothing has to
remember to update it, and there is no refresh lag. Recomputing the cell (tens to a few hundred
rows through ix_requests_entity_created) rather than adding deltas keeps MAX(escalation_level) and
the histogram exact under any change. On PostgreSQL a transaction-scoped advisory lock per cell
makes concurrent writers to one cell take turns (each recomputes after the other committed).

What a cell cannot hold as a sum:
- "overdue" depends on the clock, not on a write: the KPIs count it live from the open requests
  (a few percent of them, through ix_requests_status_due).
- percentiles of the time to answer: each cell carries a histogram (`hist`) of its answered
  requests' minutes to answer in HDR buckets: exact below 128 minutes, above that the minute count
  keeps its 8 leading bits (a bucket is 1/128 of its octave wide). A bucket stands for its lower
  bound, so a percentile from the merged histograms is percentile_cont of the durations truncated
  to their bucket: never above the exact figure, and below it by less than 1/128 (0.78 %) of it
  plus one minute. Stored as fixed-width hex, 8 characters per (bucket, count): `bbbnnnnn`.

The local day is that of BEKH_TIMEZONE when the rollup was (re)built, kept in `kpi_rollup_meta`
(PostgreSQL converts with the zone; SQLite, which has no zones, shifts by the zone's UTC offset at
that time, as the raw SQLite queries do). A seed pauses the triggers for its bulk insert and
rebuilds the table at the end; the KPIs read the requests directly while the rollup is paused or
was built for another zone (`usable`). `python -m case_store rollup [--rebuild]` shows or rebuilds it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from case_store.constants import OPEN_STATUSES

TABLE = "kpi_daily"
META = "kpi_rollup_meta"
# dimension name -> the requests column whose value it breaks down by ('' = the whole cell)
DIMENSIONS = {"": None, "channel": "channel", "type": "type", "pillar": "pillar", "importance": "importance",
              "language": "language"}
_DIM_LIST = ", ".join(f"'{d}'" for d in DIMENSIONS)
# Columns of `requests` a figure reads: an UPDATE of any other column leaves the rollup alone.
WATCHED = ("created_at", "entity", "sector", "status", "type", "channel", "language", "importance", "pillar",
           "due_at", "escalation_level", "reopen_count", "answered_at", "rating_score", "rating_resolved")
SUMS = ("received", "open", "answered", "closed", "rejected", "reopened", "escalated", "level_1", "level_2",
        "level_3_plus", "with_answer", "within_sla", "rated", "score_sum", "s1", "s2", "s3", "s4", "s5",
        "resolved_known", "resolved", "reopened_answered")

# --- the histogram of minutes to answer ------------------------------------------------------------

SUB_BITS = 7  # 128 buckets per octave above 128 minutes
SUB = 1 << SUB_BITS
TOP_OCTAVE = 24  # up to 2**25 minutes (63 years); longer durations share the last bucket
BUCKETS = (TOP_OCTAVE - SUB_BITS + 2) * SUB
ENTRY = 8  # hex characters per (bucket, count)


def bucket_of(minutes: int) -> int:
    """The bucket of a whole number of minutes (what the SQL below computes)."""
    m = max(0, minutes)
    if m < 2 * SUB:
        return m
    k = min(m.bit_length() - 1, TOP_OCTAVE)
    if m >= 1 << (TOP_OCTAVE + 1):
        return BUCKETS - 1
    return (k - SUB_BITS + 1) * SUB + (m >> (k - SUB_BITS)) - SUB


def lower_bound(bucket: int) -> int:
    """The smallest number of minutes in the bucket: the value a bucket stands for."""
    if bucket < 2 * SUB:
        return bucket
    k = bucket // SUB + SUB_BITS - 1
    return (bucket % SUB + SUB) << (k - SUB_BITS)


def _bucket_sql(m: str) -> str:
    whens = [f"WHEN {m} < {2 * SUB} THEN {m}"]
    for k in range(SUB_BITS + 1, TOP_OCTAVE + 1):
        whens.append(f"WHEN {m} < {1 << (k + 1)} THEN {(k - SUB_BITS + 1) * SUB - SUB} + {m} / {1 << (k - SUB_BITS)}")
    return f"CASE {' '.join(whens)} ELSE {BUCKETS - 1} END"


# --- SQL, per dialect ----------------------------------------------------------------------------


def _minutes_sql(dialect: str) -> str:
    # Whole seconds first, so a duration of exactly 24 h is 1440 minutes despite float noise.
    if dialect == "postgresql":
        return "GREATEST(0, CAST(round(extract(epoch FROM (r.answered_at - r.created_at))) AS bigint) / 60)"
    return "max(0, CAST(round((julianday(r.answered_at) - julianday(r.created_at)) * 86400) AS INTEGER) / 60)"


def _hex_entry_sql(dialect: str, b: str, n: str) -> str:
    if dialect == "postgresql":
        return f"lpad(to_hex({b}), 3, '0') || lpad(to_hex({n}), 5, '0')"
    return f"printf('%03x%05x', {b}, {n})"


def _concat_sql(dialect: str, expr: str) -> str:
    return f"string_agg({expr}, '')" if dialect == "postgresql" else f"group_concat({expr}, '')"


def local_day_sql(dialect: str, column: str) -> str:
    """The local day of a UTC timestamp column, in the zone kept in kpi_rollup_meta."""
    if dialect == "postgresql":
        return f"CAST(({column} AT TIME ZONE (SELECT zone FROM {META} WHERE id = 1)) AS date)"
    return f"date({column}, (SELECT printf('%+d minutes', utc_offset_minutes) FROM {META} WHERE id = 1))"


def _source_sql(dialect: str, where: str, day: str) -> str:
    """Every request matching `where` once per dimension, with its day, dimension value and the
    bucket of its minutes to answer (NULL when unanswered)."""
    dims = " UNION ALL ".join(f"SELECT '{d}' AS dim" for d in DIMENSIONS)
    value = "CASE d.dim " + " ".join(f"WHEN '{d}' THEN COALESCE(q.{c}, '')" for d, c in DIMENSIONS.items() if c) + " ELSE '' END"
    minutes = f"CASE WHEN r.answered_at IS NULL THEN NULL ELSE {_minutes_sql(dialect)} END"
    requests = f"SELECT r.*, {day} AS day, {minutes} AS m FROM requests r WHERE {where}"
    return (f"SELECT q.*, d.dim AS dim, {value} AS value, CASE WHEN q.m IS NULL THEN NULL ELSE {_bucket_sql('q.m')} END AS b "
            f"FROM ({requests}) q, ({dims}) d")


def _aggregates() -> str:
    open_ = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
    answered = "x.answered_at IS NOT NULL"
    parts = {
        "received": "count(*)",
        "open": f"sum(CASE WHEN x.status IN ({open_}) THEN 1 ELSE 0 END)",
        "answered": "sum(CASE WHEN x.status = 'answered' THEN 1 ELSE 0 END)",
        "closed": "sum(CASE WHEN x.status = 'closed' THEN 1 ELSE 0 END)",
        "rejected": "sum(CASE WHEN x.status = 'rejected' THEN 1 ELSE 0 END)",
        "reopened": "sum(CASE WHEN x.reopen_count > 0 THEN 1 ELSE 0 END)",
        "escalated": "sum(CASE WHEN x.escalation_level > 0 THEN 1 ELSE 0 END)",
        "level_1": "sum(CASE WHEN x.escalation_level = 1 THEN 1 ELSE 0 END)",
        "level_2": "sum(CASE WHEN x.escalation_level = 2 THEN 1 ELSE 0 END)",
        "level_3_plus": "sum(CASE WHEN x.escalation_level >= 3 THEN 1 ELSE 0 END)",
        "with_answer": f"sum(CASE WHEN {answered} THEN 1 ELSE 0 END)",
        "within_sla": f"sum(CASE WHEN {answered} AND x.escalation_level = 0 AND x.answered_at <= x.due_at THEN 1 ELSE 0 END)",
        "rated": "count(x.rating_score)",
        "score_sum": "COALESCE(sum(x.rating_score), 0)",
        **{f"s{i}": f"sum(CASE WHEN x.rating_score = {i} THEN 1 ELSE 0 END)" for i in range(1, 6)},
        "resolved_known": "count(x.rating_resolved)",
        "resolved": "sum(CASE WHEN x.rating_resolved THEN 1 ELSE 0 END)",
        "reopened_answered": f"sum(CASE WHEN {answered} AND x.reopen_count > 0 THEN 1 ELSE 0 END)",
    }
    assert tuple(parts) == SUMS
    return ", ".join(f"{sql} AS {name}" for name, sql in parts.items())


def fill_sql(dialect: str, where: str, day: str) -> str:
    """INSERT the rows of every cell of the requests matching `where` (the cells must be empty)."""
    src = _source_sql(dialect, where, day)
    columns = ", ".join(("day", "entity", "sector", "dim", "value", *SUMS, "max_level", "hist"))  # by name
    entry = _hex_entry_sql(dialect, "h.b", "count(*)")
    return (
        f"INSERT INTO {TABLE} ({columns}) "
        f"SELECT a.day, a.entity, a.sector, a.dim, a.value, {', '.join('a.' + s for s in SUMS)}, a.max_level, hs.hist FROM "
        f"(SELECT x.day AS day, x.entity AS entity, x.sector AS sector, x.dim AS dim, x.value AS value, {_aggregates()}, "
        f"max(x.escalation_level) AS max_level FROM ({src}) x GROUP BY x.day, x.entity, x.sector, x.dim, x.value) a "
        f"LEFT JOIN (SELECT e.day AS day, e.entity AS entity, e.sector AS sector, e.dim AS dim, e.value AS value, "
        f"{_concat_sql(dialect, 'e.entry')} AS hist "
        f"FROM (SELECT h.day AS day, h.entity AS entity, h.sector AS sector, h.dim AS dim, h.value AS value, {entry} AS entry "
        f"FROM ({src}) h WHERE h.b IS NOT NULL GROUP BY h.day, h.entity, h.sector, h.dim, h.value, h.b) e "
        f"GROUP BY e.day, e.entity, e.sector, e.dim, e.value) hs "
        f"ON hs.day = a.day AND hs.entity = a.entity AND hs.sector = a.sector AND hs.dim = a.dim AND hs.value = a.value "
        f"ORDER BY a.dim, a.day, a.entity, a.sector, a.value"  # rows laid down in the order they are read
    )


def _sqlite_cell_statements(row: str) -> list[str]:
    """Recompute the cell of `row` (NEW or OLD) inside a SQLite trigger."""
    day = local_day_sql("sqlite", f"{row}.created_at")
    shift = f"(SELECT printf('%+d minutes', -utc_offset_minutes) FROM {META} WHERE id = 1)"
    lo, hi = f"datetime({day}, {shift})", f"datetime({day}, '+1 day', {shift})"
    where = f"r.entity = {row}.entity AND r.created_at >= {lo} AND r.created_at < {hi}"
    return [f"DELETE FROM {TABLE} WHERE entity = {row}.entity AND dim IN ({_DIM_LIST}) AND day = {day}", fill_sql("sqlite", where, day)]


def _sqlite_triggers() -> list[str]:
    active = f"(SELECT paused FROM {META} WHERE id = 1) = 0"
    cell_moved = (f"(OLD.entity IS NOT NEW.entity OR {local_day_sql('sqlite', 'OLD.created_at')} "
                  f"IS NOT {local_day_sql('sqlite', 'NEW.created_at')})")
    watched = ", ".join(WATCHED)

    def trigger(name: str, event: str, when: str, row: str) -> str:
        body = "; ".join(_sqlite_cell_statements(row))
        return f"CREATE TRIGGER {name} AFTER {event} ON requests FOR EACH ROW WHEN {when} BEGIN {body}; END"

    return [
        trigger("kpi_daily_insert", "INSERT", active, "NEW"),
        trigger("kpi_daily_update_new", f"UPDATE OF {watched}", active, "NEW"),
        trigger("kpi_daily_update_old", f"UPDATE OF {watched}", f"{active} AND {cell_moved}", "OLD"),
        trigger("kpi_daily_delete", "DELETE", active, "OLD"),
    ]


def _postgres_functions() -> list[str]:
    where = "r.entity = p_entity AND r.created_at >= lo AND r.created_at < hi"
    return [
        f"""CREATE OR REPLACE FUNCTION kpi_daily_refresh(p_entity text, p_day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    z text;
    lo timestamptz;
    hi timestamptz;
BEGIN
    -- One writer per cell at a time: the second recomputes after the first committed.
    PERFORM pg_advisory_xact_lock(hashtext('kpi_daily:' || p_entity), p_day - DATE '2000-01-01');
    SELECT zone INTO z FROM {META} WHERE id = 1;
    lo := p_day::timestamp AT TIME ZONE z;
    hi := (p_day + 1)::timestamp AT TIME ZONE z;
    DELETE FROM {TABLE} WHERE entity = p_entity AND dim IN ({_DIM_LIST}) AND day = p_day;
    {fill_sql("postgresql", where, "p_day")};
END
$$""",
        f"""CREATE OR REPLACE FUNCTION kpi_daily_on_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    z text;
    p boolean;
BEGIN
    SELECT zone, paused INTO z, p FROM {META} WHERE id = 1;
    IF p THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM kpi_daily_refresh(NEW.entity, CAST((NEW.created_at AT TIME ZONE z) AS date));
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.entity IS DISTINCT FROM NEW.entity
            OR CAST((OLD.created_at AT TIME ZONE z) AS date) <> CAST((NEW.created_at AT TIME ZONE z) AS date))) THEN
        PERFORM kpi_daily_refresh(OLD.entity, CAST((OLD.created_at AT TIME ZONE z) AS date));
    END IF;
    RETURN NULL;
END
$$""",
        f"""CREATE OR REPLACE FUNCTION kpi_daily_on_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {TABLE};
    RETURN NULL;
END
$$""",
    ]


def _postgres_triggers() -> list[str]:
    watched = ", ".join(WATCHED)
    return [
        "CREATE TRIGGER kpi_daily_insert AFTER INSERT ON requests FOR EACH ROW EXECUTE FUNCTION kpi_daily_on_change()",
        f"CREATE TRIGGER kpi_daily_update AFTER UPDATE OF {watched} ON requests FOR EACH ROW EXECUTE FUNCTION kpi_daily_on_change()",
        "CREATE TRIGGER kpi_daily_delete AFTER DELETE ON requests FOR EACH ROW EXECUTE FUNCTION kpi_daily_on_change()",
        "CREATE TRIGGER kpi_daily_truncate AFTER TRUNCATE ON requests FOR EACH STATEMENT EXECUTE FUNCTION kpi_daily_on_truncate()",
    ]


TRIGGER_NAMES = ("kpi_daily_insert", "kpi_daily_update", "kpi_daily_update_new", "kpi_daily_update_old",
                 "kpi_daily_delete", "kpi_daily_truncate")


def _drop(conn: Connection, triggers: dict[str, str], functions: tuple[str, ...]) -> None:
    """Drop these triggers (name -> its table) and, on PostgreSQL, the functions behind them."""
    postgres = conn.dialect.name == "postgresql"
    for name, table in triggers.items():
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else "")))
    if postgres:
        for fn in functions:
            conn.execute(text(f"DROP FUNCTION IF EXISTS {fn}"))


def drop_triggers(conn: Connection) -> None:
    _drop(conn, dict.fromkeys(TRIGGER_NAMES, "requests"),
          ("kpi_daily_on_change()", "kpi_daily_on_truncate()", "kpi_daily_refresh(text, date)"))


def install_triggers(conn: Connection) -> None:
    """(Re)create the triggers that keep the rollup fresh (the newest SQL of this module)."""
    drop_triggers(conn)
    if conn.dialect.name == "postgresql":
        for statement in _postgres_functions() + _postgres_triggers():
            conn.execute(text(statement))
    else:
        for statement in _sqlite_triggers():
            conn.execute(text(statement))


# --- maintenance ---------------------------------------------------------------------------------


def utc_offset_minutes(zone: ZoneInfo, at: dt.datetime | None = None) -> int:
    offset = (at or dt.datetime.now(dt.timezone.utc)).astimezone(zone).utcoffset() or dt.timedelta()
    return int(offset.total_seconds() // 60)


def rebuild(conn: Connection, zone: ZoneInfo) -> int:
    """Recompute the whole rollup for `zone` and resume the triggers; returns the rows written.
    Run inside one transaction: readers see the old rollup or the new one, never half."""
    conn.execute(text(f"UPDATE {META} SET zone = :zone, utc_offset_minutes = :offset, paused = :paused WHERE id = 1"),
                 {"zone": zone.key, "offset": utc_offset_minutes(zone), "paused": True})
    conn.execute(text(f"DELETE FROM {TABLE}"))
    dialect = conn.dialect.name
    conn.execute(text(fill_sql(dialect, "1 = 1", local_day_sql(dialect, "r.created_at"))))
    if conn.dialect.has_table(conn, ESC_TABLE):  # since migration 0006
        rebuild_escalations(conn)
    conn.execute(text(f"UPDATE {META} SET paused = :paused WHERE id = 1"), {"paused": False})
    return int(conn.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar() or 0)


def pause(conn: Connection) -> None:
    """Stop the triggers (a bulk insert follows, then rebuild); the KPIs read the requests meanwhile."""
    conn.execute(text(f"UPDATE {META} SET paused = :paused WHERE id = 1"), {"paused": True})


def status(conn: Connection) -> dict[str, Any] | None:
    """{zone, utc_offset_minutes, paused} of the rollup, or None when this database has none."""
    if not conn.dialect.has_table(conn, META):  # a schema before migration 0005
        return None
    row = conn.execute(text(f"SELECT zone, utc_offset_minutes, paused FROM {META} WHERE id = 1")).first()
    if row is None:
        return None
    return {"zone": row[0], "utc_offset_minutes": int(row[1]), "paused": bool(row[2])}


def usable(conn: Connection, zone: ZoneInfo) -> bool:
    """True when the rollup is live and was built for `zone` (else the KPIs read the requests)."""
    s = status(conn)
    if s is None or s["paused"] or s["zone"] != zone.key:
        return False
    return conn.dialect.name == "postgresql" or s["utc_offset_minutes"] == utc_offset_minutes(zone)


# --- the escalations log by day: kpi_escalations_daily (migration 0006) ----------------------------
# One row per (local day of the escalation, entity, the request's sector): how many escalations, by level reached, and
# how many distinct requests were escalated that day, and how many of those had not been escalated
# earlier in the same local week (from Sunday) or month. A period's distinct requests are then the
# sum of its days' "new in the period" counts, exactly (the "new" look only backwards, so a range
# that ends mid-period is exact too; one that starts mid-period has its first period counted from
# the log, see insights/requests_kpi.py). The sector is the request's. Recomputed per cell by
# triggers like kpi_daily: on a change to the log, the cells of the same request's escalations in
# the following 32 days are recomputed too (their "new" may change).

ESC_TABLE = "kpi_escalations_daily"
ESC_SUMS = ("escalations", "level_1", "level_2", "level_3_plus", "requests_day", "requests_new_week", "requests_new_month")
ESC_TRIGGERS = ("kpi_esc_insert", "kpi_esc_delete", "kpi_esc_update", "kpi_esc_sector", "kpi_esc_truncate")


def _utc_of_local_day(dialect: str, day: str, shift: str = "") -> str:
    """The UTC instant of local midnight starting `day` (moved by a SQLite date modifier `shift`)."""
    if dialect == "postgresql":
        return f"(CAST({day} AS timestamp) AT TIME ZONE (SELECT zone FROM {META} WHERE id = 1))"
    offset = f"(SELECT printf('%+d minutes', -utc_offset_minutes) FROM {META} WHERE id = 1)"
    return f"datetime({day}{', ' + shift if shift else ''}, {offset})"


def _week_start(dialect: str, day: str) -> str:
    if dialect == "postgresql":
        return _utc_of_local_day(dialect, f"({day} - CAST(extract(dow FROM {day}) AS integer))")
    return _utc_of_local_day(dialect, day, "'-6 days', 'weekday 0'")


def _month_start(dialect: str, day: str) -> str:
    if dialect == "postgresql":
        return _utc_of_local_day(dialect, f"CAST(date_trunc('month', CAST({day} AS timestamp)) AS date)")
    return _utc_of_local_day(dialect, day, "'start of month'")


def esc_fill_sql(dialect: str, cells: str | None) -> str:
    """INSERT the rows of the cells listed by `cells` (a SELECT of day, entity), or of every cell."""
    day = local_day_sql(dialect, "e.at")
    first = "NOT EXISTS (SELECT 1 FROM escalations p WHERE p.request_id = e.request_id AND p.at < e.at AND p.at >= {start})"
    join = ""
    if cells is not None:
        lo, hi = _utc_of_local_day(dialect, "c.day"), (_utc_of_local_day(dialect, "c.day + 1") if dialect == "postgresql"
                                                       else _utc_of_local_day(dialect, "c.day", "'+1 day'"))
        join = f"JOIN ({cells}) c ON e.entity = c.entity AND e.at >= {lo} AND e.at < {hi} "
    source = (f"SELECT e.request_id AS request_id, e.entity AS entity, e.level AS level, r.sector AS sector, {day} AS day, "
              f"CASE WHEN {first.format(start=_week_start(dialect, day))} THEN 1 ELSE 0 END AS new_week, "
              f"CASE WHEN {first.format(start=_month_start(dialect, day))} THEN 1 ELSE 0 END AS new_month "
              f"FROM escalations e JOIN requests r ON r.id = e.request_id {join}")
    return (
        f"INSERT INTO {ESC_TABLE} (day, entity, sector, {', '.join(ESC_SUMS)}) "
        f"SELECT x.day, x.entity, x.sector, count(*), "
        f"sum(CASE WHEN x.level = 1 THEN 1 ELSE 0 END), sum(CASE WHEN x.level = 2 THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN x.level >= 3 THEN 1 ELSE 0 END), count(DISTINCT x.request_id), "
        f"count(DISTINCT CASE WHEN x.new_week = 1 THEN x.request_id END), "
        f"count(DISTINCT CASE WHEN x.new_month = 1 THEN x.request_id END) "
        f"FROM ({source}) x GROUP BY x.day, x.entity, x.sector ORDER BY x.day, x.entity, x.sector"
    )


def _esc_cells(dialect: str, request: str, at: str, entity: str) -> str:
    """The cell of one escalation (at, entity) and those of the request's escalations in the 32
    days after it."""
    e2_day = local_day_sql(dialect, "e2.at")
    own_day = local_day_sql(dialect, at)
    horizon = f"{at} + interval '32 days'" if dialect == "postgresql" else f"datetime({at}, '+32 days')"
    return (f"SELECT {own_day} AS day, {entity} AS entity UNION "
            f"SELECT {e2_day} AS day, e2.entity AS entity FROM escalations e2 "
            f"WHERE e2.request_id = {request} AND e2.at > {at} AND e2.at < {horizon}")


def _esc_refresh_statements(dialect: str, cells: str) -> list[str]:
    return [f"DELETE FROM {ESC_TABLE} WHERE (day, entity) IN (SELECT day, entity FROM ({cells}) c)", esc_fill_sql(dialect, cells)]


def _esc_sqlite_triggers() -> list[str]:
    active = f"(SELECT paused FROM {META} WHERE id = 1) = 0"

    def trigger(name: str, event: str, table: str, when: str, cell_sets: list[str]) -> str:
        body = "; ".join(s for cells in cell_sets for s in _esc_refresh_statements("sqlite", cells))
        return f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW WHEN {when} BEGIN {body}; END"

    every_of_request = ("SELECT {day} AS day, e2.entity AS entity FROM escalations e2 WHERE e2.request_id = NEW.id"
                        .format(day=local_day_sql("sqlite", "e2.at")))
    return [
        trigger("kpi_esc_insert", "INSERT", "escalations", active, [_esc_cells("sqlite", "NEW.request_id", "NEW.at", "NEW.entity")]),
        trigger("kpi_esc_delete", "DELETE", "escalations", active, [_esc_cells("sqlite", "OLD.request_id", "OLD.at", "OLD.entity")]),
        trigger("kpi_esc_update", "UPDATE OF at, entity, level, request_id", "escalations", active,
                [_esc_cells("sqlite", "OLD.request_id", "OLD.at", "OLD.entity"), _esc_cells("sqlite", "NEW.request_id", "NEW.at", "NEW.entity")]),
        trigger("kpi_esc_sector", "UPDATE OF sector", "requests", f"{active} AND OLD.sector IS NOT NEW.sector", [every_of_request]),
    ]


def _esc_postgres() -> list[str]:
    def cells(request: str, at: str, entity: str) -> str:
        return _esc_cells("postgresql", request, at, entity)

    every_of_request = ("SELECT {day} AS day, e2.entity AS entity FROM escalations e2 WHERE e2.request_id = NEW.id"
                        .format(day=local_day_sql("postgresql", "e2.at")))

    def refresh(cell_sql: str) -> str:
        # One writer per cell at a time, as for kpi_daily.
        return (f"PERFORM pg_advisory_xact_lock(hashtext('kpi_esc:' || c.entity), c.day - DATE '2000-01-01') "
                f"FROM ({cell_sql}) c;\n    " + ";\n    ".join(_esc_refresh_statements("postgresql", cell_sql)) + ";")

    return [
        f"""CREATE OR REPLACE FUNCTION kpi_esc_on_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT paused FROM {META} WHERE id = 1) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
    {refresh(cells("OLD.request_id", "OLD.at", "OLD.entity"))}
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
    {refresh(cells("NEW.request_id", "NEW.at", "NEW.entity"))}
    END IF;
    RETURN NULL;
END
$$""",
        f"""CREATE OR REPLACE FUNCTION kpi_esc_on_sector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT paused FROM {META} WHERE id = 1) OR OLD.sector IS NOT DISTINCT FROM NEW.sector THEN
        RETURN NULL;
    END IF;
    {refresh(every_of_request)}
    RETURN NULL;
END
$$""",
        f"""CREATE OR REPLACE FUNCTION kpi_esc_on_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {ESC_TABLE};
    RETURN NULL;
END
$$""",
        "CREATE TRIGGER kpi_esc_insert AFTER INSERT ON escalations FOR EACH ROW EXECUTE FUNCTION kpi_esc_on_change()",
        "CREATE TRIGGER kpi_esc_delete AFTER DELETE ON escalations FOR EACH ROW EXECUTE FUNCTION kpi_esc_on_change()",
        "CREATE TRIGGER kpi_esc_update AFTER UPDATE OF at, entity, level, request_id ON escalations FOR EACH ROW "
        "EXECUTE FUNCTION kpi_esc_on_change()",
        "CREATE TRIGGER kpi_esc_sector AFTER UPDATE OF sector ON requests FOR EACH ROW EXECUTE FUNCTION kpi_esc_on_sector()",
        "CREATE TRIGGER kpi_esc_truncate AFTER TRUNCATE ON escalations FOR EACH STATEMENT EXECUTE FUNCTION kpi_esc_on_truncate()",
    ]


def drop_esc_triggers(conn: Connection) -> None:
    _drop(conn, {name: "requests" if name == "kpi_esc_sector" else "escalations" for name in ESC_TRIGGERS},
          ("kpi_esc_on_change()", "kpi_esc_on_sector()", "kpi_esc_on_truncate()"))


def install_esc_triggers(conn: Connection) -> None:
    drop_esc_triggers(conn)
    for statement in _esc_postgres() if conn.dialect.name == "postgresql" else _esc_sqlite_triggers():
        conn.execute(text(statement))


def rebuild_escalations(conn: Connection) -> int:
    conn.execute(text(f"DELETE FROM {ESC_TABLE}"))
    conn.execute(text(esc_fill_sql(conn.dialect.name, None)))
    return int(conn.execute(text(f"SELECT count(*) FROM {ESC_TABLE}")).scalar() or 0)
