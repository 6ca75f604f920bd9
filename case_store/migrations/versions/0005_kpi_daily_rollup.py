"""KPI rollup: kpi_daily (per local day, entity and breakdown) kept fresh by triggers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 03:00:00

- kpi_daily: the sums every request KPI reads, one row per (local day of receipt, entity,
  dimension, value), plus a histogram of the minutes to answer (case_store/kpi_rollup.py says
  what each column counts and how exact the percentiles are).
- kpi_rollup_meta: the one row saying for which time zone the days were cut and whether the
  triggers are paused (a seed's bulk insert).
- Triggers on requests recompute the affected cell on every INSERT, UPDATE of a column a figure
  reads, DELETE (and TRUNCATE on PostgreSQL), in the writer's transaction. Their SQL is
  case_store/kpi_rollup.py's (install_triggers); a change to it comes with a migration that
  installs them again.
- The rollup is built from the requests already there (one GROUP BY over the table).
- ix_requests_open_due (partial: open requests only) for the live "overdue" figures, and
  ix_escalations_kpi (covering) for the escalations view.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.settings import local_timezone
from case_store import kpi_rollup

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN_DUE_INCLUDE = ("created_at", "entity", "sector", "channel", "type", "pillar", "importance", "language")


def upgrade() -> None:
    op.create_table(
        "kpi_rollup_meta",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_kpi_rollup_meta_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_rollup_meta")),
    )
    # Clustered by dimension: PostgreSQL keeps each dimension in its own partition, SQLite stores
    # the rows in primary-key order (WITHOUT ROWID), so a year of one dimension is read from a
    # table of that dimension's rows only, not picked out of all six.
    op.create_table(
        "kpi_daily",
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("sector", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in kpi_rollup.SUMS],
        sa.Column("max_level", sa.Integer(), nullable=False),
        sa.Column("hist", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("dim", "day", "entity", "sector", "value", name=op.f("pk_kpi_daily")),
        postgresql_partition_by="LIST (dim)",
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        for dim in kpi_rollup.DIMENSIONS:
            op.execute(f"CREATE TABLE kpi_daily_{dim or 'all'} PARTITION OF kpi_daily FOR VALUES IN ('{dim}')")
    # The operations room reads one dimension over a range of days (the primary key); a minister
    # one sector's, an entity its own (and the triggers one entity's day).
    op.create_index("ix_kpi_daily_sector_dim_day", "kpi_daily", ["sector", "dim", "day"])
    op.create_index("ix_kpi_daily_entity_dim_day", "kpi_daily", ["entity", "dim", "day"])
    # The KPIs' live part: open requests past due (a few percent of the table), and the
    # escalations log by date with what its figures read, so neither walks the wide rows.
    open_ = "status IN ('submitted', 'in_progress', 'reopened')"
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_requests_open_due", "requests", ["due_at"], postgresql_include=list(OPEN_DUE_INCLUDE),
                        postgresql_where=sa.text(open_))
        op.create_index("ix_escalations_kpi", "escalations", ["at"], postgresql_include=["entity", "level", "request_id"])
    else:
        op.create_index("ix_requests_open_due", "requests", ["due_at", *OPEN_DUE_INCLUDE], sqlite_where=sa.text(open_))
        op.create_index("ix_escalations_kpi", "escalations", ["at", "entity", "level", "request_id"])
    zone = local_timezone()
    op.get_bind().execute(
        sa.text("INSERT INTO kpi_rollup_meta (id, zone, utc_offset_minutes, paused) VALUES (1, :zone, :offset, :paused)"),
        {"zone": zone.key, "offset": kpi_rollup.utc_offset_minutes(zone), "paused": False},
    )
    kpi_rollup.install_triggers(op.get_bind())
    kpi_rollup.rebuild(op.get_bind(), zone)


def downgrade() -> None:
    kpi_rollup.drop_triggers(op.get_bind())
    op.drop_index("ix_escalations_kpi", table_name="escalations")
    op.drop_index("ix_requests_open_due", table_name="requests")
    op.drop_index("ix_kpi_daily_entity_dim_day", table_name="kpi_daily")
    op.drop_index("ix_kpi_daily_sector_dim_day", table_name="kpi_daily")
    op.drop_table("kpi_daily")
    op.drop_table("kpi_rollup_meta")
