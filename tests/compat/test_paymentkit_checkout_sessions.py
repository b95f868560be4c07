"""The ``payment-kit`` SDK's checkout-session calls against a real server: every response must parse."""

from __future__ import annotations

import httpx
import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.types import CardCheckoutSettings, CascadeLineItem, CascadeTier, CheckoutSessionLineItemCreate

from tests.conftest import bearer
from tests.support import Server


def _catalog(server: Server, account_id: str, secret: str) -> dict[str, str]:
    """Prices made over the wire (the catalog SDK calls have their own compat tests)."""
    api = f"{server.base_url}/api/{account_id}"
    with httpx.Client(headers=bearer(secret), timeout=30) as http:
        product = http.post(f"{api}/products/", json={"name": "Pro"}).json()["id"]

        def price(amount: int, **extra: object) -> str:
            body = {"product_id": product, "currency": "usd", "unit_amount_atom": amount, **extra}
            return str(http.post(f"{api}/prices/", json=body).json()["id"])

        coupon = http.post(f"{api}/coupons/", json={"discount_type": "percent_off", "percent_off": 100}).json()["id"]
        http.post(
            f"{api}/custom-field-definitions/",
            json={"field_key": "source", "entity_type": "checkout_session", "data_type": "text", "display_name": "S"},
        )
        return {
            "monthly": price(1500, recurring_interval="month", pricing_type="recurring"),
            "addon": price(300),
            "cheap": price(900, recurring_interval="month", pricing_type="recurring"),
            "coupon": str(coupon),
        }


@pytest.fixture
def shop(paymentkit: tuple[PaymentKit, str], server: Server) -> tuple[PaymentKit, str, dict[str, str]]:
    client, account_id = paymentkit
    secret = client._client_wrapper._get_token()
    return client, account_id, _catalog(server, account_id, secret)


def test_full_lifecycle_through_the_sdk(shop: tuple[PaymentKit, str, dict[str, str]]) -> None:
    client, account_id, prices = shop
    sessions = client.checkout_sessions
    created = sessions.create_checkout_session(
        account_id,
        success_url="https://shop.example/ok?cs={CHECKOUT_SESSION_ID}",
        return_url="https://shop.example/cart",
        expires_in_hours=48,
        line_items=[CheckoutSessionLineItemCreate(price_id=prices["monthly"], quantity=2, description="Seats")],
        card_checkout_settings=CardCheckoutSettings(three_ds_mode="prefer_non_3ds"),
        custom_fields={"source": "newsletter"},
        cascade_line_items=[CascadeTier(line_items=[CascadeLineItem(price_id=prices["cheap"], quantity=2)])],
        request_options={"additional_body_parameters": {"metadata": {"order": "42"}}},
    )
    assert created.state == "open"
    assert created.expires_in_hours == 48
    assert created.cascade_status is not None
    assert created.cascade_status.tier_amounts == [3000, 1800]
    assert created.line_items is not None
    assert created.line_items[0].quantity == 2
    assert created.custom_fields is None

    fetched = sessions.get_checkout_session(
        account_id, created.id, request_options={"additional_query_parameters": {"expand": "custom_fields"}}
    )
    assert fetched.custom_fields == {"source": "newsletter"}

    line = sessions.add_line_item(account_id, created.id, price_id=prices["addon"], quantity=1)
    assert line.price_id == prices["addon"]
    patched = sessions.update_checkout_session(account_id, created.id, processor_route_id=None)
    assert patched.id == created.id

    with pytest.raises(ApiError) as refused:
        sessions.complete_checkout_session(account_id, created.id)
    assert refused.value.status_code == 422

    free = sessions.create_checkout_session(
        account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=prices["addon"])],
        coupon_id=prices["coupon"],
    )
    done = sessions.complete_checkout_session(account_id, free.id)
    assert done.completed is True
    assert done.state == "success"

    listed = sessions.list_checkout_sessions(account_id, limit=1, filter='{"state":"open"}')
    assert listed.total == 1
    assert listed.has_more is False
    assert [s.id for s in listed.items] == [created.id]
    by_amount = sessions.list_checkout_sessions(account_id, sort_by="created_at", sort_order=1)
    assert [s.id for s in by_amount.items] == [created.id, free.id]


def test_bad_input_is_a_parsed_validation_error(shop: tuple[PaymentKit, str, dict[str, str]]) -> None:
    from payment_kit.errors import UnprocessableEntityError

    client, account_id, prices = shop
    with pytest.raises(UnprocessableEntityError) as raised:
        client.checkout_sessions.create_checkout_session(
            account_id,
            success_url="javascript:alert(1)",
            return_url="https://shop.example/cart",
            line_items=[CheckoutSessionLineItemCreate(price_id=prices["addon"], quantity=0)],
        )
    locs = [problem.loc for problem in raised.value.body.detail or []]
    assert ["body", "line_items", 0, "quantity"] in locs
