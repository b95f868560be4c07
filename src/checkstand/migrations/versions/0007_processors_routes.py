"""processor connections and processor routes

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processors",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("currencies", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("is_available", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("api_base", sa.String(length=2048), nullable=True),
        sa.Column("sealed_credentials", sa.String(length=2048), nullable=True),
        sa.Column("secret_key_last4", sa.String(length=4), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=True),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("deleted_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_processors_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processors")),
    )
    with op.batch_alter_table("processors", schema=None) as batch_op:
        batch_op.create_index("ix_processors_account_created", ["account_id", "created_at"], unique=False)

    op.create_table(
        "processor_routes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_processor_routes_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processor_routes")),
    )
    with op.batch_alter_table("processor_routes", schema=None) as batch_op:
        batch_op.create_index("ix_processor_routes_account_created", ["account_id", "created_at"], unique=False)

    op.create_table(
        "processor_route_entries",
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("processor_id", sa.String(length=64), nullable=False),
        sa.Column("disposition", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_processor_route_entries_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["processor_id"], ["processors.id"], name=op.f("fk_processor_route_entries_processor_id_processors")
        ),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["processor_routes.id"],
            name=op.f("fk_processor_route_entries_route_id_processor_routes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("route_id", "position", name=op.f("pk_processor_route_entries")),
    )
    with op.batch_alter_table("processor_route_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_processor_route_entries_account_processor", ["account_id", "processor_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("processor_route_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_processor_route_entries_account_processor")
    op.drop_table("processor_route_entries")

    with op.batch_alter_table("processor_routes", schema=None) as batch_op:
        batch_op.drop_index("ix_processor_routes_account_created")
    op.drop_table("processor_routes")

    with op.batch_alter_table("processors", schema=None) as batch_op:
        batch_op.drop_index("ix_processors_account_created")
    op.drop_table("processors")
