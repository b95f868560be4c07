"""The catalog's tables: products, their prices, and product families. Each model says what it is in an event
(``snapshot``, in PaymentKit's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from checkstand.db import Base, JSONDocument, TimestampedMixin

# A price's ``pricing_type`` when it bills every interval (the other is ``one_time``).
RECURRING: Final = "recurring"
# A price's ``usage_type``: a quantity bought (licensed), or the usage reported for its ``metered_id`` (metered).
LICENSED: Final = "licensed"
METERED: Final = "metered"
# How a metered price turns a period's meter events into its quantity (``usage_aggregation``).
USAGE_AGGREGATIONS: Final = ("sum", "max", "last")


class Product(TimestampedMixin, Base):
    """What a merchant sells. Deleting one only archives it (``deleted_at``): checkouts, subscriptions and events
    made from it keep pointing at a row that still exists."""

    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_account_created", "account_id", "created_at"),
        UniqueConstraint("account_id", "external_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(String(1000))
    is_active: Mapped[bool] = mapped_column(default=True)
    # No foreign key: products and prices would reference each other, and neither is ever removed, so the service's
    # check when it is set (an active price of this very product) is all the integrity this needs.
    default_price_id: Mapped[str | None] = mapped_column(String(64))
    product_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deleted_at: Mapped[datetime | None]
    # The merchant's own id for the product (Paid's ``externalId``), unique in the account, and its product code.
    external_id: Mapped[str | None] = mapped_column(String(255))
    product_code: Mapped[str | None] = mapped_column(String(100))

    aggregate_type: ClassVar[str] = "product"

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "description": self.description,
            "is_active": self.is_active,
            "default_price_id": self.default_price_id,
            "note_id": None,
            "metadata": self.product_metadata,
            "custom_fields": self.custom_fields,
            "deleted_at": self.deleted_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class Price(TimestampedMixin, Base):
    """An amount in a currency, once or every interval. Its economics never change after creation (Stripe's rule):
    a new amount is a new price, so every past checkout still says what was charged."""

    __tablename__ = "prices"
    __table_args__ = (
        Index("ix_prices_account_created", "account_id", "created_at"),
        Index("ix_prices_product_created", "product_id", "created_at"),
        UniqueConstraint("account_id", "external_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(250))
    unit_amount_atom: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    is_active: Mapped[bool] = mapped_column(default=True)
    unit_label: Mapped[str | None] = mapped_column(String(12))
    pricing_type: Mapped[str] = mapped_column(String(16))
    recurring_interval: Mapped[str | None] = mapped_column(String(8))
    recurring_interval_count: Mapped[int | None]
    trial_days: Mapped[int] = mapped_column(default=0)
    # per_unit, or tiered with ``tiers`` (``[{units_upto, unit_amount_atom, flat_amount_atom}]``, the last tier's
    # ``units_upto`` None) priced as ``tiers_mode`` says: graduated (each tier its own units) or volume (the tier
    # reached prices every unit).
    billing_scheme: Mapped[str] = mapped_column(String(16), default="per_unit")
    tiers_mode: Mapped[str | None] = mapped_column(String(16))
    tiers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    # Package pricing: the amount is per this many units, a started package counted whole.
    quantity_divisor: Mapped[int | None]
    # licensed (a quantity bought) or metered (billed by the usage reported for ``metered_id``).
    usage_type: Mapped[str] = mapped_column(String(16), default="licensed")
    metered_id: Mapped[str | None] = mapped_column(String(100))
    # How a metered price turns a period's usage events into a quantity: sum, max or last (Stripe's meter formulas).
    usage_aggregation: Mapped[str] = mapped_column(String(8), default="sum")
    # An add-on: sold only beside one of these prices (in the session or on the customer's subscription).
    prerequisite_price_ids: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    # Sold only to these customers when not empty.
    exclusive_customer_ids: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    contract_term_multiple: Mapped[int | None]
    auto_renew: Mapped[bool] = mapped_column(default=True)
    price_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The merchant's own id for the price as a Paid plan (``externalId``), unique in the account.
    external_id: Mapped[str | None] = mapped_column(String(255))
    # The plan's place in its product's upgrade path (Paid's ``upgradePathOrder``, 1 for the lowest), counted among
    # the product's prices billed as often as this one: a higher place is an upgrade (``catalog.upgrade_paths``).
    upgrade_path_order: Mapped[int | None]

    # Loaded on purpose where it is needed; a lazy load in async code would fail far from its cause.
    product: Mapped[Product] = relationship(lazy="raise")

    aggregate_type: ClassVar[str] = "price"

    def snapshot(self) -> dict[str, Any]:
        """Licensed and per-unit: the fields of the schemes Checkstand doesn't sell say so (PaymentKit has them).
        ``auto_renew`` is a recurring price's (None on a one-time one)."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "product_id": self.product_id,
            "name": self.name,
            "unit_amount_atom": self.unit_amount_atom,
            "currency": self.currency,
            "is_active": self.is_active,
            "unit_label": self.unit_label,
            "pricing_type": self.pricing_type,
            "recurring_interval": self.recurring_interval,
            "recurring_interval_count": self.recurring_interval_count,
            "auto_renew": self.auto_renew if self.pricing_type == RECURRING else None,
            "contract_term_multiple": self.contract_term_multiple,
            "trial_days": self.trial_days,
            "usage_type": self.usage_type,
            "metered_id": self.metered_id,
            "usage_aggregation": self.usage_aggregation if self.usage_type == METERED else None,
            "billing_scheme": self.billing_scheme,
            "tier_amount_info": (
                {"mode": self.tiers_mode, "amount_atoms": self.tiers} if self.tiers is not None else None
            ),
            "prerequisite_price_ids": self.prerequisite_price_ids,
            "exclusive_customer_ids": self.exclusive_customer_ids,
            "metadata": self.price_metadata,
            "custom_fields": self.custom_fields,
            "quantity_divisor": self.quantity_divisor,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class ProductFamily(TimestampedMixin, Base):
    """The tiers of one product line: a product's rank decides whether moving to another is an upgrade."""

    __tablename__ = "product_families"
    __table_args__ = (Index("ix_product_families_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(String(1000))
    deleted_at: Mapped[datetime | None]

    # Small, and part of every rendering of a family: always loaded with it.
    members: Mapped[list[FamilyMember]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="FamilyMember.rank"
    )

    aggregate_type: ClassVar[str] = "product_family"

    def snapshot(self) -> dict[str, Any]:
        """``hierarchy`` maps each product to its rank, lowest tier first."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "description": self.description,
            "hierarchy": {m.product_id: m.rank for m in sorted(self.members, key=lambda m: m.rank)},
            "deleted_at": self.deleted_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class FamilyMember(Base):
    """A product's place in a family. The product is the key, so the database itself keeps a product in at most one
    family, and the unique rank keeps the tier order total."""

    __tablename__ = "product_family_members"
    __table_args__ = (UniqueConstraint("family_id", "rank"),)

    product_id: Mapped[str] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("product_families.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    rank: Mapped[int]


class UpgradePath(TimestampedMixin, Base):
    """A plan change an account allows: from a product (or one of its prices) to another, as an upgrade, a downgrade
    or a crossgrade. Without any declared path, the ranks of a product family decide (a higher rank upgrades)."""

    __tablename__ = "upgrade_paths"
    __table_args__ = (
        Index("ix_upgrade_paths_account_created", "account_id", "created_at"),
        Index("ix_upgrade_paths_account_source_product", "account_id", "source_product_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    source_product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"))
    target_product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"))
    source_price_id: Mapped[str | None] = mapped_column(ForeignKey("prices.id"))
    target_price_id: Mapped[str | None] = mapped_column(ForeignKey("prices.id"))
    # upgrade, downgrade or crossgrade.
    transition_type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(default=True)
    deleted_at: Mapped[datetime | None]

    aggregate_type: ClassVar[str] = "upgrade_path"

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "source_product_id": self.source_product_id,
            "target_product_id": self.target_product_id,
            "source_price_id": self.source_price_id,
            "target_price_id": self.target_price_id,
            "transition_type": self.transition_type,
            "description": self.description,
            "is_active": self.is_active,
            "deleted_at": self.deleted_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class Package(TimestampedMixin, Base):
    """A bundle of products sold together, each at its monthly or annual price (PaymentKit's packages). Deleting one
    only archives it (``deleted_at``)."""

    __tablename__ = "packages"
    __table_args__ = (Index("ix_packages_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(String(1000))
    is_active: Mapped[bool] = mapped_column(default=True)
    allow_monthly: Mapped[bool] = mapped_column(default=True)
    allow_annual: Mapped[bool] = mapped_column(default=False)
    default_billing_cycle: Mapped[str] = mapped_column(String(8), default="monthly")
    package_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    deleted_at: Mapped[datetime | None]

    items: Mapped[list[PackageItem]] = relationship(
        lazy="raise", order_by="PackageItem.position", cascade="all, delete-orphan"
    )

    aggregate_type: ClassVar[str] = "package"

    def snapshot(self) -> dict[str, Any]:
        """With its items, in the order the merchant gave them (loaded by whoever reads the package)."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "description": self.description,
            "is_active": self.is_active,
            "allow_monthly": self.allow_monthly,
            "allow_annual": self.allow_annual,
            "default_billing_cycle": self.default_billing_cycle,
            "items": [item.snapshot() for item in self.items],
            "metadata": self.package_metadata,
            "deleted_at": self.deleted_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class PackageItem(TimestampedMixin, Base):
    """One product of a package, with the price it is sold at for each billing cycle and how many."""

    __tablename__ = "package_items"
    __table_args__ = (Index("ix_package_items_package", "package_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    package_id: Mapped[str] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    monthly_price_id: Mapped[str | None] = mapped_column(ForeignKey("prices.id"))
    annual_price_id: Mapped[str | None] = mapped_column(ForeignKey("prices.id"))
    # The item's place in the package: items written in one flush share their created_at.
    position: Mapped[int]
    quantity: Mapped[int] = mapped_column(default=1)
    description: Mapped[str | None] = mapped_column(String(1000))

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "package_id": self.package_id,
            "product_id": self.product_id,
            "monthly_price_id": self.monthly_price_id,
            "annual_price_id": self.annual_price_id,
            "quantity": self.quantity,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
