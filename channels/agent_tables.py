"""The agent console's tables: accounts, sessions, the audit trail and the handoff queue.

One MetaData for all four (the queue's holder is a foreign key to an account), listed by
bot/sql.py's AGENT_CONSOLE schema; its Alembic migrations (bot/migrations/agent_console) are
compared against it. A schema change is a new revision there plus the change here.
Shared helpers of the stores in channels/accounts.py and channels/handoff_queue.py live here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

Clock = Callable[[], dt.datetime]

HANDOFF_STATES = ("waiting", "taken", "resumed", "expired")
# Who an account is (insights/scope.py turns the last three into what they may see):
# agent (the contact-center console), ops_room (every figure), minister (a sector), entity (one
# entity: its focal point or secretary general).
ACCOUNT_ROLES = ("agent", "ops_room", "minister", "entity")
OPEN_STATES = ("waiting", "taken")  # still in the queue

metadata = MetaData()
agents = Table(
    "console_agents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(40), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
    Column("role", String(10), nullable=False, server_default="agent"),
    Column("sector", String(64), nullable=True),
    Column("entity", String(64), nullable=True),
    CheckConstraint("role IN ('agent', 'ops_room', 'minister', 'entity')", name="ck_agent_role"),
    CheckConstraint(
        "(role = 'minister' AND sector IS NOT NULL AND entity IS NULL)"
        " OR (role = 'entity' AND entity IS NOT NULL AND sector IS NULL)"
        " OR (role IN ('agent', 'ops_room') AND sector IS NULL AND entity IS NULL)",
        name="ck_agent_role_scope",
    ),
)
sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("agent_id", Integer, ForeignKey("console_agents.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)
audit = Table(
    "console_audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("agent_id", Integer, ForeignKey("console_agents.id"), nullable=True, index=True),
    Column("action", String(40), nullable=False),
    Column("target", String(200), nullable=True),
    Column("detail", Text, nullable=True),
    Column("ip", String(64), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
handoffs = Table(
    "console_handoffs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("sender_id", String(200), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("language", String(2), nullable=False),
    Column("transcript", Text, nullable=False),
    Column("state", String(10), nullable=False),
    Column("agent_id", Integer, ForeignKey("console_agents.id"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("state IN ('waiting', 'taken', 'resumed', 'expired')", name="ck_handoff_state"),
    CheckConstraint("language IN ('ar', 'en')", name="ck_handoff_language"),
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes even for timezone=True columns; we only ever store UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
