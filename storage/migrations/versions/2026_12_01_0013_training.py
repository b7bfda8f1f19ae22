"""training_progress.step, answers, failures, failed_at: where a volunteer is in a module

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns: progress stored so far starts on the first page with no answers."""
    with op.batch_alter_table("training_progress", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("answers", sa.String(length=64), nullable=False, server_default=sa.text("''"))
        )
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("training_progress", schema=None) as batch_op:
        batch_op.drop_column("failed_at")
        batch_op.drop_column("failures")
        batch_op.drop_column("answers")
        batch_op.drop_column("step")
