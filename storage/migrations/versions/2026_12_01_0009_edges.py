"""volunteer.softphone_version: `softphone off` voids the links handed out before

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column: every link handed out so far carries version 0."""
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("softphone_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.drop_column("softphone_version")
