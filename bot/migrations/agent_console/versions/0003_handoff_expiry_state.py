"""A waiting handoff can expire (channels/agent_console/expiry.py): the state CHECK admits 'expired'.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_OLD = "state IN ('waiting', 'taken', 'resumed')"
_NEW = "state IN ('waiting', 'taken', 'resumed', 'expired')"


def _state_check(condition: str) -> None:
    # SQLite cannot alter a CHECK: batch mode copies the table with the new constraint.
    with op.batch_alter_table("console_handoffs", recreate="auto") as batch:
        batch.drop_constraint("ck_handoff_state", type_="check")
        batch.create_check_constraint("ck_handoff_state", condition)


def upgrade() -> None:
    _state_check(_NEW)


def downgrade() -> None:
    op.execute("UPDATE console_handoffs SET state = 'resumed' WHERE state = 'expired'")
    _state_check(_OLD)
