"""The ``payment-kit`` SDK's coupons and promotion codes calls against a real server; the SDK parses every answer."""

from __future__ import annotations

import datetime as dt

import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.coupons.types import CreateCouponRequestDiscount_AmountOff
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError
from payment_kit.types.promotion_code_restrictions import PromotionCodeRestrictions


def test_coupons(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    percent = client.coupons.create_coupon(
        account_id,
        discount_type="percent_off",
        percent_off=20,
        name="Spring sale",
        duration="repeating",
        duration_in_months=3,
    )
    assert (percent.id[:7], percent.status, percent.percent_off, percent.duration_in_months) == (
        "coupon_",
        "active",
        20,
        3,
    )
    assert percent.created_at.tzinfo is not None
    amount = client.coupons.create_coupon(
        account_id,
        discount_type="amount_off",
        discount=CreateCouponRequestDiscount_AmountOff(amount_atom_off=1000, currency="usd"),
        max_redemptions=10,
        validity_period_days=30,
        metadata={"campaign": "spring"},
    )
    assert (amount.amount_atom_off, amount.currency, amount.max_redemptions, amount.redemption_count) == (
        1000,
        "usd",
        10,
        0,
    )
    assert amount.valid_until is not None
    # A fractional percentage (the SDK's hint says int, its JSON carries any number) still parses: the integer
    # field is null and the exact value rides alongside.
    fraction = client.coupons.create_coupon(account_id, discount_type="percent_off", percent_off=12.5)
    assert fraction.percent_off is None

    page = client.coupons.list_coupons(account_id, limit=2)
    assert ([c.id for c in page.items], page.total, page.has_more) == ([fraction.id, amount.id], 3, True)
    # A space can't occur in an id, so the search can't match one by chance.
    assert [c.id for c in client.coupons.list_coupons(account_id, search="spring sale").items] == [percent.id]

    updated = client.coupons.update_coupon(
        account_id, amount.id, name="Ten off", max_redemptions=20, valid_until=dt.datetime(2999, 1, 1, tzinfo=dt.UTC)
    )
    assert (updated.name, updated.max_redemptions, updated.valid_until) == (
        "Ten off",
        20,
        dt.datetime(2999, 1, 1, tzinfo=dt.UTC),
    )
    assert client.coupons.deactivate_coupon(account_id, amount.id).status == "inactive"
    assert [c.id for c in client.coupons.list_coupons(account_id, status="inactive").items] == [amount.id]
    assert client.coupons.activate_coupon(account_id, amount.id).status == "active"
    assert client.coupons.get_coupon(account_id, amount.id).name == "Ten off"

    note = client.coupons.create_coupon_note(account_id, amount.id, content="Newsletter, April")
    notes = client.coupons.get_coupon_notes(account_id, amount.id)
    assert ([n.id for n in notes.notes], notes.total_count) == ([note.id], 1)
    client.coupons.delete_coupon_note(account_id, amount.id, note.id)

    client.coupons.delete_coupon(account_id, percent.id)
    assert client.coupons.list_coupons(account_id).total == 2
    assert client.coupons.list_coupons(account_id, include_deleted=True).total == 3

    with pytest.raises(UnprocessableEntityError) as refused:
        client.coupons.create_coupon(account_id, discount_type="amount_off", amount_atom_off=500)
    assert [tuple(e.loc or ()) for e in refused.value.body.detail or []] == [("body", "currency")]


def test_promotion_codes(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    coupon = client.coupons.create_coupon(account_id, discount_type="percent_off", percent_off=10)
    code = client.promotion_codes.create_promotion_code(
        account_id,
        coupon_id=coupon.id,
        code="Welcome10",
        max_redemptions=2,
        expires_at=dt.datetime(2999, 1, 1, tzinfo=dt.UTC),
        restrictions=PromotionCodeRestrictions(
            first_time_transaction=True, minimum_amount=20.0, minimum_amount_currency="usd"
        ),
        metadata={"channel": "email"},
    )
    assert (code.id[:6], code.code, code.active, code.times_redeemed) == ("promo_", "Welcome10", True, 0)
    assert code.restrictions is not None
    assert code.restrictions["minimum_amount_atom"] == 2000
    other = client.promotion_codes.create_promotion_code(account_id, coupon_id=coupon.id, code="OTHER", active=False)

    listed = client.promotion_codes.list_promotion_codes(account_id, coupon_id=coupon.id)
    assert ([c.id for c in listed.items], listed.total) == ([other.id, code.id], 2)
    assert [c.id for c in client.promotion_codes.list_promotion_codes(account_id, active_only=True).items] == [code.id]
    assert client.promotion_codes.get_promotion_code(account_id, code.id).code == "Welcome10"
    assert client.promotion_codes.update_promotion_code(account_id, other.id, active=True).active is True

    small = client.promotion_codes.validate_promotion_code(
        account_id, code="welcome10", order_amount=19.99, order_currency="usd"
    )
    assert (small.valid, small.promotion_code.id if small.promotion_code else None) == (False, code.id)
    assert small.error
    fine = client.promotion_codes.validate_promotion_code(
        account_id, code="WELCOME10", order_amount=20, order_currency="usd"
    )
    assert fine.valid is True
    assert not client.promotion_codes.validate_promotion_code(account_id, code="NOPE").valid

    redeemed = client.promotion_codes.redeem_promotion_code(
        account_id, code="welcome10", order_amount=45.5, order_currency="usd"
    )
    assert (redeemed.id, redeemed.times_redeemed) == (code.id, 1)
    client.promotion_codes.redeem_promotion_code(account_id, code="welcome10", order_amount=45.5, order_currency="usd")
    # The SDK reads any 422 as a list of field errors, so a refused redemption is checked through validate.
    spent = client.promotion_codes.validate_promotion_code(
        account_id, code="welcome10", order_amount=45.5, order_currency="usd"
    )
    assert (spent.valid, spent.promotion_code.times_redeemed if spent.promotion_code else None) == (False, 2)
    assert client.coupons.get_coupon(account_id, coupon.id).redemption_count == 2

    with pytest.raises(ApiError) as taken:
        client.promotion_codes.create_promotion_code(account_id, coupon_id=coupon.id, code="WELCOME10")
    assert taken.value.status_code == 409
    client.promotion_codes.delete_promotion_code(account_id, other.id)
    assert client.promotion_codes.list_promotion_codes(account_id).total == 1
