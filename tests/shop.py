"""A small shop for checkout tests: a merchant with one-time, recurring, euro and archived prices."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.catalog import service as catalog
from checkstand.custom_fields import service as custom_fields
from checkstand.discounts import coupons, promotion_codes


@dataclass(frozen=True)
class Shop:
    account_id: str
    secret: str
    tshirt: str  # 1999 USD, one-time
    sticker: str  # 500 USD, one-time
    monthly: str  # 900 USD a month, 14-day trial
    yearly: str  # 9000 USD a year
    euro: str  # 1500 EUR, one-time
    archived: str  # 100 USD, archived
    free: str  # 0 USD, one-time
    tshirt_product: str
    coupon_all: str  # 100 % off
    percent_code: str  # promotion code text: 10 % off


@pytest.fixture
async def shop(session: AsyncSession) -> Shop:
    account = await accounts.create_account(session, name="Shop")
    key = await accounts.create_api_key(session, account)
    a = account.id
    shirt = await catalog.create_product(session, a, name="T-shirt")
    sticker = await catalog.create_product(session, a, name="Sticker")
    plan = await catalog.create_product(session, a, name="Pro plan")
    tshirt = await catalog.create_price(session, a, product_id=shirt.id, currency="usd", unit_amount_atom=1999)
    sticker_price = await catalog.create_price(session, a, product_id=sticker.id, currency="usd", unit_amount_atom=500)
    monthly = await catalog.create_price(
        session, a, product_id=plan.id, currency="usd", unit_amount_atom=900, recurring_interval="month", trial_days=14
    )
    yearly = await catalog.create_price(
        session, a, product_id=plan.id, currency="usd", unit_amount_atom=9000, recurring_interval="year"
    )
    euro = await catalog.create_price(session, a, product_id=shirt.id, currency="eur", unit_amount_atom=1500)
    archived = await catalog.create_price(session, a, product_id=sticker.id, currency="usd", unit_amount_atom=100)
    await catalog.update_price(session, a, archived.id, {"is_active": False})
    free = await catalog.create_price(session, a, product_id=sticker.id, currency="usd", unit_amount_atom=0)
    everything = await coupons.create_coupon(session, a, discount_type="percent_off", percent_off_bp=10_000)
    ten = await coupons.create_coupon(session, a, discount_type="percent_off", percent_off_bp=1_000)
    await promotion_codes.create_promotion_code(session, a, coupon_id=ten.id, code="TENOFF")
    await custom_fields.create_definition(
        session,
        a,
        field_key="gift_note",
        entity_type="checkout_session",
        data_type="text",
        display_name="Gift note",
        constraints={"max_length": 20},
    )
    await custom_fields.create_definition(
        session, a, field_key="seats", entity_type="subscription", data_type="number", display_name="Seats"
    )
    await session.commit()
    return Shop(
        account_id=a,
        secret=key.secret,
        tshirt=tshirt.id,
        sticker=sticker_price.id,
        monthly=monthly.id,
        yearly=yearly.id,
        euro=euro.id,
        archived=archived.id,
        free=free.id,
        tshirt_product=shirt.id,
        coupon_all=everything.id,
        percent_code="TENOFF",
    )


@dataclass(frozen=True)
class Plans:
    """A product family of three monthly USD tiers, and prices that must never be offered beside them."""

    account_id: str
    family_id: str
    basic: str  # 500 USD a month, rank 1
    pro: str  # 1500 USD a month, 14-day trial, rank 2 (the product's default price)
    team: str  # 4000 USD a month, rank 3
    pro_older: str  # 1800 USD a month: Pro's older price, not its default
    pro_yearly: str  # 15000 USD a year
    basic_euro: str  # 450 EUR a month
    outsider: str  # 700 USD a month, a product in no family
    team_product: str


@pytest.fixture
async def plans(session: AsyncSession, shop: Shop) -> Plans:
    a = shop.account_id

    async def monthly(product_id: str, amount: int, currency: str = "usd", trial_days: int = 0) -> str:
        price = await catalog.create_price(
            session,
            a,
            product_id=product_id,
            currency=currency,
            unit_amount_atom=amount,
            recurring_interval="month",
            trial_days=trial_days,
        )
        return price.id

    basic, pro, team, outsider = [
        await catalog.create_product(session, a, name=name) for name in ("Basic", "Pro", "Team", "Solo")
    ]
    basic_price = await monthly(basic.id, 500)
    pro_older = await monthly(pro.id, 1800)
    pro_price = await monthly(pro.id, 1500, trial_days=14)
    await catalog.update_product(session, a, pro.id, {"default_price_id": pro_price})
    team_price = await monthly(team.id, 4000)
    pro_yearly = await catalog.create_price(
        session, a, product_id=pro.id, currency="usd", unit_amount_atom=15000, recurring_interval="year"
    )
    basic_euro = await monthly(basic.id, 450, currency="eur")
    outsider_price = await monthly(outsider.id, 700)
    family = await catalog.create_family(session, a, name="Plans", hierarchy=[(basic.id, 1), (pro.id, 2), (team.id, 3)])
    await session.commit()
    return Plans(
        account_id=a,
        family_id=family.id,
        basic=basic_price,
        pro=pro_price,
        team=team_price,
        pro_older=pro_older,
        pro_yearly=pro_yearly.id,
        basic_euro=basic_euro,
        outsider=outsider_price,
        team_product=team.id,
    )
