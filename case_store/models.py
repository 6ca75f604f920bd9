"""Tables of the case store. Constraints live here (UNIQUE, NOT NULL, CHECK), not in hope.

Personal data at rest: contact phone and notify address are always encrypted (FieldCipher);
the phone tail and report PIN are stored only as keyed hashes; a confidential report's
narrative is encrypted. Times are stored in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import declarative_base, relationship

from bot.lang import LANGUAGES
from bot.request_rules import IMPORTANCE, PILLARS, REQUEST_TYPES
from case_store.constants import CHANNELS, EVENTS, OPEN_STATUSES, STATUSES, UTC

# Deterministic constraint names, so Alembic migrations can refer to them on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Base: Any = declarative_base(metadata=metadata)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out; SQLite has no time zones, so it stores naive UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the case store; use aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Every column a KPI reads after created_at (ix_requests_kpi, migration 0003); never free text.
KPI_COLUMNS = (
    "entity", "sector", "status", "type", "channel", "language", "importance", "pillar", "due_at",
    "escalation_level", "reopen_count", "answered_at", "rating_score", "rating_resolved",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Request(Base):
    __tablename__ = "requests"

    id = Column(Integer, primary_key=True)
    reference = Column(String(10), nullable=False, unique=True)
    idempotency_key = Column(String(128), nullable=False, unique=True)
    # Keyed digest of the validated create body; a replay must match it. NULL on rows created
    # before migration 0002 (see CaseService._replay for how those are answered).
    idempotency_digest = Column(String(64), nullable=True)
    type = Column(String(16), nullable=False)
    sector = Column(String(64), nullable=False)
    entity = Column(String(64), nullable=False)
    pillar = Column(String(32), nullable=True)
    importance = Column(String(8), nullable=False, default="normal")
    description = Column(Text, nullable=False)  # ciphertext when description_encrypted
    description_encrypted = Column(Boolean, nullable=False, default=False)
    language = Column(String(2), nullable=False)
    channel = Column(String(16), nullable=False)
    requester_id = Column(String(128), nullable=False, index=True)
    entered_by = Column(String(128), nullable=True)
    contact_phone_enc = Column(Text, nullable=True)
    phone_tail_hash = Column(String(64), nullable=True)
    anonymous = Column(Boolean, nullable=False, default=False)
    confidential = Column(Boolean, nullable=False, default=False)
    notify_channel = Column(String(16), nullable=True)
    notify_address_enc = Column(Text, nullable=True)
    pin_hash = Column(String(64), nullable=True)
    pin_enc = Column(Text, nullable=True)  # so a replay of the idempotency key can return the PIN
    status = Column(String(16), nullable=False, default="submitted")
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)
    due_at = Column(UTCDateTime, nullable=False, index=True)
    escalation_level = Column(Integer, nullable=False, default=0)
    # How many times the citizen reopened it (the KPIs' reopen rate without reading the timeline).
    reopen_count = Column(Integer, nullable=False, default=0, server_default="0")
    # The due date whose breach was last escalated: makes the sweep idempotent per due period.
    escalated_due_at = Column(UTCDateTime, nullable=True)
    answer = Column(Text, nullable=True)
    answered_at = Column(UTCDateTime, nullable=True)
    rating_score = Column(Integer, nullable=True)
    rating_resolved = Column(Boolean, nullable=True)
    rating_comment = Column(Text, nullable=True)
    rated_at = Column(UTCDateTime, nullable=True)
    # A focused campaign's complaint (case_store/campaigns.py): its id and the answers to its
    # extra questions ({question id: text}); NULL for every other request. Since migration 0004.
    campaign = Column(String(64), nullable=True, index=True)
    campaign_answers = Column(JSON, nullable=True)

    timeline = relationship("TimelineEntry", lazy="selectin", order_by="TimelineEntry.id", cascade="all, delete-orphan")
    attachments = relationship("Attachment", lazy="selectin", order_by="Attachment.id", cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint(_in("type", REQUEST_TYPES), name="type"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("importance", IMPORTANCE), name="importance"),
        CheckConstraint(f"pillar IS NULL OR {_in('pillar', PILLARS)}", name="pillar"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("language", LANGUAGES), name="language"),
        CheckConstraint("rating_score IS NULL OR (rating_score BETWEEN 1 AND 5)", name="score"),
        CheckConstraint("escalation_level >= 0", name="escalation_level"),
        CheckConstraint("type <> 'report' OR confidential", name="report_confidential"),
        CheckConstraint("reopen_count >= 0", name="reopen_count"),
        Index("ix_requests_status_due", "status", "due_at"),
        # The KPI queries (insights/requests_kpi.py) filter on the receipt time, alone or within
        # one entity or sector. ix_requests_kpi covers every column they read (migration 0003
        # says why; on PostgreSQL the columns after created_at are INCLUDEd).
        Index("ix_requests_kpi", "created_at", *KPI_COLUMNS),
        Index("ix_requests_entity_created", "entity", "created_at"),
        Index("ix_requests_sector_created", "sector", "created_at"),
        # The live "overdue" figures read only open requests (migration 0005; INCLUDE on PostgreSQL).
        Index("ix_requests_open_due", "due_at", "created_at", "entity", "sector", "channel", "type", "pillar",
              "importance", "language", sqlite_where=text(_in("status", OPEN_STATUSES)),
              postgresql_where=text(_in("status", OPEN_STATUSES))),
    )


class KpiDaily(Base):
    """The request KPIs' daily rollup, kept by triggers (case_store/kpi_rollup.py, migration 0005).
    Never written by the application: the database keeps it equal to the requests."""

    __tablename__ = "kpi_daily"

    dim = Column(String(16), primary_key=True)  # '' (the whole cell), channel, type, pillar, importance, language
    day = Column(Date, primary_key=True)  # local day of receipt (kpi_rollup_meta.zone)
    entity = Column(String(64), primary_key=True)
    sector = Column(String(64), primary_key=True)  # the entity's (unless changed by hand)
    value = Column(String(32), primary_key=True)  # the dimension's value ('' for '' and for no pillar)
    received = Column(Integer, nullable=False)
    open = Column(Integer, nullable=False)
    answered = Column(Integer, nullable=False)
    closed = Column(Integer, nullable=False)
    rejected = Column(Integer, nullable=False)
    reopened = Column(Integer, nullable=False)
    escalated = Column(Integer, nullable=False)
    level_1 = Column(Integer, nullable=False)
    level_2 = Column(Integer, nullable=False)
    level_3_plus = Column(Integer, nullable=False)
    with_answer = Column(Integer, nullable=False)
    within_sla = Column(Integer, nullable=False)
    rated = Column(Integer, nullable=False)
    score_sum = Column(Integer, nullable=False)
    s1 = Column(Integer, nullable=False)
    s2 = Column(Integer, nullable=False)
    s3 = Column(Integer, nullable=False)
    s4 = Column(Integer, nullable=False)
    s5 = Column(Integer, nullable=False)
    resolved_known = Column(Integer, nullable=False)
    resolved = Column(Integer, nullable=False)
    reopened_answered = Column(Integer, nullable=False)
    max_level = Column(Integer, nullable=False)
    hist = Column(Text, nullable=True)  # minutes to answer: 8 hex characters per (bucket, count)

    __table_args__ = (
        Index("ix_kpi_daily_sector_dim_day", "sector", "dim", "day"),
        Index("ix_kpi_daily_entity_dim_day", "entity", "dim", "day"),
        {"postgresql_partition_by": "LIST (dim)", "sqlite_with_rowid": False},
    )


class KpiEscalationsDaily(Base):
    """The escalations log per local day and entity, kept by triggers (case_store/kpi_rollup.py,
    migration 0006)."""

    __tablename__ = "kpi_escalations_daily"

    day = Column(Date, primary_key=True)  # local day of the escalation
    entity = Column(String(64), primary_key=True)
    sector = Column(String(64), primary_key=True)  # the request's
    escalations = Column(Integer, nullable=False)
    level_1 = Column(Integer, nullable=False)
    level_2 = Column(Integer, nullable=False)
    level_3_plus = Column(Integer, nullable=False)
    requests_day = Column(Integer, nullable=False)  # distinct requests escalated that day
    requests_new_week = Column(Integer, nullable=False)  # ... not escalated earlier that local week
    requests_new_month = Column(Integer, nullable=False)  # ... nor earlier that local month

    __table_args__ = (
        Index("ix_kpi_escalations_daily_sector_day", "sector", "day"),
        Index("ix_kpi_escalations_daily_entity_day", "entity", "day"),
        {"sqlite_with_rowid": False},
    )


class KpiRollupMeta(Base):
    """The one row: the zone the rollup's days were cut in, and whether its triggers are paused."""

    __tablename__ = "kpi_rollup_meta"

    id = Column(Integer, primary_key=True)
    zone = Column(String(64), nullable=False)
    utc_offset_minutes = Column(Integer, nullable=False)
    paused = Column(Boolean, nullable=False)

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


