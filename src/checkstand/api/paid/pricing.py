"""Paid's ``pricing``: a product attribute's pricing. A product has one attribute, the product itself (its id is the
``productAttributeId``), priced by its default price. Prices never change what they charge, so ``update_pricing``
answers the pricing when it is the one the product has and refuses any other (create a plan with the new pricing
and make it the default instead); credit benefits aren't served."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid.plan_pricing import AttributeOut, NoCredits, PricingIn, located, terms_of
from checkstand.api.paid.wire import AccountId, PaidModel, PaidRequest
from checkstand.catalog import plans

router = APIRouter(prefix="/pricing", tags=["paid: pricing"])


class PricingListOut(PaidModel):
    data: list[AttributeOut]


class PricingUpdate(PaidRequest):
    pricing: PricingIn
    credit_benefits: NoCredits = None


@router.get("/")
async def list_pricing(
    account_id: AccountId,
    session: Session,
    product_id: Annotated[str, Query(alias="productId", min_length=1, max_length=64)],
) -> PricingListOut:
    """The product's one attribute, priced by its default price (none until it has one)."""
    prices = await plans.base_pricings(session, account_id, product_id)
    return PricingListOut(data=[AttributeOut.of(price) for price in prices])


@router.get("/{product_attribute_id}")
async def get_pricing(account_id: AccountId, product_attribute_id: str, session: Session) -> AttributeOut:
    return AttributeOut.of(await plans.base_pricing(session, account_id, product_attribute_id))


@router.put("/{product_attribute_id}")
async def update_pricing(
    account_id: AccountId, product_attribute_id: str, body: PricingUpdate, session: Session
) -> AttributeOut:
    """Answers the attribute when ``pricing`` is the one it has; any other pricing is refused (400)."""
    terms = terms_of(body.pricing, ("pricing",))
    with located(("pricing",)):
        price = await plans.reprice(session, account_id, product_attribute_id, terms)
    return AttributeOut.of(price)
