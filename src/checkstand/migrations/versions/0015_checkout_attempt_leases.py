"""checkout attempts carry their process's lease, so recovery takes over seconds after that process dies

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkout_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_expires_at", checkstand.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_checkout_attempts_state_lease", ["state", "lease_expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("checkout_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_checkout_attempts_state_lease")
        batch_op.drop_column("lease_expires_at")
