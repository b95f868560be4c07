"""Paid's checkouts through ``paid-python`` against a real server, on both backends: the issue's examples (one
product; several products where one has plans; an upgrade of an existing customer, prorated; an anonymous checkout
that collects name and email; ``expiresAt``; metadata returned and kept off the page), each paid through the public
checkout API as the hosted page pays it, then read back; every create parameter refused in Paid's error shape with
nothing stored; the status filter, archiving and reusable links.

The catalog is written into the server's database through the services (Paid's own catalog calls are another
resource's); the clock of a customer on a test clock is moved over the PaymentKit API.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import httpx
import pytest
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors import BadRequestError, NotFoundError
from paid.types import CheckoutCustomCardInput, CheckoutDetails, CheckoutPlanInput, CheckoutProductInput
from payment_kit import PaymentKit
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.core.money import divide_half_even
from tests.compat.billing import Merchant
from tests.payments import flow
from tests.support import Server, connect_url

T = TypeVar("T")

SUCCESS_URL: Final = "https://shop.example/thanks?checkout={CHECKOUT_ID}"
APRIL: Final = datetime(2028, 4, 1, 10, 0, tzinfo=UTC)
MAY: Final = datetime(2028, 5, 1, 10, 0, tzinfo=UTC)
BASIC: Final = 1000
PRO: Final = 3000
SETUP: Final = 5000
ADDRESS: Final = {"line1": "12 Analytical Row", "city": "London", "zip_code": "N1 9GU", "country": "GB"}


@dataclass(frozen=True)
class Shop:
    """A merchant with both SDKs on one key (Paid's for checkouts, PaymentKit's for clocks and customers), a
    simulator connection, and a catalog: Setup (one-time, its default price), Plan (Basic and Pro monthly, Basic its
    default) and Bare (no default price)."""

    server: Server
    paid: Paid
    merchant: Merchant
    account_id: str
    setup_product: str
    plan_product: str
    basic: str
    pro: str
    pro_eur: str
    archived: str
    bare_product: str
    bare_price: str

    def arrange(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return in_database(self.server, work)


def in_database(server: Server, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def transaction() -> T:
        database = connect_url(server.database_url)
        try:
            async with database.writing() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await database.dispose()

    return asyncio.run(transaction())


@pytest.fixture
def shop(server: Server) -> Shop:
    account_id, secret = server.new_account()

    async def populate(session: AsyncSession) -> dict[str, str]:
        made: dict[str, str] = {}
        setup = await catalog.create_product(session, account_id, name="Setup")
        setup_price = await catalog.create_price(
            session, account_id, product_id=setup.id, currency="usd", unit_amount_atom=SETUP
        )
        await catalog.update_product(session, account_id, setup.id, {"default_price_id": setup_price.id})
        plan = await catalog.create_product(session, account_id, name="Plan")
        for name, amount, currency in [("Basic", BASIC, "usd"), ("Pro", PRO, "usd"), ("Pro EUR", PRO, "eur")]:
            price = await catalog.create_price(
                session,
                account_id,
                product_id=plan.id,
                currency=currency,
                unit_amount_atom=amount,
                recurring_interval="month",
                name=name,
            )
            made[name] = price.id
        archived = await catalog.create_price(
            session, account_id, product_id=plan.id, currency="usd", unit_amount_atom=9, recurring_interval="month"
        )
        await catalog.update_price(session, account_id, archived.id, {"is_active": False})
        await catalog.update_product(session, account_id, plan.id, {"default_price_id": made["Basic"]})
        bare = await catalog.create_product(session, account_id, name="Bare")
        bare_price = await catalog.create_price(
            session, account_id, product_id=bare.id, currency="usd", unit_amount_atom=700
        )
        await session.commit()
        await flow.simulator(session, account_id, currencies=["usd", "eur"])
        return {
            "setup": setup.id,
            "plan": plan.id,
            "archived": archived.id,
            "bare": bare.id,
            "bare_price": bare_price.id,
            **made,
        }

    made = in_database(server, populate)
    return Shop(
        server=server,
        paid=Paid(base_url=f"{server.base_url}/api/v2", token=secret, timeout=60),
        merchant=Merchant(server, PaymentKit(base_url=server.base_url, token=secret, timeout=60), account_id, secret),
        account_id=account_id,
        setup_product=made["setup"],
        plan_product=made["plan"],
        basic=made["Basic"],
        pro=made["Pro"],
        pro_eur=made["Pro EUR"],
        archived=made["archived"],
        bare_product=made["bare"],
        bare_price=made["bare_price"],
    )


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def public(shop: Shop, url: str) -> dict[str, Any]:
    response = httpx.get(f"{shop.server.base_url}/api/public/checkout/{token_of(url)}", timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def confirm(shop: Shop, url: str, customer: dict[str, Any] | None = None) -> httpx.Response:
    body: dict[str, Any] = {
        "payment_method": {"card": {"number": flow.GOOD_CARD, "exp_month": 12, "exp_year": 2099, "cvc": "123"}}
    }
    if customer is not None:
        body["customer"] = customer
    return httpx.post(f"{shop.server.base_url}/api/public/checkout/{token_of(url)}/confirm", json=body, timeout=60)


def pay(shop: Shop, url: str, customer: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pay the checkout with a good card as its page would; answers the attempt."""
    confirmed = confirm(shop, url, customer)
    assert confirmed.status_code == 200, confirmed.text
    attempt: dict[str, Any] = confirmed.json()
    assert attempt["state"] == "succeeded", attempt
    return attempt


