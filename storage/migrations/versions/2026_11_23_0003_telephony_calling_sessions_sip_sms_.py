"""telephony: calling sessions, SIP, SMS verification and inbound texts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 06:34:24.044375
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade the schema."""
    op.create_table(
        "sms_inbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("from_phone", sa.String(length=20), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("keyword", sa.String(length=16), nullable=True),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_sid"),
    )
    with op.batch_alter_table("sms_inbound", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sms_inbound_review",
            ["received_at"],
            unique=False,
            sqlite_where=sa.text("needs_review"),
            postgresql_where=sa.text("needs_review"),
        )
        batch_op.create_index(
            batch_op.f("ix_sms_inbound_volunteer_id"), ["volunteer_id"], unique=False
        )
        batch_op.create_index("ix_sms_inbound_from_phone", ["from_phone", "keyword"], unique=False)

    op.create_table(
        "sms_verification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sms_verification", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sms_verification_volunteer_id"), ["volunteer_id"], unique=False
        )

    op.create_table(
        "call_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_attempt_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batch.id"],
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid"),
    )
    with op.batch_alter_table("call_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_session_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            "ix_call_session_open_batch",
            ["batch_id"],
            unique=False,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.create_index(
            batch_op.f("ix_call_session_volunteer_id"), ["volunteer_id"], unique=False
        )

    with op.batch_alter_table("call_attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("error_code", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_call_attempt_session_id"), ["session_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_call_attempt_session_id", "call_session", ["session_id"], ["id"]
        )

    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sip_address", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("sms_undeliverable", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Undo `upgrade`."""
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.drop_column("sms_undeliverable")
        batch_op.drop_column("sip_address")

    with op.batch_alter_table("call_attempt", schema=None) as batch_op:
        batch_op.drop_constraint("fk_call_attempt_session_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_call_attempt_session_id"))
        batch_op.drop_column("error_code")
        batch_op.drop_column("session_id")

    with op.batch_alter_table("call_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_session_volunteer_id"))
        batch_op.drop_index(
            "ix_call_session_open_batch",
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_call_session_campaign_id"))

    op.drop_table("call_session")
    with op.batch_alter_table("sms_verification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_verification_volunteer_id"))

    op.drop_table("sms_verification")
    with op.batch_alter_table("sms_inbound", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_inbound_from_phone")
        batch_op.drop_index(batch_op.f("ix_sms_inbound_volunteer_id"))
        batch_op.drop_index(
            "ix_sms_inbound_review",
            sqlite_where=sa.text("needs_review"),
            postgresql_where=sa.text("needs_review"),
        )

    op.drop_table("sms_inbound")
