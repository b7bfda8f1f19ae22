"""shifts announced in a channel, signups confirmed or waitlisted, the send ledger

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-01 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the shift and signup columns (all nullable: existing rows keep their meaning) and
    create the send ledger."""
    with op.batch_alter_table("shift", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("channel", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("created_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", _WHEN, nullable=True))
        batch_op.create_index("ix_shift_starts_at", ["starts_at"], unique=False)
    with op.batch_alter_table("shift_signup", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirmed_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", _WHEN, nullable=True))
    op.create_table(
        "send_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", _WHEN, nullable=False),
        sa.Column("done_at", _WHEN, nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "recipient", "kind", name="uq_send_ledger_key"),
    )


def downgrade() -> None:
    """Drop the ledger and the columns."""
    op.drop_table("send_ledger")
    with op.batch_alter_table("shift_signup", schema=None) as batch_op:
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("confirmed_at")
    with op.batch_alter_table("shift", schema=None) as batch_op:
        batch_op.drop_index("ix_shift_starts_at")
        for column in ("cancelled_at", "created_by", "language", "time_zone", "channel"):
            batch_op.drop_column(column)
        batch_op.drop_column("platform")