ADA: Final = {"name": "Ada Lovelace", "email": "ada@example.com", "address": ADDRESS}


def product(product_id: str, *plans: str) -> CheckoutProductInput:
    return CheckoutProductInput(id=product_id, plans=[CheckoutPlanInput(id=plan) for plan in plans] or None)


def order_of(details: CheckoutDetails) -> str:
    assert details.order_id is not None
    return details.order_id


# --- The examples -------------------------------------------------------------------------------------------


def test_one_product_is_sold_at_its_default_price_and_the_success_url_names_the_checkout(shop: Shop) -> None:
    checkout = shop.paid.checkouts.create_checkout(products=[product(shop.setup_product)], success_url=SUCCESS_URL)

    assert checkout.id.startswith("chk_")
    assert checkout.status == "active"
    assert [(item.id, item.plans) for item in checkout.products] == [(shop.setup_product, None)]
    assert (checkout.collect_address, checkout.collect_phone, checkout.single_use) == (True, False, True)
    assert checkout.allowed_currencies == ["USD"]
    assert checkout.success_url == SUCCESS_URL
    assert public(shop, checkout.url)["amount_total_atom"] == SETUP

    attempt = pay(shop, checkout.url, ADA)

    assert attempt["redirect_url"] == f"https://shop.example/thanks?checkout={checkout.id}"
    details = shop.paid.checkouts.get_checkout(checkout.id)
    assert details.status == "completed"
    assert details.selected_product is not None
    assert details.selected_product.id == shop.setup_product
    assert details.selected_product.plan is not None
    # One-time only: the order is the purchase itself, named after the checkout.
    assert details.order_id == "ord_" + checkout.id.removeprefix("chk_")
    assert details.customer_id is not None
    customer = shop.merchant.client.customers.get_customer(shop.account_id, details.customer_id)
    assert (customer.name, customer.email) == ("Ada Lovelace", "ada@example.com")
    assert customer.address is not None
    assert (customer.address.line1, customer.address.country) == (ADDRESS["line1"], "GB")


