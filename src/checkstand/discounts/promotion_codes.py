"""Promotion codes: the text a customer types for a coupon, unique in the account whatever its case, with limits,
an expiry and restrictions (a first purchase only, a minimum order) of its own."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock, money
from checkstand.core.errors import Conflict, FieldProblem, InvalidFields
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import one_or_not_found
from checkstand.core.metadata import merge_metadata
from checkstand.core.pagination import Page, paginate
from checkstand.discounts import limits
from checkstand.discounts.maths import AMOUNT_OFF
from checkstand.discounts.models import DELETED, Coupon, PromotionCode
from checkstand.events.service import record_event, snapshot

CODE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

PROMOTION_CODE_LIST_SPEC: Final = ListSpec(
    filterable={
        "coupon_id": PromotionCode.coupon_id,
        "active": PromotionCode.active,
        "first_time_transaction": PromotionCode.first_time_transaction,
    },
    sortable={
        "created_at": PromotionCode.created_at,
        "updated_at": PromotionCode.updated_at,
        "code": PromotionCode.code_normalized,
        "times_redeemed": PromotionCode.times_redeemed,
        "expires_at": PromotionCode.expires_at,
    },
    searchable=(PromotionCode.code, PromotionCode.id),
    created_at=PromotionCode.created_at,
    tiebreak=PromotionCode.id,
)


def normalize_code(text: str) -> str:
    return text.strip().upper()


async def find_promotion_code(session: AsyncSession, account_id: str, text: str) -> PromotionCode | None:
    """The live code a customer typed, whatever its case."""
    return await session.scalar(
        select(PromotionCode).where(
            PromotionCode.account_id == account_id, PromotionCode.code_normalized == normalize_code(text)
        )
    )


async def get_promotion_code(session: AsyncSession, account_id: str, code_id: str) -> PromotionCode:
    return await one_or_not_found(
        session,
        select(PromotionCode).where(
            PromotionCode.id == code_id, PromotionCode.account_id == account_id, PromotionCode.deleted_at.is_(None)
        ),
        "promotion_code",
        code_id,
    )


async def list_promotion_codes(
    session: AsyncSession,
    account_id: str,
    params: ListParams,
    *,
    coupon_id: str | None = None,
    active_only: bool = False,
) -> Page[PromotionCode]:
    query: Select[PromotionCode] = select(PromotionCode).where(
        PromotionCode.account_id == account_id, PromotionCode.deleted_at.is_(None)
    )
    if coupon_id is not None:
        query = query.where(PromotionCode.coupon_id == coupon_id)
    if active_only:
        query = query.where(PromotionCode.active.is_(True))
    return await paginate(session, apply_list_params(query, PROMOTION_CODE_LIST_SPEC, params), params.page)


def _minimum(
    coupon: Coupon | None, amount: Decimal | None, currency: str | None
) -> tuple[int | None, list[FieldProblem]]:
    """The minimum order restriction in minor units, or what is wrong with it."""
    if amount is None and currency is None:
        return None, []
    if amount is None or currency is None:
        missing = "minimum_amount" if amount is None else "minimum_amount_currency"
        return None, [FieldProblem((missing,), "minimum_amount and its currency go together", "missing")]
    if not money.is_currency(currency):
        return None, [FieldProblem(("minimum_amount_currency",), f"{currency!r} is not an ISO 4217 currency")]
    problems = []
    if coupon is not None and coupon.discount_type == AMOUNT_OFF and coupon.currency != currency.lower():
        problems.append(
            FieldProblem(
                ("minimum_amount_currency",), f"must be the coupon's currency, {(coupon.currency or '').upper()}"
            )
        )
    atom = to_minor_exact(amount, currency)
    if atom is None or atom <= 0:
        places = money.exponent(currency)
        problems.append(
            FieldProblem(("minimum_amount",), f"must be above 0 with at most {places} decimals in {currency}")
        )
    elif atom > money.max_amount_atom(currency):
        problems.append(
            FieldProblem(
                ("minimum_amount",),
                f"must be at most {money.format_money(money.max_amount_atom(currency), currency)}",
            )
        )
    return atom, problems


def _expiry_problems(expires_at: datetime | None, now: datetime) -> list[FieldProblem]:
    if expires_at is not None and expires_at <= now:
        return [FieldProblem(("expires_at",), "must be in the future")]
    return []


async def create_promotion_code(
    session: AsyncSession,
    account_id: str,
    *,
    coupon_id: str,
    code: str,
    active: bool = True,
    max_redemptions: int | None = None,
    expires_at: datetime | None = None,
    first_time_transaction: bool = False,
    minimum_amount: Decimal | None = None,
    minimum_amount_currency: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> PromotionCode:
    """A code for a coupon of the account. The code is unique in the account whatever its case: a duplicate, even
    one created at the same moment by another request, is ``promotion_code_taken`` (409). ``minimum_amount`` is in
    the major unit of its currency (10.50 USD), as the SDK sends it."""
    coupon = await session.scalar(select(Coupon).where(Coupon.id == coupon_id, Coupon.account_id == account_id))
    problems: list[FieldProblem] = []
    if coupon is None or coupon.status == DELETED:
        problems.append(FieldProblem(("coupon_id",), f"no coupon {coupon_id!r}"))
    if max_redemptions is not None and max_redemptions <= 0:
        problems.append(FieldProblem(("max_redemptions",), "must be greater than 0"))
    problems += _expiry_problems(expires_at, clock.now())
    minimum_amount_atom, minimum_problems = _minimum(coupon, minimum_amount, minimum_amount_currency)
    problems += minimum_problems
    if problems:
        raise InvalidFields(problems)
    promotion_code = PromotionCode(
        id=new_id("promo"),
        account_id=account_id,
        coupon_id=coupon_id,
        code=code.strip(),
        code_normalized=normalize_code(code),
        active=active,
        max_redemptions=max_redemptions,
        times_redeemed=0,
        expires_at=expires_at,
        first_time_transaction=first_time_transaction,
        minimum_amount_atom=minimum_amount_atom,
        minimum_amount_currency=minimum_amount_currency.lower() if minimum_amount_currency else None,
        code_metadata=dict(metadata or {}),
    )
    try:
        # A savepoint: losing the race for the code must leave the caller's transaction usable.
        async with session.begin_nested():
            session.add(promotion_code)
            await session.flush()
    except IntegrityError:
        raise Conflict(
            f"The promotion code {code.strip()!r} is already in use in this account.", code="promotion_code_taken"
        ) from None
    await record_event(session, account_id=account_id, type="promotion_code.created", obj=promotion_code)
    return promotion_code


async def update_promotion_code(
    session: AsyncSession, account_id: str, code_id: str, changes: Mapping[str, Any]
) -> PromotionCode:
    """Apply the fields present in ``changes`` (active, max_redemptions, expires_at, metadata)."""
    code = await get_promotion_code(session, account_id, code_id)
    before = snapshot(code)
    if "expires_at" in changes:
        if problems := _expiry_problems(changes["expires_at"], clock.now()):
            raise InvalidFields(problems)
        code.expires_at = changes["expires_at"]
    if "active" in changes:
        code.active = bool(changes["active"])
    if "metadata" in changes:
        code.code_metadata = merge_metadata(code.code_metadata, changes["metadata"])
    if "max_redemptions" in changes:
        await session.flush()
        await limits.set_redemption_limit(session, code, changes["max_redemptions"])
    await session.flush()
    await record_event(session, account_id=account_id, type="promotion_code.updated", obj=code, before=before)
    return code


async def delete_promotion_code(session: AsyncSession, account_id: str, code_id: str) -> PromotionCode:
    """The code stops working and disappears from the API; its text is free for a new code."""
    code = await get_promotion_code(session, account_id, code_id)
    code.active = False
    code.deleted_at = clock.now()
    code.code_normalized = None
    await session.flush()
    await record_event(session, account_id=account_id, type="promotion_code.deleted", obj=code)
    return code


def to_minor_exact(amount: Decimal, currency: str) -> int | None:
    """``amount`` in the currency's minor units, or None when it has more decimals than the currency has."""
    minor = money.to_minor(amount, currency)
    return minor if money.to_major(minor, currency) == amount else None
