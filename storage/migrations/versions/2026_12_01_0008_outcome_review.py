"""outcome_review and call_attempt.logged_at: outcomes without a placed call wait for an
organizer; a logged outcome is its logger's to edit for a while

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the review table and the column (outcomes logged so far have no time: no edits)."""
    op.create_table(
        "outcome_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("voter_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("submitted_by", sa.String(length=100), nullable=False),
        sa.Column("result_code", sa.String(length=32), nullable=False),
        sa.Column("language_heard", sa.String(length=16), nullable=True),
        sa.Column(
            "survey", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"]),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteer.id"]),
        sa.ForeignKeyConstraint(["voter_id"], ["voter.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outcome_review", schema=None) as batch_op:
        batch_op.create_index("uq_outcome_review_request_key", ["request_key"], unique=True)
        batch_op.create_index(
            "ix_outcome_review_waiting",
            ["campaign_id", "submitted_at"],
            unique=False,
            sqlite_where=sa.text("decided_at IS NULL"),
            postgresql_where=sa.text("decided_at IS NULL"),
        )
        batch_op.create_index(batch_op.f("ix_outcome_review_voter_id"), ["voter_id"], unique=False)
    with op.batch_alter_table("call_attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("logged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop the column and the table."""
    with op.batch_alter_table("call_attempt", schema=None) as batch_op:
        batch_op.drop_column("logged_at")
    op.drop_table("outcome_review")
