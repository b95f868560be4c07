"""``max_redemptions`` of a coupon or a promotion code, set under a condition the database checks: a redemption
counted meanwhile can't leave more uses than the new limit allows."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.errors import InvalidFields
from checkstand.discounts.models import Coupon, PromotionCode


async def set_redemption_limit(session: AsyncSession, obj: Coupon | PromotionCode, limit: int | None) -> None:
    """``limit`` None lifts it; a limit below the uses already counted is refused at ``max_redemptions``."""
    if limit is not None and limit <= 0:
        raise InvalidFields.one(("max_redemptions",), "must be greater than 0")
    model = type(obj)
    conditions = [model.id == obj.id, model.account_id == obj.account_id]
    if limit is not None:
        conditions.append(model.times_redeemed <= limit)
    result = await session.execute(
        update(model)
        .where(*conditions)
        .values(max_redemptions=limit, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(obj)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidFields.one(
            ("max_redemptions",), f"can't be below the {obj.times_redeemed} redemptions already made"
        )
