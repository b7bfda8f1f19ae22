"""training_progress.step, answers, failures, failed_at: where a volunteer is in a module;
practice_round and practice_call: practice batches, apart from real batches and attempts

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns (progress stored so far starts on the first page with no answers) and
    the practice tables."""
    with op.batch_alter_table("training_progress", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("answers", sa.String(length=64), nullable=False, server_default=sa.text("''"))
        )
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "practice_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("voters", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("practice_round", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_practice_round_volunteer_id"), ["volunteer_id"], unique=False
        )
    op.create_table(
        "practice_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result_code", sa.String(length=32), nullable=True),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["practice_round.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "position"),
    )
    with op.batch_alter_table("practice_call", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_practice_call_round_id"), ["round_id"], unique=False)


def downgrade() -> None:
    """Drop the practice tables and the columns."""
    op.drop_table("practice_call")
    op.drop_table("practice_round")
    with op.batch_alter_table("training_progress", schema=None) as batch_op:
        batch_op.drop_column("failed_at")
        batch_op.drop_column("failures")
        batch_op.drop_column("answers")
        batch_op.drop_column("step")