def test_several_products_where_one_has_plans_the_customer_picks_a_plan_and_pays_the_sum(shop: Shop) -> None:
    checkout = shop.paid.checkouts.create_checkout(
        products=[
            product(shop.setup_product),
            CheckoutProductInput(
                id=shop.plan_product,
                plans=[
                    CheckoutPlanInput(id=shop.basic, features=["1 seat"]),
                    CheckoutPlanInput(id=shop.pro, features=["10 seats", "Priority support"]),
                ],
            ),
        ],
        success_url=SUCCESS_URL,
        collect_address=False,
    )
    assert [plan.id for plan in checkout.products[1].plans or []] == [shop.basic, shop.pro]
    view = public(shop, checkout.url)
    assert view["amount_total_atom"] == SETUP + BASIC
    [choice] = view["offer"]["plan_choices"]
    assert choice["line_position"] == 1
    assert [(o["index"], o["price_name"], o["features"], o["selected"]) for o in choice["options"]] == [
        (0, "Basic", ["1 seat"], True),
        (1, "Pro", ["10 seats", "Priority support"], False),
    ]

    picked = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{token_of(checkout.url)}/selection",
        json={"plans": [{"line_position": 1, "plan_index": 1}]},
        timeout=30,
    )
    assert picked.status_code == 200, picked.text
    assert picked.json()["amount_total_atom"] == SETUP + PRO
    pay(shop, checkout.url, {"name": "Ada Lovelace", "email": "ada@example.com"})

    details = shop.paid.checkouts.get_checkout(checkout.id)
    assert details.status == "completed"
    assert details.selected_product is not None
    assert details.selected_product.id == shop.plan_product
    assert details.selected_product.plan is not None
    assert (details.selected_product.plan.id, details.selected_product.plan.name) == (shop.pro, "Pro")
    [subscription] = shop.merchant.client.subscriptions.list_subscriptions(shop.account_id).items
    assert order_of(details) == "ord_" + subscription.id.removeprefix("sub_")
    assert shop.merchant.charged() == [SETUP + PRO]


def prorated(amount_atom: int, at: datetime) -> int:
    """``amount_atom`` for the rest of April from ``at``."""
    return divide_half_even(amount_atom * int((MAY - at).total_seconds()), int((MAY - APRIL).total_seconds()))


def test_a_customer_who_holds_a_plan_gets_the_upgrade_prorated_through_the_same_create_call(shop: Shop) -> None:
    clock_id = shop.merchant._http("POST", "/test-clocks/", {"name": "April", "frozen_time": APRIL.isoformat()})["id"]
    customer = shop.merchant.client.customers.create_customer(
        shop.account_id,
        email="ada@example.com",
        request_options={"additional_body_parameters": {"test_clock_id": clock_id}},
    )
    offered = [product(shop.plan_product, shop.basic, shop.pro)]
    first = shop.paid.checkouts.create_checkout(
        products=offered, success_url=SUCCESS_URL, customer_id=customer.id, collect_address=False
    )
    pay(shop, first.url)
    order = order_of(shop.paid.checkouts.get_checkout(first.id))
    at = APRIL + timedelta(days=10)
    shop.merchant.advance(clock_id, at)

    # The same call: the customer holds Basic, so Pro is offered first and the checkout changes the plan.
    upgrade = shop.paid.checkouts.create_checkout(
        products=offered, success_url=SUCCESS_URL, customer_id=customer.id, collect_address=False
    )

    change = public(shop, upgrade.url)["plan_change"]
    assert change is not None
    assert change["credit_atom"] == prorated(BASIC, at)
    assert change["charge_atom"] == prorated(PRO, at)
    assert change["amount_due_today_atom"] == prorated(PRO, at) - prorated(BASIC, at)
    pay(shop, upgrade.url)
    details = shop.paid.checkouts.get_checkout(upgrade.id)
    assert details.order_id == order
    assert details.selected_product is not None
    assert details.selected_product.plan is not None
    assert details.selected_product.plan.id == shop.pro
    [subscription] = shop.merchant.client.subscriptions.list_subscriptions(shop.account_id).items
    assert [item.price.id for item in subscription.items] == [shop.pro]
    assert shop.merchant.charged() == [BASIC, prorated(PRO, at) - prorated(BASIC, at)]


