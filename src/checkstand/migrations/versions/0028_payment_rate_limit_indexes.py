"""payment rate limit indexes: the confirm rate limits count failed attempts by session, client IP and card
fingerprint (an HMAC of the card number, never the number).

Revision ID: 0028
Revises: 0027
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkout_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_fingerprint", sa.String(length=64), nullable=True))
        batch_op.drop_index("ix_checkout_attempts_ip_created")
        batch_op.create_index(
            "ix_checkout_attempts_ip_state_created", ["client_ip", "state", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_checkout_attempts_card_state_created", ["card_fingerprint", "state", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("checkout_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_checkout_attempts_card_state_created")
        batch_op.drop_index("ix_checkout_attempts_ip_state_created")
        batch_op.create_index("ix_checkout_attempts_ip_created", ["client_ip", "created_at"], unique=False)
        batch_op.drop_column("card_fingerprint")
