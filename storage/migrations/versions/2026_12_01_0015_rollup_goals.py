"""call_rollup: what leaderboards and goals count, per volunteer, day and voter area;
volunteer.leaderboard_hidden; goal.created_by and goal.alerted_on (behind-pace alert once a day);
dashboard_link and dashboard_session (one-time links exchanged for a session cookie)

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the table and columns; an existing campaign's rollup is rebuilt by
    `storage.rollup.rebuild` (empty here: it fills as outcomes are logged)."""
    op.create_table(
        "call_rollup",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("area_code", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("dials", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("surveys", sa.Integer(), nullable=False),
        sa.Column("pledges", sa.Integer(), nullable=False),
        sa.Column("supporters", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteer.id"]),
        sa.PrimaryKeyConstraint(
            "campaign_id", "volunteer_id", "day", "area_code", "state", "language"
        ),
    )
    op.create_index("ix_call_rollup_campaign_day", "call_rollup", ["campaign_id", "day"])
    op.create_table(
        "dashboard_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "dashboard_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["link_id"], ["dashboard_link.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("leaderboard_hidden", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("goal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("alerted_on", sa.Date(), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("goal", schema=None) as batch_op:
        batch_op.drop_column("alerted_on")
        batch_op.drop_column("created_by")
    with op.batch_alter_table("volunteer", schema=None) as batch_op:
        batch_op.drop_column("leaderboard_hidden")
    op.drop_table("dashboard_session")
    op.drop_table("dashboard_link")
    op.drop_index("ix_call_rollup_campaign_day", table_name="call_rollup")
    op.drop_table("call_rollup")