def test_an_anonymous_checkout_collects_name_email_and_phone_and_creates_the_customer_on_completion(
    shop: Shop,
) -> None:
    checkout = shop.paid.checkouts.create_checkout(
        products=[product(shop.plan_product)], success_url=SUCCESS_URL, collect_address=False, collect_phone=True
    )
    assert checkout.customer_id is None
    assert public(shop, checkout.url)["requires_customer_details"] is True

    refused = confirm(shop, checkout.url, {"name": "Ada Lovelace"})
    assert refused.status_code == 422, refused.text
    assert {tuple(problem["loc"]) for problem in refused.json()["detail"]} == {
        ("body", "customer", "email"),
        ("body", "customer", "phone"),
    }
    pay(shop, checkout.url, {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000"})

    details = shop.paid.checkouts.get_checkout(checkout.id)
    assert details.customer_id is not None
    customer = shop.merchant.client.customers.get_customer(shop.account_id, details.customer_id)
    assert (customer.name, customer.email, customer.phone) == ("Ada Lovelace", "ada@example.com", "+44 20 7946 0000")
    assert details.order_id is not None
    assert details.order_id.startswith("ord_")


def test_an_address_asked_for_is_required_field_by_field_and_kept_on_the_customer(shop: Shop) -> None:
    customer = shop.merchant.client.customers.create_customer(shop.account_id, email="ada@example.com")
    checkout = shop.paid.checkouts.create_checkout(
        products=[product(shop.setup_product)], success_url=SUCCESS_URL, customer_id=customer.id, collect_phone=True
    )
    view = public(shop, checkout.url)["offer"]
    assert (view["collect_address"], view["collect_phone"]) == (True, True)

    refused = confirm(shop, checkout.url, {"phone": "12", "address": {"line1": "12 Analytical Row", "country": "XX"}})
    assert refused.status_code == 422, refused.text
    assert {tuple(problem["loc"]) for problem in refused.json()["detail"]} == {
        ("body", "customer", "phone"),
        ("body", "customer", "address", "city"),
        ("body", "customer", "address", "country"),
    }
    pay(shop, checkout.url, {"phone": "+44 20 7946 0000", "address": ADDRESS})

    kept = shop.merchant.client.customers.get_customer(shop.account_id, customer.id)
    assert kept.phone == "+44 20 7946 0000"
    assert kept.address is not None
    assert (kept.address.line1, kept.address.city, kept.address.zip_code) == ("12 Analytical Row", "London", "N1 9GU")


def test_expires_at_is_kept_and_the_checkout_expires_then_on_its_customers_clock(shop: Shop) -> None:
    clock_id = shop.merchant._http("POST", "/test-clocks/", {"name": "April", "frozen_time": APRIL.isoformat()})["id"]
    customer = shop.merchant.client.customers.create_customer(
        shop.account_id,
        email="ada@example.com",
        request_options={"additional_body_parameters": {"test_clock_id": clock_id}},
    )
    expires_at = APRIL + timedelta(hours=2)
    checkout = shop.paid.checkouts.create_checkout(
        products=[product(shop.setup_product)],
        success_url=SUCCESS_URL,
        customer_id=customer.id,
        expires_at=expires_at,
    )
    assert checkout.expires_at == expires_at
    shop.merchant.advance(clock_id, APRIL + timedelta(hours=3))

    assert shop.paid.checkouts.get_checkout(checkout.id).status == "expired"
    assert confirm(shop, checkout.url, ADA).status_code == 409
    listed = shop.paid.checkouts.list_checkouts(status="expired")
    assert [item.id for item in listed.data] == [checkout.id]


def test_an_expiry_defaults_to_a_day(shop: Shop) -> None:
    before = datetime.now(UTC)
    checkout = shop.paid.checkouts.create_checkout(products=[product(shop.setup_product)], success_url=SUCCESS_URL)

    assert checkout.expires_at is not None
    assert before + timedelta(hours=24) <= checkout.expires_at <= datetime.now(UTC) + timedelta(hours=24)


def test_metadata_is_returned_to_the_merchant_and_never_shown_to_the_customer(shop: Shop) -> None:
    metadata = {"crm_ref": "internal-note-7f3a", "seats": 5, "tags": ["vip"]}
    checkout = shop.paid.checkouts.create_checkout(
        products=[product(shop.setup_product)], success_url=SUCCESS_URL, metadata=metadata
    )

    assert checkout.metadata == metadata
    assert shop.paid.checkouts.get_checkout(checkout.id).metadata == metadata
    page = httpx.get(checkout.url, timeout=30)
    assert page.status_code == 200
    assert "internal-note-7f3a" not in page.text
    assert (
        "internal-note-7f3a"
        not in httpx.get(f"{shop.server.base_url}/api/public/checkout/{token_of(checkout.url)}", timeout=30).text
    )


# --- Every create parameter checked ---------------------------------------------------------------------------------


def stored(shop: Shop) -> tuple[int, int]:
    """How many checkouts and customers the account has."""
    return (
        shop.paid.checkouts.list_checkouts().pagination.total,
        shop.merchant.client.customers.list_customers(shop.account_id).total,
    )


def refused_fields(shop: Shop, **create: Any) -> set[str]:
    """The fields a create_checkout call is refused on (a 400 in Paid's shape), checking nothing was stored."""
    before = stored(shop)
    create.setdefault("products", [product(shop.setup_product)])
    create.setdefault("success_url", SUCCESS_URL)
    with pytest.raises(BadRequestError) as refused:
        shop.paid.checkouts.create_checkout(**create)
    body = refused.value.body
    assert refused.value.status_code == 400
    assert body["code"] == "validation_error"
    assert set(body) >= {"error", "code", "details"}
    assert stored(shop) == before
    return {entry["field"] for entry in body["fields"]}


def test_customer_id_and_external_customer_id_are_exclusive(shop: Shop) -> None:
    customer = shop.merchant.client.customers.create_customer(shop.account_id, email="ada@example.com")

    assert refused_fields(shop, customer_id=customer.id, external_customer_id="crm-1") == {"externalCustomerId"}
    assert refused_fields(shop, customer_id="cus_nobody") == {"customerId"}


def test_unknown_products_and_plans_a_plan_of_another_product_and_an_archived_plan_are_named(shop: Shop) -> None:
    assert refused_fields(shop, products=[product("prod_nothing")]) == {"products[0].id"}
    assert refused_fields(shop, products=[product(shop.plan_product, shop.basic, "price_nothing")]) == {
        "products[0].plans[1].id"
    }
    assert refused_fields(
        shop, products=[product(shop.setup_product), product(shop.plan_product, shop.bare_price)]
    ) == {"products[1].plans[0].id"}
    assert refused_fields(shop, products=[product(shop.plan_product, shop.archived)]) == {"products[0].plans[0].id"}
    assert refused_fields(shop, products=[product(shop.setup_product), product(shop.setup_product)]) == {
        "products[1].id"
    }
    assert refused_fields(shop, products=[]) == {"products"}


def test_a_product_named_without_plans_offers_all_its_active_plans_the_default_first(shop: Shop) -> None:
    bare = shop.paid.checkouts.create_checkout(products=[product(shop.bare_product)], success_url=SUCCESS_URL)
    plans = shop.paid.checkouts.create_checkout(products=[product(shop.plan_product)], success_url=SUCCESS_URL)

    def offered(checkout_url: str) -> list[str | None]:
        public = httpx.get(f"{shop.server.base_url}/api/public/checkout/{token_of(checkout_url)}", timeout=30).json()
        return [option["price_name"] for choice in public["offer"]["plan_choices"] for option in choice["options"]]

    assert bare.status == "active"
    assert offered(bare.url) == []  # a single plan: nothing to pick among
    names = offered(plans.url)
    assert names[0] == "Basic"
    assert "Pro" in names


def test_bad_urls_and_a_misused_checkout_id_placeholder_are_refused(shop: Shop) -> None:
    assert refused_fields(shop, success_url="javascript:alert(1)") == {"successUrl"}
    assert refused_fields(shop, success_url="https://user:pw@shop.example/ok") == {"successUrl"}
    assert refused_fields(shop, success_url="https://shop.example/ok?c={CHECKOUT_ID") == {"successUrl"}
    assert refused_fields(shop, success_url="https://shop.example/ok?c={checkout_id}") == {"successUrl"}
    assert refused_fields(shop, success_url="https://shop.example/ok?c={CHECKOUT_SESSION_ID}") == {"successUrl"}
    assert refused_fields(shop, cancel_url="https://shop.example/cart?c={CHECKOUT_ID}") == {"cancelUrl"}
    assert refused_fields(shop, cancel_url="data:text/html,hi") == {"cancelUrl"}
    card = CheckoutCustomCardInput(label="Enterprise", button_text="Talk to sales", button_url="javascript:x()")
    assert refused_fields(shop, custom_cards=[card]) == {"customCards[0].buttonUrl"}


def test_an_expiry_in_the_past_or_beyond_thirty_days_is_refused(shop: Shop) -> None:
    now = datetime.now(UTC)

    assert refused_fields(shop, expires_at=now - timedelta(minutes=1)) == {"expiresAt"}
    assert refused_fields(shop, expires_at=now + timedelta(days=31)) == {"expiresAt"}


def test_every_problem_is_reported_at_once_and_an_external_customer_is_not_created_by_a_refused_call(
    shop: Shop,
) -> None:
    assert refused_fields(
        shop,
        products=[product("prod_nothing")],
        success_url="ftp://shop.example/ok",
        external_customer_id="crm-42",
        currency="xxx",
    ) == {"products[0].id", "successUrl"}
    assert shop.merchant.client.customers.list_customers(shop.account_id, filter='{"external_id": "crm-42"}').total == 0


def test_an_external_customer_id_creates_the_customer_on_first_use_and_finds_it_after(shop: Shop) -> None:
    first = shop.paid.checkouts.create_checkout(
        products=[product(shop.setup_product)], success_url=SUCCESS_URL, external_customer_id="crm-7"
    )
    second = shop.paid.checkouts.create_checkout(
        products=[product(shop.setup_product)], success_url=SUCCESS_URL, external_customer_id="crm-7"
    )

    assert first.customer_id is not None
    assert second.customer_id == first.customer_id
    assert (first.external_customer_id, second.external_customer_id) == ("crm-7", "crm-7")
    assert shop.merchant.client.customers.list_customers(shop.account_id).total == 1


def test_checkouts_racing_to_create_one_external_customer_make_one_and_all_succeed(shop: Shop) -> None:
    racers = 6
    barrier = threading.Barrier(racers)

    def create(_: int) -> str | None:
        barrier.wait()
        return shop.paid.checkouts.create_checkout(
            products=[product(shop.setup_product)], success_url=SUCCESS_URL, external_customer_id="crm-race"
        ).customer_id

    with ThreadPoolExecutor(max_workers=racers) as pool:
        customer_ids = set(pool.map(create, range(racers)))

    assert len(customer_ids) == 1
    assert None not in customer_ids
    assert shop.merchant.client.customers.list_customers(shop.account_id).total == 1


def test_the_currency_is_one_every_product_has_a_plan_in_and_the_customer_may_switch_among_them(shop: Shop) -> None:
    assert refused_fields(shop, products=[product(shop.plan_product, shop.basic, shop.pro_eur)], currency="gbp") == {
        "currency"
    }
    assert refused_fields(shop, products=[product(shop.setup_product), product(shop.plan_product, shop.pro_eur)]) == {
        "products"
    }
    locked = shop.paid.checkouts.create_checkout(
        products=[product(shop.plan_product, shop.basic, shop.pro_eur)], success_url=SUCCESS_URL, currency="EUR"
    )
    assert locked.allowed_currencies == ["EUR"]
    assert public(shop, locked.url)["currency"] == "eur"

    either = shop.paid.checkouts.create_checkout(
        products=[product(shop.plan_product, shop.basic, shop.pro_eur)], success_url=SUCCESS_URL
    )
    assert either.allowed_currencies == ["USD", "EUR"]
    assert public(shop, either.url)["offer"]["currencies"] == ["usd", "eur"]
    switched = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{token_of(either.url)}/selection",
        json={"currency": "eur"},
        timeout=30,
    )
    assert switched.status_code == 200, switched.text
    assert (switched.json()["currency"], switched.json()["amount_total_atom"]) == ("eur", PRO)
    refused = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{token_of(either.url)}/selection",
        json={"currency": "gbp"},
        timeout=30,
    )
    assert refused.status_code == 422


