"""service-centre ratings and campaign complaints (issue 13)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:10:00

- centre_ratings: one rated visit to a service centre (not a request: no reference). One per
  person per centre per local day (UNIQUE centre_id, local_day, rater_hash), replays by
  idempotency key (UNIQUE).
- centre_rating_pillars: the pillars that fell short in a rated visit (none, one or several).
- requests.campaign (+ index) and requests.campaign_answers: a focused campaign's complaint and
  the answers to its extra questions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHANNELS = "channel IN ('messenger', 'sms', 'voice', 'contact_center', 'web', 'shell')"
PILLARS = (
    "pillar IN ('service_quality', 'delivery_time', 'employee_behaviour', 'procedures', 'infrastructure')"
)


def upgrade() -> None:
    op.create_table(
        "centre_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("entered_by", sa.String(length=128), nullable=True),
        sa.Column("rater_hash", sa.String(length=64), nullable=False),
        sa.Column("local_day", sa.String(length=10), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_centre_ratings_score")),
        sa.CheckConstraint(CHANNELS, name=op.f("ck_centre_ratings_channel")),
        sa.CheckConstraint("language IN ('ar', 'en')", name=op.f("ck_centre_ratings_language")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_centre_ratings")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_centre_ratings_idempotency_key")),
        sa.UniqueConstraint("centre_id", "local_day", "rater_hash", name="uq_centre_ratings_once_a_day"),
    )
    with op.batch_alter_table("centre_ratings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_centre_ratings_entity"), ["entity"], unique=False)
        batch_op.create_index("ix_centre_ratings_centre_created", ["centre_id", "created_at"], unique=False)
        batch_op.create_index("ix_centre_ratings_created_at", ["created_at"], unique=False)
    op.create_table(
        "centre_rating_pillars",
        sa.Column("rating_id", sa.Integer(), nullable=False),
        sa.Column("pillar", sa.String(length=32), nullable=False),
        sa.CheckConstraint(PILLARS, name=op.f("ck_centre_rating_pillars_pillar")),
        sa.ForeignKeyConstraint(["rating_id"], ["centre_ratings.id"], ondelete="CASCADE",
                                name=op.f("fk_centre_rating_pillars_rating_id_centre_ratings")),
        sa.PrimaryKeyConstraint("rating_id", "pillar", name=op.f("pk_centre_rating_pillars")),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("campaign_answers", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_requests_campaign"), ["campaign"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_campaign"))
        batch_op.drop_column("campaign_answers")
        batch_op.drop_column("campaign")
    op.drop_table("centre_rating_pillars")
    op.drop_table("centre_ratings")
