"""The agent console's tables as `create_all` made them before Alembic (adopted where present).

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.sql import create_table_if_missing

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table_if_missing(  # channels/agents.py
        "console_agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    create_table_if_missing(
        "console_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["console_agents.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
        indexes={"ix_console_sessions_agent_id": ["agent_id"]},
    )
    create_table_if_missing(
        "console_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["console_agents.id"]),
        sa.PrimaryKeyConstraint("id"),
        indexes={"ix_console_audit_agent_id": ["agent_id"]},
    )
    create_table_if_missing(
        "console_handoffs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sender_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("language IN ('ar', 'en')", name="ck_handoff_language"),
        sa.CheckConstraint("state IN ('waiting', 'taken', 'resumed')", name="ck_handoff_state"),
        sa.ForeignKeyConstraint(["agent_id"], ["console_agents.id"]),
        sa.PrimaryKeyConstraint("id"),
        indexes={"ix_console_handoffs_sender_id": ["sender_id"]},
    )
    create_table_if_missing(  # channels/login_throttle.py
        "console_login_throttle",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key"),
    )


def downgrade() -> None:
    op.drop_table("console_login_throttle")
    op.drop_index("ix_console_handoffs_sender_id", table_name="console_handoffs")
    op.drop_table("console_handoffs")
    op.drop_index("ix_console_audit_agent_id", table_name="console_audit")
    op.drop_table("console_audit")
    op.drop_index("ix_console_sessions_agent_id", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_agents")