# --- Listing, archiving, reusable links -----------------------------------------------------------------------------


def test_the_list_filters_by_status_newest_first(shop: Shop) -> None:
    paid = shop.paid.checkouts.create_checkout(products=[product(shop.setup_product)], success_url=SUCCESS_URL)
    pay(shop, paid.url, ADA)
    archived = shop.paid.checkouts.create_checkout(products=[product(shop.setup_product)], success_url=SUCCESS_URL)
    shop.paid.checkouts.archive_checkout(archived.id)
    active = [
        shop.paid.checkouts.create_checkout(products=[product(shop.setup_product)], success_url=SUCCESS_URL)
        for _ in range(3)
    ]

    def listed(status: str | None = None, **page: int) -> list[str]:
        return [checkout.id for checkout in shop.paid.checkouts.list_checkouts(status=status, **page).data]

    assert listed("active") == [checkout.id for checkout in reversed(active)]
    assert listed("completed") == [paid.id]
    assert listed("archived") == [archived.id]
    assert listed("expired") == []
    assert listed() == [*(checkout.id for checkout in reversed(active)), archived.id, paid.id]
    second_page = shop.paid.checkouts.list_checkouts(status="active", limit=2, offset=2)
    assert [checkout.id for checkout in second_page.data] == [active[0].id]
    assert (second_page.pagination.total, second_page.pagination.has_more) == (3, False)
    assert {checkout.status for checkout in shop.paid.checkouts.list_checkouts().data} == {
        "active",
        "archived",
        "completed",
    }


