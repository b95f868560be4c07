"""The ``paid-python`` SDK's customers calls against a real server, on both backends: create, list, read, update and
delete by id and by external id, the customer's state, refusals in Paid's error shape, and one customer under one id
in both dialects."""

from __future__ import annotations

import datetime as dt

import pytest
from paid import CustomerBillingAddressInput, Paid
from paid.core.api_error import ApiError
from paid.errors import BadRequestError, NotFoundError
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError as PaymentKitError
from payment_kit.types import CheckoutSessionLineItemCreate

from tests.compat.billing import card, merchant
from tests.payments.flow import GOOD_CARD
from tests.support import Server

ADDRESS = CustomerBillingAddressInput(
    line1="1 Analytical Way", city="London", zip_code="N1 7GU", country="gb", state=None
)


def paid_client(server: Server, secret: str) -> Paid:
    return Paid(base_url=f"{server.base_url}/api/v2", token=secret, timeout=60)


def refused_fields(error: ApiError) -> list[str]:
    body = error.body
    assert {"error", "code", "details"} <= set(body), body
    return [entry["field"] for entry in body["fields"]]


def test_customers_by_id_and_external_id_read_alike_in_both_dialects(server: Server) -> None:
    account_id, secret = server.new_account()
    client, paymentkit = paid_client(server, secret), PaymentKit(base_url=server.base_url, token=secret, timeout=30)
    made = client.customers.create_customer(
        name="Ada Lovelace",
        legal_name="Analytical Engines Ltd",
        email="ada@example.com",
        phone="+44 20 7946 0000",
        website="https://engines.example",
        external_id="crm-ada",
        billing_address=ADDRESS,
        vat_number="GB123456789",
        metadata={"segment": "founders"},
        default_currency="gbp",
    )
    assert made.id.startswith("cus_")
    assert (made.name, made.legal_name, made.website, made.vat_number) == (
        "Ada Lovelace",
        "Analytical Engines Ltd",
        "https://engines.example",
        "GB123456789",
    )
    assert (made.default_currency, made.status, made.creation_state, made.churn_date) == (
        "GBP",
        "active",
        "active",
        None,
    )
    assert made.billing_address is not None
    assert (made.billing_address.zip_code, made.billing_address.country) == ("N1 7GU", "GB")
    seen = paymentkit.customers.get_customer(account_id, made.id)
    assert (seen.first_name, seen.last_name, seen.business_name, seen.tax_ids, seen.currency, seen.external_id) == (
        "Ada",
        "Lovelace",
        "Analytical Engines Ltd",
        ["GB123456789"],
        "gbp",
        "crm-ada",
    )
    assert seen.address is not None
    assert seen.address.city == "London"

    bare = client.customers.create_customer(name="Grace")
    assert (bare.email, bare.phone, bare.website, bare.default_currency, bare.billing_address) == (
        "",
        "",
        "",
        "USD",
        None,
    )
    from_paymentkit = paymentkit.customers.create_customer(
        account_id, email="charles@example.com", first_name="Charles"
    )
    assert client.customers.get_customer_by_id(from_paymentkit.id).name == "Charles"

    churned_at = dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC)
    updated = client.customers.update_customer_by_id(
        made.id, name="Augusta Ada King", churn_date=churned_at, metadata={"segment": None, "tier": "gold"}
    )
    assert (updated.name, updated.status, updated.churn_date, updated.metadata) == (
        "Augusta Ada King",
        "churned",
        churned_at,
        {"tier": "gold"},
    )
    assert (updated.email, updated.legal_name) == ("ada@example.com", "Analytical Engines Ltd")
    moved = client.customers.update_customer_by_external_id("crm-ada", external_id="crm-ada-2", vat_number=None)
    assert (moved.id, moved.external_id, moved.vat_number) == (made.id, "crm-ada-2", None)
    assert client.customers.get_customer_by_external_id("crm-ada-2").id == made.id
    with pytest.raises(NotFoundError) as old:
        client.customers.get_customer_by_external_id("crm-ada")
    assert old.value.body["code"] == "customer_not_found"

    customers = client.customers
    page = customers.list_customers(limit=2)
    assert [c.id for c in page.data] == [from_paymentkit.id, bare.id]
    assert (page.pagination.total, page.pagination.has_more) == (3, True)
    assert [c.id for c in customers.list_customers(name="ADA KING").data] == [made.id]
    assert [c.id for c in customers.list_customers(name="engines").data] == [made.id]
    assert [c.id for c in customers.list_customers(status="churned").data] == [made.id]
    assert len(customers.list_customers(status="active").data) == 2
    assert [c.id for c in customers.list_customers(external_id="crm-ada-2").data] == [made.id]
    assert customers.list_customers(creation_state="draft").pagination.total == 0
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert customers.list_customers(created_at_from=today).pagination.total == 3
    assert customers.list_customers(created_at_to="2020-01-01").pagination.total == 0
    with pytest.raises(BadRequestError) as bad_date:
        customers.list_customers(created_at_from="yesterday")
    assert refused_fields(bad_date.value) == ["createdAtFrom"]


