"""volunteer.softphone: ring the volunteer's browser instead of their phone

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column; every volunteer so far is rung on their phone (or SIP address)."""
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("softphone", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.drop_column("softphone")