def test_an_archived_checkout_is_no_longer_sold_and_a_completed_one_stays_completed(shop: Shop) -> None:
    checkout = shop.paid.checkouts.create_checkout(products=[product(shop.setup_product)], success_url=SUCCESS_URL)

    shop.paid.checkouts.archive_checkout(checkout.id)
    shop.paid.checkouts.archive_checkout(checkout.id)

    assert shop.paid.checkouts.get_checkout(checkout.id).status == "archived"
    assert confirm(shop, checkout.url, ADA).status_code == 409
    page = httpx.get(checkout.url, timeout=30)
    assert "can no longer be paid" in page.text
    completed = shop.paid.checkouts.create_checkout(products=[product(shop.setup_product)], success_url=SUCCESS_URL)
    pay(shop, completed.url, ADA)
    shop.paid.checkouts.archive_checkout(completed.id)
    assert shop.paid.checkouts.get_checkout(completed.id).status == "completed"
    with pytest.raises(NotFoundError):
        shop.paid.checkouts.archive_checkout("chk_nothing")
    with pytest.raises(NotFoundError):
        shop.paid.checkouts.get_checkout("not-a-checkout")


def test_a_reusable_link_opens_a_purchase_of_its_own_on_each_visit_and_stays_active(shop: Shop) -> None:
    link = shop.paid.checkouts.create_checkout(
        products=[product(shop.plan_product, shop.basic, shop.pro)],
        success_url=SUCCESS_URL,
        single_use=False,
        collect_address=False,
    )
    assert link.single_use is False
    # A link checker's HEAD and a browser's prefetch open nothing.
    assert httpx.head(link.url, timeout=30).status_code == 200
    assert httpx.get(link.url, headers={"Sec-Purpose": "prefetch"}, timeout=30).status_code == 503
    assert shop.paid.checkouts.list_checkouts().pagination.total == 1
    visits = [httpx.get(link.url, timeout=30) for _ in range(2)]
    assert [visit.status_code for visit in visits] == [303, 303]
    urls = [f"{shop.server.base_url}{visit.headers['location']}" for visit in visits]
    assert len(set(urls)) == 2
    assert link.url not in urls
    assert confirm(shop, link.url, ADA).status_code == 409

    attempts = [pay(shop, url, {"name": f"Buyer {n}", "email": f"b{n}@example.com"}) for n, url in enumerate(urls)]

    assert shop.paid.checkouts.get_checkout(link.id).status == "active"
    made = [attempt["redirect_url"].rsplit("=", 1)[1] for attempt in attempts]
    for checkout_id in made:
        details = shop.paid.checkouts.get_checkout(checkout_id)
        assert (details.status, details.single_use) == ("completed", True)
        assert details.order_id is not None
    assert len({order_of(shop.paid.checkouts.get_checkout(checkout_id)) for checkout_id in made}) == 2
    shop.paid.checkouts.archive_checkout(link.id)
    assert "can no longer be paid" in httpx.get(link.url, timeout=30).text


