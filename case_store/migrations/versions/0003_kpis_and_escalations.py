"""KPIs and escalations: reopen counter, receipt-time indexes, the escalations log, official notices

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 23:00:00

- requests.reopen_count (backfilled from the timeline), so the reopen rate is a column sum rather
  than a join of every request with its timeline.
- Indexes for the KPI queries of insights/requests_kpi.py, which always filter on the receipt
  time and then aggregate every request in the range. ix_requests_kpi is a covering index:
  created_at first, then every column a KPI reads (never the free text), so the operations
  room's and the public page's year-long scans read this narrow copy in time order instead of
  jumping into the wide rows (descriptions, ciphertexts) one by one; on PostgreSQL the extra
  columns are INCLUDEd (an index-only scan). ix_requests_entity_created and
  ix_requests_sector_created serve an entity's and a minister's dashboards, whose ranges hold a
  small share of the rows. bench/kpi_load.py has the figures.
- escalations: one row per escalation (level, entity, whom the notice went to), so the
  operations room sees each one; the timeline keeps its free-text line as before.
- outbox.event may be `official_notice`: the notice to the official at the next level.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Every column a KPI reads (insights/requests_kpi.py), after created_at; never the free text.
KPI_COLUMNS = (
    "entity", "sector", "status", "type", "channel", "language", "importance", "pillar", "due_at",
    "escalation_level", "reopen_count", "answered_at", "rating_score", "rating_resolved",
)
OLD_EVENTS = "event IN ('created', 'status_changed', 'answered', 'escalated', 'reopened')"
NEW_EVENTS = "event IN ('created', 'status_changed', 'answered', 'escalated', 'reopened', 'official_notice')"


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_check_constraint("reopen_count", "reopen_count >= 0")
        batch_op.create_index("ix_requests_entity_created", ["entity", "created_at"], unique=False)
        batch_op.create_index("ix_requests_sector_created", ["sector", "created_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_requests_kpi", "requests", ["created_at"], postgresql_include=list(KPI_COLUMNS))
    else:
        op.create_index("ix_requests_kpi", "requests", ["created_at", *KPI_COLUMNS])
    op.execute(
        "UPDATE requests SET reopen_count = (SELECT count(*) FROM timeline "
        "WHERE timeline.request_id = requests.id AND timeline.status = 'reopened')"
    )
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("overdue_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_role", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.CheckConstraint("level >= 1", name=op.f("ck_escalations_level")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_escalations_request_id_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
    )
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalations_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_escalations_at"), ["at"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_event"), type_="check")
        batch_op.create_check_constraint("event", NEW_EVENTS)


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE event = 'official_notice'")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_event"), type_="check")
        batch_op.create_check_constraint("event", OLD_EVENTS)
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalations_at"))
        batch_op.drop_index(batch_op.f("ix_escalations_request_id"))
    op.drop_table("escalations")
    op.drop_index("ix_requests_kpi", table_name="requests")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_sector_created")
        batch_op.drop_index("ix_requests_entity_created")
        batch_op.drop_constraint(op.f("ck_requests_reopen_count"), type_="check")
        batch_op.drop_column("reopen_count")
