"""The merchant's own ids for products and prices (Paid's ``externalId``): unique in the account, and a way to find
the row by them. Customers have theirs in ``customers``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from checkstand.catalog.models import Price, Product
from checkstand.core.errors import Conflict, NotFound


def taken(kind: str, external_id: str | None) -> Conflict:
    return Conflict(f"Another {kind} already has external id {external_id!r}.", code=f"{kind}_external_id_taken")


async def ensure_free(
    session: AsyncSession, model: type[Product] | type[Price], account_id: str, external_id: str, kind: str
) -> None:
    """Refuse an external id another row of the account holds; the unique constraint stays the last word
    (:func:`save`)."""
    holder = await session.scalar(
        select(model.id).where(model.account_id == account_id, model.external_id == external_id)
    )
    if holder is not None:
        raise taken(kind, external_id)


async def save(session: AsyncSession, row: Product | Price, kind: str) -> None:
    """Write the row in a savepoint: a concurrent request that took the same external id first makes the database
    refuse, and that is this request's conflict, not a broken transaction."""
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise taken(kind, row.external_id) from None


async def get_product(session: AsyncSession, account_id: str, external_id: str) -> Product:
    """The product with this external id, archived ones included (they keep their id)."""
    product = await session.scalar(
        select(Product).where(Product.account_id == account_id, Product.external_id == external_id)
    )
    if product is None:
        raise NotFound("product", external_id)
    return product


async def get_price(session: AsyncSession, account_id: str, external_id: str) -> Price:
    """The price with this external id, with its product loaded."""
    price = await session.scalar(
        select(Price)
        .where(Price.account_id == account_id, Price.external_id == external_id)
        .options(joinedload(Price.product))
    )
    if price is None:
        raise NotFound("price", external_id)
    return price