def test_the_page_shows_the_plans_cards_and_cancel_link_and_nothing_of_a_customer_it_does_not_ask(
    shop: Shop,
) -> None:
    checkout = shop.paid.checkouts.create_checkout(
        products=[product(shop.plan_product, shop.basic, shop.pro)],
        success_url=SUCCESS_URL,
        cancel_url="https://shop.example/pricing",
        collect_phone=True,
        custom_cards=[
            CheckoutCustomCardInput(
                label="Enterprise",
                price_text="Custom pricing",
                button_text="Talk to sales",
                button_url="https://shop.example/sales",
            )
        ],
    )
    page = httpx.get(checkout.url, timeout=30).text

    for shown in ["Basic", "Pro", "Enterprise", "Custom pricing", "Talk to sales", "https://shop.example/sales"]:
        assert shown in page
    assert 'href="https://shop.example/pricing"' in page
    assert 'name="phone"' in page
    assert 'name="address_line1"' in page
    bare = shop.paid.checkouts.create_checkout(
        products=[product(shop.setup_product)], success_url=SUCCESS_URL, collect_address=False
    )
    bare_page = httpx.get(bare.url, timeout=30).text
    assert 'name="phone"' not in bare_page
    assert 'name="address_line1"' not in bare_page
    assert "Cancel and return" not in bare_page