def test_customer_refusals_name_the_field_and_store_nothing(paid: tuple[Paid, str]) -> None:
    client, _ = paid
    customers = client.customers
    kept = customers.create_customer(name="Kept", external_id="kept")
    with pytest.raises(ApiError) as duplicate:
        customers.create_customer(name="Copy", external_id="kept")
    assert (duplicate.value.status_code, duplicate.value.body["code"]) == (409, "customer_external_id_taken")
    with pytest.raises(BadRequestError) as bad:
        customers.create_customer(
            name="Bad",
            email="not an email",
            billing_address=CustomerBillingAddressInput(country="Narnia"),
            default_currency="ZZZ",
            metadata={"n": 1},
        )
    assert refused_fields(bad.value) == ["email", "billingAddress.country", "metadata.n", "defaultCurrency"]
    with pytest.raises(BadRequestError) as draft:
        customers.create_customer(name="Draft", creation_state="draft")
    assert refused_fields(draft.value) == ["creationState"]
    with pytest.raises(BadRequestError) as nameless:
        customers.update_customer_by_id(kept.id, name=None)
    assert refused_fields(nameless.value) == ["name"]
    with pytest.raises(BadRequestError) as long_word:
        customers.update_customer_by_id(kept.id, name="x" * 101)
    assert refused_fields(long_word.value) == ["name"]
    assert customers.get_customer_by_id(kept.id).name == "Kept"
    assert customers.list_customers().pagination.total == 1
    for call in (customers.get_customer_by_id, customers.get_customer_state_by_id, customers.delete_customer_by_id):
        with pytest.raises(NotFoundError) as unknown:
            call("cus_nope")
        assert unknown.value.body["code"] == "customer_not_found"
        assert unknown.value.body["error"]
    with pytest.raises(NotFoundError):
        customers.list_customer_aliases(kept.id)


def test_delete_is_refused_while_a_customer_has_a_live_subscription_or_an_open_checkout(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    client = paid_client(server, shop.secret)
    subscribed = shop.subscribe(card(GOOD_CARD))
    with pytest.raises(ApiError) as live:
        client.customers.delete_customer_by_id(subscribed.customer_id)
    assert (live.value.status_code, live.value.body["code"]) == (409, "customer_has_live_subscriptions")

    shopper = client.customers.create_customer(name="Window Shopper", external_id="shopper")
    price_id = shop.client.prices.list_prices(shop.account_id).items[0].id
    checkout = shop.client.checkout_sessions.create_checkout_session(
        shop.account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=price_id)],
        customer_id=shopper.id,
    )
    with pytest.raises(ApiError) as open_checkout:
        client.customers.delete_customer_by_external_id("shopper")
    assert (open_checkout.value.status_code, open_checkout.value.body["code"]) == (409, "customer_has_open_checkouts")
    assert client.customers.get_customer_by_id(shopper.id).external_id == "shopper"

    state = client.customers.get_customer_state_by_external_id("shopper")
    [link] = state.checkout_links
    assert (link.id, link.status, link.single_use) == ("chk_" + checkout.id.removeprefix("cs_"), "active", True)
    assert link.url.endswith(checkout.secure_token)
    assert link.allowed_currencies == ["USD"]
    assert state.orders == []
    assert state.seats.total == 0
    assert state.credits.balances == []

    gone = client.customers.create_customer(name="Gone", external_id="gone", email="gone@example.com")
    assert client.customers.delete_customer_by_id(gone.id) is not None
    with pytest.raises(NotFoundError):
        client.customers.get_customer_by_id(gone.id)
    with pytest.raises(PaymentKitError) as in_paymentkit:
        shop.client.customers.get_customer(shop.account_id, gone.id)
    assert in_paymentkit.value.status_code == 404
    assert gone.id not in [c.id for c in client.customers.list_customers(limit=100).data]
    again = client.customers.create_customer(name="Back", external_id="gone")
    assert again.id != gone.id
    assert client.customers.get_customer_by_external_id("gone").id == again.id
    assert client.customers.delete_customer_by_external_id("gone") is not None
    with pytest.raises(NotFoundError):
        client.customers.delete_customer_by_external_id("gone")


def test_a_customers_state_lists_its_orders_in_effect(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    client = paid_client(server, shop.secret)
    subscribed = shop.subscribe(card(GOOD_CARD))
    client.customers.update_customer_by_id(subscribed.customer_id, external_id="crm-1", name="Ada")
    state = client.customers.get_customer_state_by_id(subscribed.customer_id)
    assert (state.customer.id, state.customer.name, state.customer.external_id) == (
        subscribed.customer_id,
        "Ada",
        "crm-1",
    )
    [order] = state.orders
    assert order.id == "ord_" + subscribed.subscription_id.removeprefix("sub_")
    assert (order.state, order.currency, order.name, order.end_date) == ("active", "USD", "Pro", None)
    assert state.default_currency == "USD"
    assert state.timestamp.year == 2028
    assert client.customers.get_customer_state_by_external_id("crm-1").orders[0].id == order.id

    shop.client.subscriptions.set_cancel_at_period_end(shop.account_id, subscribed.subscription_id, value=True)
    [ending] = client.customers.get_customer_state_by_id(subscribed.customer_id).orders
    assert ending.end_date is not None
    assert ending.effective_until == ending.end_date
