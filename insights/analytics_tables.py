"""The analytics store's tables: only what the conversation figures need.

No message text, phone number or sender id is ever written here. A conversation is known by
`conv`, a keyed hash of Rasa's sender id truncated to 16 hex digits (insights/analytics.py), so
the rows of one conversation hang together but lead back to nobody. Its Alembic migrations are
bot/migrations/insights (INSIGHTS_DATABASE_URL, default var/insights.db); a schema change is a
new revision there plus the change here.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
)

FORM_OUTCOMES = ("open", "filed", "cancelled", "abandoned")

metadata = MetaData()

conversations = Table(
    "ana_conversations",
    metadata,
    Column("conv", String(16), primary_key=True),
    Column("channel", String(20), nullable=False),
    Column("language", String(2), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("last_event_at", DateTime(timezone=True), nullable=False),
    Column("first_reference_at", DateTime(timezone=True), nullable=True),
    # the form episode in progress and the slot it asks for (its step)
    Column("open_form_id", Integer, nullable=True),
)

forms = Table(
    "ana_forms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conv", String(16), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("request_type", String(12), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("last_event_at", DateTime(timezone=True), nullable=False),
    Column("step", String(20), nullable=True),  # requested_slot last asked
    Column("outcome", String(10), nullable=False),
    CheckConstraint("outcome IN ('open', 'filed', 'cancelled', 'abandoned')", name="ck_form_outcome"),
)

turns = Table(
    "ana_turns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("language", String(8), nullable=True),
    Column("fallback", Boolean, nullable=False),
)

handoffs = Table(
    "ana_handoffs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conv", String(16), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False, index=True),
    Column("taken_at", DateTime(timezone=True), nullable=True),
    Column("wait_seconds", Float, nullable=True),
    Column("after_hours", Boolean, nullable=False),
)

# How far each broker has been read (the SQL broker's last row id), so a restart between
# folding a batch and deleting it from the broker never counts it twice.
cursors = Table(
    "ana_cursors",
    metadata,
    Column("source", String(40), primary_key=True),
    Column("last_id", Integer, nullable=False),
)