def test_a_paymentkit_session_reads_as_a_checkout(shop: Shop) -> None:
    session = shop.merchant.client.checkout_sessions.create_checkout_session(
        shop.account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[{"price_id": shop.basic}],
    )

    details = shop.paid.checkouts.get_checkout("chk_" + session.id.removeprefix("cs_"))

    assert details.status == "active"
    assert [(item.id, [plan.id for plan in item.plans or []]) for item in details.products] == [
        (shop.plan_product, [shop.basic])
    ]
    assert details.single_use is True
    assert shop.paid.checkouts.get_checkout(session.id).id == details.id


def test_a_paid_in_progress_checkout_is_not_archived(shop: Shop) -> None:
    checkout = shop.paid.checkouts.create_checkout(products=[product(shop.setup_product)], success_url=SUCCESS_URL)
    three_ds = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{token_of(checkout.url)}/confirm",
        json={
            "payment_method": {"card": {"number": flow.THREE_DS_CARD, "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
            "customer": ADA,
        },
        timeout=60,
    )
    assert three_ds.json()["state"] == "requires_action", three_ds.text

    with pytest.raises(ApiError) as refused:
        shop.paid.checkouts.archive_checkout(checkout.id)

    assert refused.value.status_code == 409
    assert shop.paid.checkouts.get_checkout(checkout.id).status == "active"
