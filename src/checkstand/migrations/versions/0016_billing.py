"""billing: saved payment methods, invoices, payment charges, refunds, test clocks

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "test_clocks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("frozen_time", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_test_clocks_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_clocks")),
    )
    with op.batch_alter_table("test_clocks", schema=None) as batch_op:
        batch_op.create_index("ix_test_clocks_account_created", ["account_id", "created_at"], unique=False)

    op.create_table(
        "payment_methods",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("processor_id", sa.String(length=64), nullable=False),
        sa.Column("processor_reference", sa.String(length=255), nullable=False),
        sa.Column("processor_customer_reference", sa.String(length=255), nullable=True),
        sa.Column("provider_type", sa.String(length=32), nullable=False),
        sa.Column("brand", sa.String(length=32), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payment_methods_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_payment_methods_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["processor_id"], ["processors.id"], name=op.f("fk_payment_methods_processor_id_processors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint(
            "processor_id", "processor_reference", name=op.f("uq_payment_methods_processor_id_processor_reference")
        ),
    )
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.create_index("ix_payment_methods_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_payment_methods_account_customer", ["account_id", "customer_id"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("checkout_session_id", sa.String(length=64), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("billing_reason", sa.String(length=32), nullable=False),
        sa.Column("collection_method", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal_atom", sa.BigInteger(), nullable=False),
        sa.Column("discount_atom", sa.BigInteger(), nullable=False),
        sa.Column("tax_atom", sa.BigInteger(), nullable=False),
        sa.Column("total_atom", sa.BigInteger(), nullable=False),
        sa.Column("paid_atom", sa.BigInteger(), nullable=False),
        sa.Column("period_start", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("issued_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_date", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_invoices_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["checkout_session_id"],
            ["checkout_sessions.id"],
            name=op.f("fk_invoices_checkout_session_id_checkout_sessions"),
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_invoices_customer_id_customers")),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["subscriptions.id"], name=op.f("fk_invoices_subscription_id_subscriptions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("account_id", "number", name=op.f("uq_invoices_account_id_number")),
        sa.UniqueConstraint(
            "subscription_id",
            "billing_reason",
            "period_start",
            name=op.f("uq_invoices_subscription_id_billing_reason_period_start"),
        ),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_invoices_account_customer", ["account_id", "customer_id"], unique=False)
        batch_op.create_index("ix_invoices_status_next_attempt", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("price_id", sa.String(length=64), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("period_start", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_invoice_lines_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["price_id"], ["prices.id"], name=op.f("fk_invoice_lines_price_id_prices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint("invoice_id", "position", name=op.f("uq_invoice_lines_invoice_id_position")),
    )
    op.create_table(
        "payment_charges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("processor_id", sa.String(length=64), nullable=False),
        sa.Column("payment_method_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded_atom", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("decline_code", sa.String(length=64), nullable=True),
        sa.Column("failure_message", sa.String(length=1000), nullable=True),
        sa.Column("processor_reference", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("captured_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payment_charges_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_payment_charges_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_charges_payment_id_payments"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["payment_methods.id"],
            name=op.f("fk_payment_charges_payment_method_id_payment_methods"),
        ),
        sa.ForeignKeyConstraint(
            ["processor_id"], ["processors.id"], name=op.f("fk_payment_charges_processor_id_processors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_charges")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payment_charges_idempotency_key")),
    )
    with op.batch_alter_table("payment_charges", schema=None) as batch_op:
        batch_op.create_index("ix_payment_charges_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_payment_charges_status_lease", ["status", "lease_expires_at"], unique=False)
        batch_op.create_index("ix_payment_charges_payment_created", ["payment_id", "created_at"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("charge_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("processor_refund_id", sa.String(length=255), nullable=True),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("failure_message", sa.String(length=1000), nullable=True),
        sa.Column("processed_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_refunds_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["payment_charges.id"], name=op.f("fk_refunds_charge_id_payment_charges"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_refunds_idempotency_key")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index("ix_refunds_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_refunds_charge", ["charge_id"], unique=False)

    op.create_table(
        "simulator_refunds",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("processor_id", sa.String(length=64), nullable=False),
        sa.Column("charge_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_simulator_refunds_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["simulator_charges.id"], name=op.f("fk_simulator_refunds_charge_id_simulator_charges")
        ),
        sa.ForeignKeyConstraint(
            ["processor_id"], ["processors.id"], name=op.f("fk_simulator_refunds_processor_id_processors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulator_refunds")),
        sa.UniqueConstraint(
            "processor_id", "idempotency_key", name=op.f("uq_simulator_refunds_processor_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("simulator_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_simulator_refunds_charge_id"), ["charge_id"], unique=False)

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("test_clock_id", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_customers_test_clock_id_test_clocks"),
            "test_clocks",
            ["test_clock_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoice_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("subscription_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("payment_method_id", sa.String(length=64), nullable=True))
        # Existing payments have refunded nothing and carry no metadata.
        batch_op.add_column(
            sa.Column("amount_refunded_atom", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("description", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", checkstand.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.alter_column("checkout_session_id", existing_type=sa.VARCHAR(length=64), nullable=True)
        batch_op.alter_column("checkout_attempt_id", existing_type=sa.VARCHAR(length=64), nullable=True)
        batch_op.alter_column("processor_attempt_id", existing_type=sa.VARCHAR(length=64), nullable=True)
        batch_op.alter_column("processor_id", existing_type=sa.VARCHAR(length=64), nullable=True)
        batch_op.alter_column("tier", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_index("ix_payments_account_customer", ["account_id", "customer_id"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_payments_invoice_id"), ["invoice_id"])
        batch_op.create_foreign_key(batch_op.f("fk_payments_invoice_id_invoices"), "invoices", ["invoice_id"], ["id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_payments_subscription_id_subscriptions"), "subscriptions", ["subscription_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_payments_payment_method_id_payment_methods"),
            "payment_methods",
            ["payment_method_id"],
            ["id"],
        )

    with op.batch_alter_table("simulator_charges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_brand", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("card_exp_month", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("card_exp_year", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("detached_at", checkstand.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table("processor_attempts", schema=None) as batch_op:
        # Every processor attempt before setups was a charge.
        batch_op.add_column(sa.Column("is_setup", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("checkout_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))

    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("amount_due_today_atom", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
    # Sessions priced before trials were charged at checkout charged their whole total.
    op.execute("UPDATE checkout_sessions SET amount_due_today_atom = amount_total_atom")

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_payment_method_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("description", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("paused_at", checkstand.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resumes_at", checkstand.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ended_at", checkstand.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("trial_ending_notified_at", checkstand.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("billing_anchor", checkstand.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_subscriptions_default_payment_method_id_payment_methods"),
            "payment_methods",
            ["default_payment_method_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("simulator_charges", schema=None) as batch_op:
        batch_op.drop_column("detached_at")
        batch_op.drop_column("card_exp_year")
        batch_op.drop_column("card_exp_month")
        batch_op.drop_column("card_brand")

    with op.batch_alter_table("processor_attempts", schema=None) as batch_op:
        batch_op.drop_column("is_setup")

    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.drop_column("amount_due_today_atom")

    with op.batch_alter_table("checkout_attempts", schema=None) as batch_op:
        batch_op.drop_column("lease_owner")

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_subscriptions_default_payment_method_id_payment_methods"), type_="foreignkey"
        )
        batch_op.drop_column("billing_anchor")
        batch_op.drop_column("trial_ending_notified_at")
        batch_op.drop_column("ended_at")
        batch_op.drop_column("resumes_at")
        batch_op.drop_column("paused_at")
        batch_op.drop_column("description")
        batch_op.drop_column("default_payment_method_id")

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_payments_payment_method_id_payment_methods"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_payments_subscription_id_subscriptions"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_payments_invoice_id_invoices"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_payments_invoice_id"), type_="unique")
        batch_op.drop_index("ix_payments_account_customer")
        batch_op.alter_column("tier", existing_type=sa.INTEGER(), nullable=False)
        batch_op.alter_column("processor_id", existing_type=sa.VARCHAR(length=64), nullable=False)
        batch_op.alter_column("processor_attempt_id", existing_type=sa.VARCHAR(length=64), nullable=False)
        batch_op.alter_column("checkout_attempt_id", existing_type=sa.VARCHAR(length=64), nullable=False)
        batch_op.alter_column("checkout_session_id", existing_type=sa.VARCHAR(length=64), nullable=False)
        batch_op.drop_column("metadata")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("description")
        batch_op.drop_column("amount_refunded_atom")
        batch_op.drop_column("payment_method_id")
        batch_op.drop_column("subscription_id")
        batch_op.drop_column("invoice_id")

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_customers_test_clock_id_test_clocks"), type_="foreignkey")
        batch_op.drop_column("test_clock_id")

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_charge")
        batch_op.drop_index("ix_refunds_account_created")

    with op.batch_alter_table("simulator_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_simulator_refunds_charge_id"))

    op.drop_table("simulator_refunds")
    op.drop_table("refunds")
    with op.batch_alter_table("payment_charges", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_charges_payment_created")
        batch_op.drop_index("ix_payment_charges_status_lease")
        batch_op.drop_index("ix_payment_charges_account_created")

    op.drop_table("payment_charges")
    op.drop_table("invoice_lines")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_status_next_attempt")
        batch_op.drop_index("ix_invoices_account_customer")
        batch_op.drop_index("ix_invoices_account_created")

    op.drop_table("invoices")
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_methods_account_customer")
        batch_op.drop_index("ix_payment_methods_account_created")

    op.drop_table("payment_methods")
    with op.batch_alter_table("test_clocks", schema=None) as batch_op:
        batch_op.drop_index("ix_test_clocks_account_created")

    op.drop_table("test_clocks")
