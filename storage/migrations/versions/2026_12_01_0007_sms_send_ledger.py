"""sms_send: the texts someone asked for, counted by the send limits

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the ledger; nothing earlier is counted (the limits start from now)."""
    op.create_table(
        "sms_send",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asker", sa.String(length=200), nullable=False),
        sa.Column("workspace", sa.String(length=100), nullable=False),
        sa.Column("destination", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sms_send", schema=None) as batch_op:
        batch_op.create_index("ix_sms_send_asker", ["asker", "sent_at"], unique=False)
        batch_op.create_index("ix_sms_send_destination", ["destination", "sent_at"], unique=False)
        batch_op.create_index("ix_sms_send_workspace", ["workspace", "sent_at"], unique=False)


def downgrade() -> None:
    """Drop the ledger."""
    op.drop_table("sms_send")
