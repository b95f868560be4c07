"""a Stripe connection's publishable key, for Stripe.js on the hosted checkout page

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite can't drop a column in place on the way down, so both directions use it.
    with op.batch_alter_table("processors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("publishable_key", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processors", schema=None) as batch_op:
        batch_op.drop_column("publishable_key")
