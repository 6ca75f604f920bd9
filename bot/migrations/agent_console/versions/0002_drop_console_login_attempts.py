"""Drop console_login_attempts: the log of logins before the throttle counters (e123d36) took its
place; create_all made it in every console database of that time and nothing has read it since.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("console_login_attempts"):  # absent in databases made since
        op.drop_table("console_login_attempts")  # its indexes go with it


def downgrade() -> None:
    # Nothing reads the table, and 0001 never made it: going back does not bring it back.
    pass
