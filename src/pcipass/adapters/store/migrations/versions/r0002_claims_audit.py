"""Claims and allocations, the tracker's memory between runs, and the audit trail.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("devices.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("consumer_uuid", sa.String(255), nullable=False),
        sa.Column("request_id", sa.String(255)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.UniqueConstraint("device_id", name="uq_claims_device"),
    )
    op.create_index("ix_claims_consumer_uuid", "claims", ["consumer_uuid"])
    op.create_table(
        "tracker_memory",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("address", sa.String(16), nullable=False),
        sa.Column("remove_when_freed", sa.Boolean(), nullable=False),
        sa.Column("stale", sa.Text()),
        sa.UniqueConstraint("host_id", "address", name="uq_tracker_memory_host_address"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("address", sa.String(16)),
        sa.Column("old_status", sa.String(16)),
        sa.Column("new_status", sa.String(16)),
        sa.Column("owner", sa.String(255)),
        sa.Column("request_id", sa.String(255)),
        sa.Column("command", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text()),
    )
    op.create_index("ix_audit_hostname", "audit", ["hostname"])


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("tracker_memory")
    op.drop_table("claims")
