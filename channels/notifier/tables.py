"""The notifier's two tables in the channel state's database, in one MetaData (bot/sql.py CHANNEL_STATE).

Event ids, kinds, channels, error codes and host:pid holders only: no address, reference or text.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table

metadata = MetaData()
attempts_table = Table(
    "notifier_attempts",
    metadata,
    Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("event", String(40), nullable=False),
    Column("channel", String(30), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("parked_at", Float, nullable=True),
    Column("last_error", String(120), nullable=True),
)


lease_table = Table(
    "notifier_lease",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(100), nullable=False),  # host:pid:random, nothing personal
    Column("expires_at", Float, nullable=False),
)
