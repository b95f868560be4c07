"""The plans a subscription holding a price may move to: its product's other prices and the prices of the other
products of its product family, active, recurring and in the same currency, each as the account's upgrade paths
classify the move (a move they refuse is left out). Paid's amendment options show them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from checkstand.catalog.models import RECURRING, FamilyMember, Price, Product, ProductFamily
from checkstand.catalog.upgrade_paths import classify_transition
from checkstand.core.errors import BusinessRuleViolation

# A family's members and a product's prices are a handful; this bounds a catalog that is not.
MAX_CHOICES: Final = 100


@dataclass(frozen=True)
class PlanChoice:
    price: Price
    transition: str


async def plan_choices(session: AsyncSession, account_id: str, price: Price) -> list[PlanChoice]:
    """The moves from ``price``, upgrades first, then crossgrades and downgrades, each group by amount."""
    families = select(FamilyMember.family_id).where(
        FamilyMember.account_id == account_id, FamilyMember.product_id == price.product_id
    )
    siblings = (
        select(FamilyMember.product_id)
        .join(ProductFamily, ProductFamily.id == FamilyMember.family_id)
        .where(FamilyMember.family_id.in_(families), ProductFamily.deleted_at.is_(None))
    )
    candidates = await session.scalars(
        select(Price)
        .join(Product, Product.id == Price.product_id)
        .options(joinedload(Price.product))
        .where(
            Price.account_id == account_id,
            Price.id != price.id,
            Price.is_active.is_(True),
            Price.pricing_type == RECURRING,
            Price.currency == price.currency,
            Product.deleted_at.is_(None),
            (Price.product_id == price.product_id) | Price.product_id.in_(siblings),
        )
        .order_by(Price.unit_amount_atom, Price.id)
        .limit(MAX_CHOICES)
    )
    choices = []
    for candidate in candidates:
        try:
            transition = await classify_transition(
                session, account_id, from_price_id=price.id, to_price_id=candidate.id
            )
        except BusinessRuleViolation:
            continue  # the account's upgrade paths don't allow it
        choices.append(PlanChoice(candidate, transition))
    rank = {"upgrade": 0, "crossgrade": 1, "downgrade": 2}
    return sorted(choices, key=lambda choice: rank.get(choice.transition, 1))
