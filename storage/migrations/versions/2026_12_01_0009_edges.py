"""volunteer.softphone_version: `softphone off` voids the links handed out before;
sms_inbound.reply_kind: the auto-reply a text got, which bounds the replies to a sender

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns: every link handed out so far carries version 0; texts received so far
    count as unanswered."""
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("softphone_version", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("sms_inbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_kind", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("sms_inbound", schema=None) as batch_op:
        batch_op.drop_column("reply_kind")
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.drop_column("softphone_version")
