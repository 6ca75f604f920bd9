"""Accounts get a role (agent, ops_room, minister, entity) and the sector or entity it covers.

Every account so far is a contact-center agent: the column defaults to 'agent'. The dashboards
(insights/) sign in with the same accounts; insights/scope.py turns a role into what it may see.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SCOPE = (
    "(role = 'minister' AND sector IS NOT NULL AND entity IS NULL)"
    " OR (role = 'entity' AND entity IS NOT NULL AND sector IS NULL)"
    " OR (role IN ('agent', 'ops_room') AND sector IS NULL AND entity IS NULL)"
)


def upgrade() -> None:
    # SQLite cannot add a CHECK to a table in place: batch mode copies it.
    with op.batch_alter_table("console_agents", recreate="auto") as batch:
        batch.add_column(sa.Column("role", sa.String(10), nullable=False, server_default="agent"))
        batch.add_column(sa.Column("sector", sa.String(64), nullable=True))
        batch.add_column(sa.Column("entity", sa.String(64), nullable=True))
        batch.create_check_constraint("ck_agent_role", "role IN ('agent', 'ops_room', 'minister', 'entity')")
        batch.create_check_constraint("ck_agent_role_scope", _SCOPE)


def downgrade() -> None:
    with op.batch_alter_table("console_agents", recreate="auto") as batch:
        batch.drop_constraint("ck_agent_role_scope", type_="check")
        batch.drop_constraint("ck_agent_role", type_="check")
        batch.drop_column("entity")
        batch.drop_column("sector")
        batch.drop_column("role")
