"""the Paid dialect's orders: version and number; a customer's default payment method

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1")))
        batch_op.add_column(sa.Column("order_number", sa.Integer(), nullable=True))
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_number", sa.Integer(), nullable=True))
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()))
    _number_existing_orders()
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.alter_column("order_number", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_subscriptions_account_id_order_number"), ["account_id", "order_number"]
        )
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_checkout_sessions_account_id_order_number"), ["account_id", "order_number"]
        )


def _number_existing_orders() -> None:
    """Every account's orders so far, numbered from 1 in the order they were made: its subscriptions, and the
    checkouts that sold only one-time prices (completed, changing no subscription, starting none)."""
    bind = op.get_bind()
    subscriptions = sa.table(
        "subscriptions",
        sa.column("id", sa.String),
        sa.column("account_id", sa.String),
        sa.column("checkout_session_id", sa.String),
        sa.column("created_at", checkstand.db.UTCDateTime()),
        sa.column("order_number", sa.Integer),
    )
    sessions = sa.table(
        "checkout_sessions",
        sa.column("id", sa.String),
        sa.column("account_id", sa.String),
        sa.column("status", sa.String),
        sa.column("changes_subscription_id", sa.String),
        sa.column("completed_at", checkstand.db.UTCDateTime()),
        sa.column("created_at", checkstand.db.UTCDateTime()),
        sa.column("order_number", sa.Integer),
    )
    started = sa.select(subscriptions.c.checkout_session_id).where(subscriptions.c.checkout_session_id.is_not(None))
    orders: list[tuple[str, datetime, str, str]] = [
        (row.account_id, row.created_at, row.id, "subscriptions")
        for row in bind.execute(sa.select(subscriptions.c.account_id, subscriptions.c.created_at, subscriptions.c.id))
    ]
    orders += [
        (row.account_id, row.completed_at or row.created_at, row.id, "checkout_sessions")
        for row in bind.execute(
            sa.select(sessions.c.account_id, sessions.c.completed_at, sessions.c.created_at, sessions.c.id).where(
                sessions.c.status == "success",
                sessions.c.changes_subscription_id.is_(None),
                sessions.c.id.not_in(started),
            )
        )
    ]
    counts: dict[str, int] = {}
    for account_id, _made, row_id, table_name in sorted(orders, key=lambda order: order[:3]):
        counts[account_id] = counts.get(account_id, 0) + 1
        table = subscriptions if table_name == "subscriptions" else sessions
        bind.execute(sa.update(table).where(table.c.id == row_id).values(order_number=counts[account_id]))


def downgrade() -> None:
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_checkout_sessions_account_id_order_number"), type_="unique")
        batch_op.drop_column("order_number")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_subscriptions_account_id_order_number"), type_="unique")
        batch_op.drop_column("order_number")
        batch_op.drop_column("version")
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_column("is_default")