class TimelineEntry(Base):
    __tablename__ = "timeline"

    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True)
    at = Column(UTCDateTime, nullable=False)
    status = Column(String(16), nullable=False)
    actor = Column(String(128), nullable=False)
    note = Column(Text, nullable=True)

    __table_args__ = (CheckConstraint(_in("status", STATUSES), name="status"),)


class Escalation(Base):
    """One escalation of one request to the next level: what the operations room counts and
    whom the notice went to (a role and channel from the catalogue; never the citizen)."""

    __tablename__ = "escalations"

    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True)
    at = Column(UTCDateTime, nullable=False, index=True)
    entity = Column(String(64), nullable=False)
    level = Column(Integer, nullable=False)
    overdue_since = Column(UTCDateTime, nullable=False)
    contact_role = Column(String(64), nullable=True)  # NULL: the catalogue has no contact for this level
    actor = Column(String(128), nullable=False)

    __table_args__ = (
        CheckConstraint("level >= 1", name="level"),
        Index("ix_escalations_kpi", "at", "entity", "level", "request_id"),  # the escalations view (0005)
    )


class Attachment(Base):
    __tablename__ = "attachments"

    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True)
    url = Column(Text, nullable=False)
    media_type = Column(String(128), nullable=False)


class OutboxEvent(Base):
    __tablename__ = "outbox"

    id = Column(Integer, primary_key=True)
    event = Column(String(16), nullable=False)
    reference = Column(String(10), nullable=False, index=True)
    payload = Column(JSON, nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    acked_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (CheckConstraint(_in("event", EVENTS), name="event"),)


class LookupFailure(Base):
    """Failed-lookup counters per key (a reference or a proof identity), in fixed windows.

    Kept in the database, not in memory, so the limit holds across processes and restarts.
    """

    __tablename__ = "lookup_failures"

    key = Column(String(80), primary_key=True)
    window_start = Column(UTCDateTime, nullable=False)
    count = Column(Integer, nullable=False)

    __table_args__ = (CheckConstraint("count >= 0", name="count"),)


class CentreRating(Base):
    """One visit to a service centre rated by one person ("Rate your experience", issue 13).

    Not a request: no reference, no status. `rater_hash` is a keyed digest of the rater's keyed
    id bound to the centre and the local day, so the UNIQUE constraint allows one rating per
    person per centre per day while no rating can be tied to a person, or two ratings to each
    other across centres or days.
    """

    __tablename__ = "centre_ratings"

    id = Column(Integer, primary_key=True)
    centre_id = Column(String(64), nullable=False)
    entity = Column(String(64), nullable=False, index=True)
    score = Column(Integer, nullable=False)
    comment = Column(Text, nullable=True)
    language = Column(String(2), nullable=False)
    channel = Column(String(16), nullable=False)
    entered_by = Column(String(128), nullable=True)
    rater_hash = Column(String(64), nullable=False)
    local_day = Column(String(10), nullable=False)  # YYYY-MM-DD in BEKH_TIMEZONE
    idempotency_key = Column(String(128), nullable=False, unique=True)
    created_at = Column(UTCDateTime, nullable=False)

    pillars = relationship("CentreRatingPillar", lazy="selectin", order_by="CentreRatingPillar.pillar",
                           cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("score BETWEEN 1 AND 5", name="score"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("language", LANGUAGES), name="language"),
        UniqueConstraint("centre_id", "local_day", "rater_hash", name="uq_centre_ratings_once_a_day"),
        Index("ix_centre_ratings_centre_created", "centre_id", "created_at"),
        Index("ix_centre_ratings_created_at", "created_at"),
    )


class CentreRatingPillar(Base):
    """A pillar that fell short in one rated visit (none, one or several per rating)."""

    __tablename__ = "centre_rating_pillars"

    rating_id = Column(Integer, ForeignKey("centre_ratings.id", ondelete="CASCADE"), primary_key=True)
    pillar = Column(String(32), primary_key=True)

    __table_args__ = (CheckConstraint(_in("pillar", PILLARS), name="pillar"),)


class AccessLog(Base):
    """Who looked at a request (agents send X-Actor); never the proof value itself."""

    __tablename__ = "access_log"

    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True)
    at = Column(UTCDateTime, nullable=False)
    actor = Column(String(128), nullable=False)
    proof = Column(String(16), nullable=False)
