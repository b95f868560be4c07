"""Tiered prices through the ``payment-kit`` SDK against a real server: created with the SDK's types, rendered as
its ``Price`` names them, and sold by a checkout session at the tiers' exact amount."""

from __future__ import annotations

import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.types import CheckoutSessionLineItemCreate, TierAmountAtom, TierAmountInfo

TIERS = [
    TierAmountAtom(units_upto=10, unit_amount_atom=1000),
    TierAmountAtom(units_upto=20, unit_amount_atom=800),
    TierAmountAtom(units_upto=None, unit_amount_atom=500, flat_amount_atom=250),
]


def test_a_graduated_price_bought_at_25_costs_each_tiers_units(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    product = client.products.create_product(account_id, name="API calls")
    price = client.prices.create_price(
        account_id,
        product_id=product.id,
        currency="usd",
        billing_scheme="tiered",
        tier_amount_info=TierAmountInfo(mode="graduated", amount_atoms=TIERS),
    )
    assert price.billing_scheme == "tiered"
    assert price.tier_amount_info is not None
    assert price.tier_amount_info.mode == "graduated"
    assert list(price.tier_amount_info.amount_atoms) == TIERS
    assert client.prices.get_price(account_id, price.id).tier_amount_info == price.tier_amount_info

    session = client.checkout_sessions.create_checkout_session(
        account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=price.id, quantity=25)],
    )
    graduated = 10 * 1000 + 10 * 800 + 5 * 500 + 250
    assert (session.model_extra or {})["amount_subtotal_atom"] == graduated
    assert (session.model_extra or {})["amount_total_atom"] == graduated


def test_a_package_price_bills_started_packages_whole(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    product = client.products.create_product(account_id, name="Messages")
    price = client.prices.create_price(
        account_id, product_id=product.id, currency="usd", unit_amount_atom=300, quantity_divisor=1000
    )
    assert price.quantity_divisor == 1000
    session = client.checkout_sessions.create_checkout_session(
        account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=price.id, quantity=1001)],
    )
    assert (session.model_extra or {})["amount_total_atom"] == 2 * 300


@pytest.mark.parametrize(
    ("tiers", "where"),
    [
        (
            [TierAmountAtom(units_upto=10, unit_amount_atom=1)],
            ["body", "tier_amount_info", "amount_atoms", 0, "units_upto"],
        ),
        (
            [TierAmountAtom(units_upto=None, unit_amount_atom=1), TierAmountAtom(units_upto=None, unit_amount_atom=1)],
            ["body", "tier_amount_info", "amount_atoms", 0, "units_upto"],
        ),
    ],
)
def test_tiers_without_a_last_unbounded_one_are_refused(
    paymentkit: tuple[PaymentKit, str], tiers: list[TierAmountAtom], where: list[object]
) -> None:
    client, account_id = paymentkit
    product = client.products.create_product(account_id, name="Seats")
    with pytest.raises(ApiError) as refused:
        client.prices.create_price(
            account_id,
            product_id=product.id,
            currency="usd",
            billing_scheme="tiered",
            tier_amount_info=TierAmountInfo(mode="volume", amount_atoms=tiers),
        )
    assert refused.value.status_code == 422
    assert [list(problem.loc) for problem in refused.value.body.detail] == [where]
