"""the checkout attempt a session is being paid by, so checkout itself refuses changes while a payment is in flight

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paying_attempt_id", sa.String(length=64), nullable=True))
    # Sessions with an attempt in flight at upgrade time stay guarded.
    op.execute(
        """
        UPDATE checkout_sessions SET paying_attempt_id = (
            SELECT a.id FROM checkout_attempts a
            WHERE a.checkout_session_id = checkout_sessions.id
              AND a.state IN ('pending', 'processing', 'requires_action')
            ORDER BY a.created_at DESC LIMIT 1
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.drop_column("paying_attempt_id")
