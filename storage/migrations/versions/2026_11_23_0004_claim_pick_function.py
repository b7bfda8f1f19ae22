"""the claim's matching steps as a PostgreSQL function (phonebank_claim_pick)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 07:20:00

PostgreSQL only: SQLite claims keep the Python path (matching/claims.py). The function's text
lives in storage/claim_function.py; a later change to it needs a migration of its own.
"""

from collections.abc import Sequence

from alembic import op

from storage.claim_function import CREATE_FUNCTION, DROP_FUNCTION

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the claim function (PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_FUNCTION)


def downgrade() -> None:
    """Drop the claim function (PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_FUNCTION)
