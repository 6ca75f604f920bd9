"""The analytics store: conversations, form episodes, turns, handoffs, broker cursors (no text, no ids).

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ana_conversations",
        sa.Column("conv", sa.String(16), primary_key=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("language", sa.String(2), nullable=True),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("last_event_at", TZ, nullable=False),
        sa.Column("first_reference_at", TZ, nullable=True),
        sa.Column("open_form_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_ana_conversations_started_at", "ana_conversations", ["started_at"])
    op.create_table(
        "ana_forms",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conv", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("request_type", sa.String(12), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("last_event_at", TZ, nullable=False),
        sa.Column("step", sa.String(20), nullable=True),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.CheckConstraint("outcome IN ('open', 'filed', 'cancelled', 'abandoned')", name="ck_form_outcome"),
    )
    op.create_index("ix_ana_forms_conv", "ana_forms", ["conv"])
    op.create_index("ix_ana_forms_started_at", "ana_forms", ["started_at"])
    op.create_table(
        "ana_turns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("fallback", sa.Boolean, nullable=False),
    )
    op.create_index("ix_ana_turns_at", "ana_turns", ["at"])
    op.create_table(
        "ana_handoffs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conv", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("taken_at", TZ, nullable=True),
        sa.Column("wait_seconds", sa.Float, nullable=True),
        sa.Column("after_hours", sa.Boolean, nullable=False),
    )
    op.create_index("ix_ana_handoffs_conv", "ana_handoffs", ["conv"])
    op.create_index("ix_ana_handoffs_requested_at", "ana_handoffs", ["requested_at"])
    op.create_table(
        "ana_cursors",
        sa.Column("source", sa.String(40), primary_key=True),
        sa.Column("last_id", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for t in ("ana_cursors", "ana_handoffs", "ana_turns", "ana_forms", "ana_conversations"):
        op.drop_table(t)
