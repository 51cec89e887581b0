"""Hosts, their NUMA cells and their devices.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _stamps() -> list[sa.Column[object]]:
    return [sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                      nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                      nullable=False)]


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("nova_host", sa.String(255)),
        sa.Column("source", sa.Text()),
        *_stamps(),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.UniqueConstraint("hostname", name="uq_hosts_hostname"),
    )
    op.create_table(
        "numa_cells",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.Column("cpus", sa.Text(), nullable=False),
        sa.Column("memory_kb", sa.BigInteger()),
        sa.Column("sockets", sa.Text(), nullable=False),
        sa.Column("shared_cpus", sa.Text(), nullable=False),
        sa.Column("dedicated_cpus", sa.Text(), nullable=False),
        sa.Column("memory_mb", sa.BigInteger(), nullable=False),
        sa.Column("socket", sa.Integer()),
        sa.UniqueConstraint("host_id", "cell_id", name="uq_numa_cells_host_cell"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("address", sa.String(16), nullable=False),
        sa.Column("vendor_id", sa.String(4), nullable=False),
        sa.Column("product_id", sa.String(4), nullable=False),
        sa.Column("dev_type", sa.String(16), nullable=False),
        sa.Column("parent_addr", sa.String(16)),
        sa.Column("numa_node", sa.Integer()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("instance_uuid", sa.String(255)),
        sa.Column("request_id", sa.String(255)),
        sa.Column("label", sa.String(255)),
        sa.Column("dev_id", sa.String(255)),
        sa.Column("extra_info", sa.Text(), nullable=False),
        sa.Column("spec_tags", sa.Text(), nullable=False),
        *_stamps(),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.UniqueConstraint("host_id", "address", name="uq_devices_host_address"),
    )
    op.create_index("ix_devices_host_id", "devices", ["host_id"])
    op.create_index("ix_devices_status", "devices", ["status"])


def downgrade() -> None:
    op.drop_table("devices")
    op.drop_table("numa_cells")
    op.drop_table("hosts")
