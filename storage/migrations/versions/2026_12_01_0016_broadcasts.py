"""broadcast, and script.title / script.talking_points: rapid-response talking points and
script versions published from chat; question and question_reply: help on hand

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add the broadcast table and the script's note columns (empty for versions so far)."""
    with op.batch_alter_table("script", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("title", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("talking_points", sa.Text(), nullable=False, server_default="")
        )
    # The existing rows are filled in: the columns keep no server default, as the models say.
    with op.batch_alter_table("script", schema=None) as batch_op:
        batch_op.alter_column("title", server_default=None)
        batch_op.alter_column("talking_points", server_default=None)
    op.create_table(
        "broadcast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("talking_points", sa.Text(), nullable=False),
        sa.Column("scripts", _JSON, nullable=False),
        sa.Column("audience", _JSON, nullable=False),
        sa.Column("sms", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("script_id", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["script_id"], ["script.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.create_index("uq_broadcast_request_key", ["request_key"], unique=True)
        batch_op.create_index(batch_op.f("ix_broadcast_campaign_id"), ["campaign_id"], unique=False)

    op.create_table(
        "question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("asker", sa.String(length=100), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("context", _JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reraised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("question", schema=None) as batch_op:
        batch_op.create_index("uq_question_request_key", ["request_key"], unique=True)
        batch_op.create_index(batch_op.f("ix_question_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_question_volunteer_id"), ["volunteer_id"], unique=False
        )
    op.create_table(
        "question_reply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("from_organizer", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["question_id"], ["question.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("question_reply", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_question_reply_question_id"), ["question_id"], unique=False
        )


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("question_reply", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_reply_question_id"))
    op.drop_table("question_reply")
    with op.batch_alter_table("question", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_volunteer_id"))
        batch_op.drop_index(batch_op.f("ix_question_campaign_id"))
        batch_op.drop_index("uq_question_request_key")
    op.drop_table("question")
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcast_campaign_id"))
        batch_op.drop_index("uq_broadcast_request_key")
    op.drop_table("broadcast")
    with op.batch_alter_table("script", schema=None) as batch_op:
        batch_op.drop_column("talking_points")
        batch_op.drop_column("title")
