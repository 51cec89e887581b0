"""Consumers: one row per consumer holding devices, with its request, for idempotent claims.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "consumers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("consumer_uuid", sa.String(255), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.UniqueConstraint("consumer_uuid", name="uq_consumers_consumer_uuid"),
    )
    op.create_index("ix_claims_lease_expires_at", "claims", ["lease_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_claims_lease_expires_at", table_name="claims")
    op.drop_table("consumers")
