"""KPI rollup of the escalations log: kpi_escalations_daily, kept fresh by triggers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 03:40:00

One row per (local day of the escalation, entity): escalations, by level reached, and the
distinct requests escalated that day, and of those the ones new in their local week and month
(case_store/kpi_rollup.py). Triggers on escalations (and on requests.sector) recompute the
affected cells; the rollup is built from the log already there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from case_store import kpi_rollup

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_escalations_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("sector", sa.String(length=64), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in kpi_rollup.ESC_SUMS],
        sa.PrimaryKeyConstraint("day", "entity", "sector", name=op.f("pk_kpi_escalations_daily")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_kpi_escalations_daily_sector_day", "kpi_escalations_daily", ["sector", "day"])
    op.create_index("ix_kpi_escalations_daily_entity_day", "kpi_escalations_daily", ["entity", "day"])
    kpi_rollup.install_esc_triggers(op.get_bind())
    kpi_rollup.rebuild_escalations(op.get_bind())


def downgrade() -> None:
    kpi_rollup.drop_esc_triggers(op.get_bind())
    op.drop_index("ix_kpi_escalations_daily_entity_day", table_name="kpi_escalations_daily")
    op.drop_index("ix_kpi_escalations_daily_sector_day", table_name="kpi_escalations_daily")
    op.drop_table("kpi_escalations_daily")
