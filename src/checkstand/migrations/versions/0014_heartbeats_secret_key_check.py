"""workers' heartbeats (for /readyz and /metrics) and the at-rest key's check value (one key per database)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secret_key_checks",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("check_value", sa.String(length=64), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_key_checks")),
    )
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_heartbeats")),
    )
    with op.batch_alter_table("worker_heartbeats", schema=None) as batch_op:
        batch_op.create_index("ix_worker_heartbeats_beat_at", ["beat_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("worker_heartbeats", schema=None) as batch_op:
        batch_op.drop_index("ix_worker_heartbeats_beat_at")
    op.drop_table("worker_heartbeats")
    op.drop_table("secret_key_checks")
