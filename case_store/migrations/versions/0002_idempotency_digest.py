"""idempotency digest: a keyed digest of the create body beside its Idempotency-Key

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 19:50:00

A replayed key is answered with the original request only when the body digest matches, so a
reused key can no longer fetch someone else's request (and a report's PIN). Rows created before
this revision keep a NULL digest ("legacy"): the digest needs CASE_STORE_ENCRYPTION_KEY and the
plaintext body, which a migration has neither of, so no backfill. How a legacy row is replayed
is decided in case_store.service (CaseService._replay).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("idempotency_digest")
