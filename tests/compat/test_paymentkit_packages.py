"""Packages through the ``payment-kit`` SDK against a real server: every method of its ``packages`` client, each
answer parsed as the SDK's types, the refusals a payments engineer expects located at their field, and a checkout
that sells a package (Checkstand's extra on a line item) paid through the public checkout API."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError
from payment_kit.types import PackageItemRequest

from tests.compat.billing import card, merchant
from tests.conftest import bearer
from tests.payments import flow
from tests.support import Server


@dataclass(frozen=True)
class Plan:
    product_id: str
    monthly_id: str
    annual_id: str


def _plan(client: PaymentKit, account_id: str, name: str, monthly: int, annual: int) -> Plan:
    product = client.products.create_product(account_id, name=name)
    prices = [
        client.prices.create_price(
            account_id, product_id=product.id, currency="usd", unit_amount_atom=amount, recurring_interval=interval
        )
        for amount, interval in ((monthly, "month"), (annual, "year"))
    ]
    return Plan(product.id, prices[0].id, prices[1].id)


def _item(plan: Plan, quantity: int | None = None) -> PackageItemRequest:
    return PackageItemRequest(
        product_id=plan.product_id, monthly_price_id=plan.monthly_id, annual_price_id=plan.annual_id, quantity=quantity
    )


def _locs(refused: pytest.ExceptionInfo[ApiError]) -> list[list[str | int]]:
    assert isinstance(refused.value, UnprocessableEntityError)
    return [list(problem.loc) for problem in refused.value.body.detail]


def test_every_packages_method_through_the_sdk(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    seats = _plan(client, account_id, "Seats", 1500, 15000)
    support = _plan(client, account_id, "Support", 4900, 49000)

    created = client.packages.create_package(
        account_id,
        name="Team",
        description="Seats and support",
        allow_annual=True,
        default_billing_cycle="annual",
        items=[_item(seats, 3), _item(support)],
        metadata={"tier": "team"},
    )
    assert created.id.startswith("pkg_")
    assert (created.allow_monthly, created.allow_annual, created.default_billing_cycle) == (True, True, "annual")
    assert created.items is not None
    assert [(i.product_id, i.monthly_price_id, i.quantity) for i in created.items] == [
        (seats.product_id, seats.monthly_id, 3),
        (support.product_id, support.monthly_id, 1),
    ]
    assert {item.package_id for item in created.items} == {created.id}
    assert (created.model_extra or {})["metadata"] == {"tier": "team"}
    assert client.packages.get_package(account_id, created.id) == created

    monthly = client.packages.calculate_package_total(account_id, created.id, billing_cycle="monthly")
    assert (monthly.billing_cycle, monthly.currency, monthly.total_amount_atom) == ("monthly", "usd", 9400)
    assert monthly.items == [
        {"product_id": seats.product_id, "price_id": seats.monthly_id, "quantity": 3, "amount_atom": 4500},
        {"product_id": support.product_id, "price_id": support.monthly_id, "quantity": 1, "amount_atom": 4900},
    ]
    annual = client.packages.calculate_package_total(account_id, created.id, billing_cycle="annual")
    assert annual.total_amount_atom == 3 * 15000 + 49000
    assert [line["price_id"] for line in annual.items or []] == [seats.annual_id, support.annual_id]

    solo = client.packages.create_package(account_id, name="Solo", items=[_item(seats)])
    assert (solo.allow_annual, solo.default_billing_cycle) == (False, "monthly")
    listed = client.packages.list_packages(account_id)
    assert ([p.id for p in listed.items], listed.total, listed.has_more) == ([solo.id, created.id], 2, False)
    paged = client.packages.list_packages(account_id, limit=1, offset=1, sort_by="name", sort_order=1)
    assert ([p.name for p in paged.items], paged.has_more) == (["Team"], False)
    assert [p.id for p in client.packages.list_packages(account_id, search="team").items] == [created.id]
    annual_ones = client.packages.list_packages(account_id, filter=json.dumps({"allow_annual": True}))
    assert [p.id for p in annual_ones.items] == [created.id]

    updated = client.packages.update_package(
        account_id, created.id, name="Team plan", allow_monthly=False, items=[_item(support, 2)]
    )
    assert (updated.name, updated.description, updated.allow_monthly, updated.default_billing_cycle) == (
        "Team plan",
        "Seats and support",
        False,
        "annual",
    )
    assert [(i.product_id, i.quantity) for i in updated.items or []] == [(support.product_id, 2)]
    recalculated = client.packages.calculate_package_total(account_id, created.id, billing_cycle="annual")
    assert recalculated.total_amount_atom == 2 * 49000

    client.packages.delete_package(account_id, created.id)
    with pytest.raises(ApiError) as gone:
        client.packages.get_package(account_id, created.id)
    assert gone.value.status_code == 404
    archived = client.packages.get_package(account_id, created.id, include_deleted=True)
    assert (archived.is_active, archived.deleted_at is not None) == (False, True)
    assert [p.id for p in client.packages.list_packages(account_id).items] == [solo.id]
    assert client.packages.list_packages(account_id, include_deleted=True).total == 2


def test_refusals_name_their_field(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    seats = _plan(client, account_id, "Seats", 1500, 15000)
    other_product = client.products.create_product(account_id, name="Other")

    swapped = PackageItemRequest(product_id=seats.product_id, monthly_price_id=seats.annual_id)
    with pytest.raises(ApiError) as refused:
        client.packages.create_package(account_id, name="Swapped", items=[swapped])
    assert _locs(refused) == [["body", "items", 0, "monthly_price_id"]]

    not_its_own = PackageItemRequest(product_id=other_product.id, monthly_price_id=seats.monthly_id, quantity=0)
    with pytest.raises(ApiError) as refused:
        client.packages.create_package(account_id, name="Mixed", items=[not_its_own])
    assert _locs(refused) == [["body", "items", 0, "quantity"]]
    with pytest.raises(ApiError) as refused:
        client.packages.create_package(
            account_id,
            name="Mixed",
            items=[PackageItemRequest(product_id=other_product.id, monthly_price_id=seats.monthly_id)],
        )
    assert _locs(refused) == [["body", "items", 0, "monthly_price_id"]]

    with pytest.raises(ApiError) as refused:
        client.packages.create_package(
            account_id,
            name="Annual",
            allow_annual=True,
            items=[PackageItemRequest(product_id=seats.product_id, monthly_price_id=seats.monthly_id)],
        )
    assert _locs(refused) == [["body", "items", 0, "annual_price_id"]]
    with pytest.raises(ApiError) as refused:
        client.packages.create_package(account_id, name="Never", allow_monthly=False, items=[_item(seats)])
    assert _locs(refused) == [["body", "allow_monthly"]]
    with pytest.raises(ApiError) as refused:
        client.packages.create_package(account_id, name="Empty")
    assert _locs(refused) == [["body", "items"]]

    monthly_only = client.packages.create_package(account_id, name="Monthly", items=[_item(seats)])
    with pytest.raises(ApiError) as refused:
        client.packages.calculate_package_total(account_id, monthly_only.id, billing_cycle="annual")
    assert _locs(refused) == [["body", "billing_cycle"]]
    with pytest.raises(ApiError) as refused:
        client.packages.update_package(account_id, monthly_only.id, default_billing_cycle="annual")
    assert _locs(refused) == [["body", "default_billing_cycle"]]
    assert client.packages.get_package(account_id, monthly_only.id).default_billing_cycle == "monthly"

    other_account_id, other_secret = server.new_account("Another shop")
    stranger = PaymentKit(base_url=server.base_url, token=other_secret, timeout=30)
    for call in (
        lambda: client.packages.get_package(account_id, "pkg_nope"),
        lambda: stranger.packages.get_package(other_account_id, monthly_only.id),
    ):
        with pytest.raises(ApiError) as missing:
            call()
        assert missing.value.status_code == 404
    with pytest.raises(ApiError) as missing:
        client.packages.calculate_package_total(account_id, "pkg_nope", billing_cycle="monthly")
    assert missing.value.status_code == 404


def test_a_checkout_of_a_package_is_paid_through_the_public_api(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    client, account_id = shop.client, shop.account_id
    seats = _plan(client, account_id, "Seats", 1500, 15000)
    support = _plan(client, account_id, "Support", 4900, 49000)
    package = client.packages.create_package(
        account_id, name="Team", allow_annual=True, items=[_item(seats, 3), _item(support)]
    )

    session = client.checkout_sessions.create_checkout_session(
        account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        request_options={
            "additional_body_parameters": {"line_items": [{"package_id": package.id, "billing_cycle": "annual"}]}
        },
    )
    assert [(line.price_id, line.quantity) for line in session.line_items or []] == [
        (seats.annual_id, 3),
        (support.annual_id, 1),
    ]
    assert {(line.model_extra or {})["package_id"] for line in session.line_items or []} == {package.id}
    assert (session.model_extra or {})["amount_total_atom"] == 3 * 15000 + 49000

    confirmed = httpx.post(
        f"{server.base_url}/api/public/checkout/{session.secure_token}/confirm",
        json={"payment_method": card(flow.GOOD_CARD), "customer": {"name": "Ada", "email": "ada@example.com"}},
        timeout=60,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "succeeded", confirmed.text
    assert shop.charged() == [94000]
    paid = client.checkout_sessions.get_checkout_session(account_id, session.id)
    assert paid.customer_id is not None
    [subscription] = client.subscriptions.list_subscriptions_by_customer(account_id, paid.customer_id)
    assert sorted((item.price.id, item.quantity) for item in subscription.items) == sorted(
        [(seats.annual_id, 3), (support.annual_id, 1)]
    )


def test_a_package_line_that_cannot_be_sold_is_refused_at_the_line(server: Server) -> None:
    shop = merchant(server)
    client, account_id = shop.client, shop.account_id
    seats = _plan(client, account_id, "Seats", 1500, 15000)
    package = client.packages.create_package(account_id, name="Seats", items=[_item(seats, 2)])
    inactive = client.packages.create_package(account_id, name="Paused", is_active=False, items=[_item(seats)])

    def checkout(line_items: list[dict[str, object]]) -> list[list[str | int]]:
        with pytest.raises(ApiError) as refused:
            client.checkout_sessions.create_checkout_session(
                account_id,
                success_url="https://shop.example/ok",
                return_url="https://shop.example/cart",
                request_options={"additional_body_parameters": {"line_items": line_items}},
            )
        return _locs(refused)

    assert checkout([{"package_id": package.id, "billing_cycle": "annual"}]) == [
        ["body", "line_items", 0, "billing_cycle"]
    ]
    assert checkout([{"package_id": inactive.id}]) == [["body", "line_items", 0, "package_id"]]
    assert checkout([{"price_id": seats.monthly_id}, {"package_id": "pkg_nope"}]) == [
        ["body", "line_items", 1, "package_id"]
    ]
    assert checkout([{"package_id": package.id, "quantity": 999_999}]) == [["body", "line_items", 0, "quantity"]]
    # The SDK has no call to archive a price: the server's own.
    archived = httpx.patch(
        f"{server.base_url}/api/{account_id}/prices/{seats.monthly_id}",
        json={"is_active": False},
        headers=bearer(shop.secret),
        timeout=30,
    )
    assert archived.status_code == 200, archived.text
    assert checkout([{"price_id": seats.annual_id}, {"package_id": package.id}]) == [
        ["body", "line_items", 1, "package_id"]
    ]
    assert checkout([{"package_id": package.id, "price_id": seats.monthly_id}]) == [["body", "line_items", 0]]
