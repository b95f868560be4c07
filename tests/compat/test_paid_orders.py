"""Orders and amendments through ``paid-python`` against a real server, on both backends: the order a paid checkout
made (a subscription, or a one-time purchase) read back with its lines, amounts and plan; renamed, cancelled and
activated by Paid's rules; and its plan changed in two phases on the proration engine, charged exactly what the
PaymentKit dialect's preview of the same change says, a stale version or a drifted plan refused, and two executions
of one preview racing applying once.

Customers pay through the server's public checkout API on a test clock (the PaymentKit SDK opens the checkouts and
moves the clock). Basic is $10 and Pro $30 a month: 15 days into a 30-day April, moving up nets $10.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors import BadRequestError, ConflictError
from paid.types import UnifiedAmendmentIntent_AddFromCatalog as AddFromCatalog
from paid.types import UnifiedAmendmentIntent_EndAttribute as EndAttribute
from paid.types import UnifiedAmendmentIntent_UpdateLineTerm as UpdateLineTerm
from paid.types import UnifiedAmendmentIntent_UpdateQuantity as UpdateQuantity
from payment_kit.types import (
    CheckoutSessionLineItemCreate,
    CreateSubscriptionItemPayload,
    UpdateSubscriptionItemPayload,
)

from tests.compat.billing import Merchant, card, merchant
from tests.compat.test_paymentkit_plan_changes import APRIL, MAY, MID_APRIL, subscribe
from tests.invoices.factory import SAVES_THEN_DECLINES
from tests.payments.flow import GOOD_CARD
from tests.support import Server


def paid_client(shop: Merchant) -> Paid:
    """The merchant's own key, through Paid's SDK."""
    return Paid(base_url=f"{shop.server.base_url}/api/v2", token=shop.secret, timeout=60)


def order_of(subscription_id: str) -> str:
    return "ord_" + subscription_id.removeprefix("sub_")


def extra(model: Any) -> dict[str, Any]:
    """The fields Checkstand adds to Paid's types (the SDK keeps them)."""
    return dict(model.model_extra or {})


def buy_once(shop: Merchant, price_id: str, customer_id: str) -> str:
    """A checkout of a one-time price paid through the public API; answers the session's id."""
    checkout = shop.client.checkout_sessions.create_checkout_session(
        shop.account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=price_id, quantity=2)],
        customer_id=customer_id,
    )
    confirmed = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{checkout.secure_token}/confirm",
        json={"payment_method": card(GOOD_CARD)},
        timeout=60,
    )
    assert confirmed.json()["state"] == "succeeded", confirmed.text
    return checkout.id


def plans(shop: Merchant) -> dict[str, str]:
    """Basic $10 and Pro $30 a month, two plans (prices) of one product; Team $50 a month, the product ranked above
    it in their family; and a $10 seat of another product."""
    made = {}
    plan = shop.client.products.create_product(shop.account_id, name="Plan")
    team = shop.client.products.create_product(shop.account_id, name="Team")
    seat = shop.client.products.create_product(shop.account_id, name="Seat")
    family = shop.client.product_families.create_product_family(shop.account_id, name="Plans")
    for rank, product_id in enumerate((plan.id, team.id), start=1):
        shop.client.product_families.add_product_to_family(shop.account_id, family.id, product_id=product_id, rank=rank)
    for name, product_id, amount in [
        ("basic", plan.id, 1000),
        ("pro", plan.id, 3000),
        ("team", team.id, 5000),
        ("seat", seat.id, 1000),
    ]:
        made[name] = shop.client.prices.create_price(
            shop.account_id,
            product_id=product_id,
            currency="usd",
            unit_amount_atom=amount,
            pricing_type="recurring",
            recurring_interval="month",
        ).id
    return made


def one_time_price(shop: Merchant) -> str:
    product = shop.client.products.create_product(shop.account_id, name="Setup")
    price = shop.client.prices.create_price(
        shop.account_id, product_id=product.id, currency="usd", unit_amount_atom=2550, pricing_type="one_time"
    )
    return price.id


def test_a_paid_checkout_is_an_order_with_its_plan_lines_and_amounts(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    _clock_id, subscription_id = subscribe(shop, price["basic"])
    customer_id = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).customer_id
    purchase_id = buy_once(shop, one_time_price(shop), customer_id)
    paid = paid_client(shop)

    order = paid.orders.get_order_by_id(order_of(subscription_id))

    assert (order.id, order.customer_id, order.name, order.number, order.version) == (
        order_of(subscription_id),
        customer_id,
        "Plan",
        1,
        1,
    )
    assert (order.order_amount, order.billed_amount_no_tax, order.pending_billing_amount) == (10.0, 10.0, 10.0)
    assert (order.total_amount, order.total_billed_amount, order.billed_tax) == (10.0, 10.0, 0.0)
    assert (order.creation_state, order.start_date, order.end_date) == ("active", APRIL, None)
    assert {key: extra(order)[key] for key in ("status", "currency", "planId", "billingCycle")} == {
        "status": "active",
        "currency": "USD",
        "planId": price["basic"],
        "billingCycle": "monthly",
    }
    [line] = paid.orders.get_order_lines(order.id).data
    [item] = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).items
    assert (line.id, line.name, line.line_type, line.start_date) == (item.id, "Plan", "STANDARD", APRIL)
    assert {key: extra(line)[key] for key in ("planId", "quantity", "amount", "chargeType")} == {
        "planId": price["basic"],
        "quantity": 1,
        "amount": 10.0,
        "chargeType": "recurring",
    }

    # The one-time purchase is the next order, named after its checkout; it is complete once paid.
    listed = paid.orders.list_orders()
    purchase_order = "ord_" + purchase_id.removeprefix("cs_")
    assert [(o.id, o.number) for o in listed.data] == [(purchase_order, 2), (order.id, 1)]
    assert (listed.pagination.total, listed.pagination.has_more) == (2, False)
    purchase = paid.orders.get_order_by_id(purchase_order)
    assert (purchase.order_amount, purchase.billed_amount_no_tax, purchase.pending_billing_amount) == (51.0, 51.0, 0)
    assert (extra(purchase)["status"], extra(purchase)["billingCycle"]) == ("ended", None)
    [bought] = paid.orders.get_order_lines(purchase_order).data
    assert (extra(bought)["quantity"], extra(bought)["amount"], extra(bought)["chargeType"]) == (2, 51.0, "oneTime")

    assert [o.id for o in paid.orders.list_orders(status="active").data] == [order.id]
    assert [o.id for o in paid.orders.list_orders(customer_id=customer_id, limit=1, offset=1).data] == [order.id]
    assert paid.orders.list_orders(customer_id="cus_nobody").data == []
    # A purchase ended as it was paid; the subscription renews, with no end.
    assert [o.id for o in paid.orders.list_orders(end_date_from="2028-04-01").data] == [purchase_order]
    assert [o.id for o in paid.orders.list_orders(start_date_to="2028-03-31").data] == []
    with pytest.raises(ApiError) as unknown:
        paid.orders.get_order_by_id("ord_nothing")
    assert unknown.value.status_code == 404
    with pytest.raises(BadRequestError) as refused:
        paid.orders.create_order(customer_id=customer_id, name="By hand", start_date=APRIL)
    assert refused.value.body["code"] == "not_supported"


def test_a_metered_line_shows_the_usage_reported_this_period(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    calls = shop.client.prices.create_price(
        shop.account_id,
        product_id=shop.client.products.create_product(shop.account_id, name="API calls").id,
        currency="usd",
        unit_amount_atom=2,
        pricing_type="recurring",
        recurring_interval="month",
        usage_type="metered",
        metered_id="api_calls",
    )
    checkout = shop.client.checkout_sessions.create_checkout_session(
        shop.account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[
            CheckoutSessionLineItemCreate(price_id=price["basic"]),
            CheckoutSessionLineItemCreate(price_id=calls.id),
        ],
    )
    confirmed = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{checkout.secure_token}/confirm",
        json={"payment_method": card(GOOD_CARD), "customer": {"name": "Ada", "email": "ada@example.com"}},
        timeout=60,
    )
    assert confirmed.json()["state"] == "succeeded", confirmed.text
    paid = paid_client(shop)
    [order] = paid.orders.list_orders().data
    for value in (3, 4):
        shop._http(
            "POST", "/meter-events/", {"metered_id": "api_calls", "customer_id": order.customer_id, "value": value}
        )

    basic, metered = paid.orders.get_order_lines(order.id).data

    assert (extra(basic)["chargeType"], extra(basic)["usage"]) == ("recurring", None)
    assert (extra(metered)["chargeType"], extra(metered)["planId"]) == ("usage", calls.id)
    usage = extra(metered)["usage"]
    assert usage["quantity"] == 7
    assert usage["periodStart"] == extra(order)["currentPeriodStart"]


def test_an_order_is_renamed_and_tagged_and_other_fields_are_refused_by_name(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    _clock_id, subscription_id = subscribe(shop, price["basic"])
    paid = paid_client(shop)

    order = paid.orders.update_order_by_id(order_of(subscription_id), name="Acme: Basic", metadata={"crm": "42"})

    assert (order.name, order.metadata, order.version) == ("Acme: Basic", {"crm": "42"}, 1)
    held = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id)
    assert (held.description, held.metadata) == ("Acme: Basic", {"crm": "42"})
    with pytest.raises(BadRequestError) as refused:
        paid.orders.update_order_by_id(order.id, name="Other", external_id="X-1", payment_terms="net 30")
    assert "externalId" in refused.value.body["details"]
    assert "paymentTerms" in refused.value.body["details"]
    assert paid.orders.get_order_by_id(order.id).name == "Acme: Basic"


def test_deleting_an_order_cancels_it_once_and_a_purchase_is_not_deleted(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    _clock_id, subscription_id = subscribe(shop, price["basic"])
    customer_id = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).customer_id
    purchase_id = buy_once(shop, one_time_price(shop), customer_id)
    paid = paid_client(shop)

    paid.orders.delete_order_by_id(order_of(subscription_id))

    order = paid.orders.get_order_by_id(order_of(subscription_id))
    assert (extra(order)["status"], order.pending_billing_amount) == ("ended", 0)
    assert order.end_date is not None
    assert shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).state == "canceled"
    for order_id in (order.id, "ord_" + purchase_id.removeprefix("cs_")):
        with pytest.raises(ApiError) as conflict:
            paid.orders.delete_order_by_id(order_id)
        assert conflict.value.status_code == 409
    assert [o.id for o in paid.orders.list_orders(status="ended").data] == [
        "ord_" + purchase_id.removeprefix("cs_"),
        order.id,
    ]


def test_activation_completes_only_what_is_due(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    _clock_id, subscription_id = subscribe(shop, price["basic"])
    paid = paid_client(shop)

    # Already active: answered as it is.
    assert paid.orders.activate_order_by_id(order_of(subscription_id)).creation_state == "active"

    # A trial that is still running is not ended early.
    trial = shop.client.subscriptions.create_subscription(
        shop.account_id,
        customer_id=shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).customer_id,
        items=[CreateSubscriptionItemPayload(price_id=price["pro"], quantity=1)],
        period_start=APRIL,
        trial_end=APRIL + timedelta(days=14),
        default_payment_method_id=_method_of(shop, subscription_id),
    )
    with pytest.raises(BadRequestError) as running:
        paid.orders.activate_order_by_id(order_of(trial.id))
    assert running.value.body["code"] == "trial_still_active"
    assert paid.orders.get_order_by_id(order_of(trial.id)).number == 2

    # A trial has paid nothing: moving it to another plan charges nothing.
    options = paid.amendments.get_order_amendment_options(order_of(trial.id))
    preview = paid.amendments.preview_order_amendment(
        order_of(trial.id), order_version=1, intents=move_to(options, price["basic"])
    )
    assert (preview.money_effects, extra(preview)["amountDueMinor"], extra(preview)["transition"]) == (
        [],
        0,
        "downgrade",
    )
    executed = paid.amendments.execute_order_amendment(
        order_of(trial.id), order_version=1, intents=move_to(options, price["basic"]), plan_hash=preview.plan_hash
    )
    assert (executed.version, extra(paid.orders.get_order_by_id(order_of(trial.id)))["planId"]) == (2, price["basic"])
    assert shop.charged() == [1000]


def test_a_draft_order_is_activated_only_once_its_first_invoice_is_paid(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    _clock_id, subscription_id = subscribe(shop, price["basic"], number=SAVES_THEN_DECLINES)
    customer_id = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).customer_id
    paid = paid_client(shop)

    # Its first period is charged at once on the saved card, which declines now: the order stays a draft.
    draft = shop.client.subscriptions.create_subscription(
        shop.account_id,
        customer_id=customer_id,
        items=[CreateSubscriptionItemPayload(price_id=price["pro"], quantity=1)],
        period_start=APRIL,
        default_payment_method_id=_method_of(shop, subscription_id),
    )

    order = paid.orders.get_order_by_id(order_of(draft.id))
    assert (order.creation_state, extra(order)["status"], order.billed_amount_no_tax) == ("draft", "draft", 0)
    assert [o.id for o in paid.orders.list_orders(creation_state="draft").data] == [order.id]
    with pytest.raises(ApiError) as unpaid:
        paid.orders.activate_order_by_id(order.id)
    assert (unpaid.value.status_code, unpaid.value.body["code"]) == (409, "first_invoice_unpaid")
    assert paid.orders.get_order_by_id(order.id).creation_state == "draft"


def _method_of(shop: Merchant, subscription_id: str) -> str:
    subscription = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id)
    assert subscription.payment_method is not None
    return subscription.payment_method.id


# --- Amendments -----------------------------------------------------------------------------------------------------


def move_to(order: Any, plan_id: str) -> list[Any]:
    """Paid's intents moving the order's one line to another plan."""
    [line] = order.lines
    [attribute] = line.attributes
    return [
        EndAttribute(order_line_attribute_id=attribute.order_line_attribute_id),
        AddFromCatalog(product_attribute_id=plan_id),
    ]


def test_an_upgrade_previewed_then_executed_charges_what_the_paymentkit_preview_says(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    clock_id, subscription_id = subscribe(shop, price["basic"])
    shop.advance(clock_id, MID_APRIL)
    paid = paid_client(shop)
    order_id = order_of(subscription_id)

    options = paid.amendments.get_order_amendment_options(order_id)
    assert (options.amendable, options.order_version, options.currency) == (True, 1, "USD")
    [line] = options.lines
    [attribute] = line.attributes
    choices = [(plan["planId"], plan["transition"]) for plan in extra(attribute)["plans"]]
    assert choices == [(price["pro"], "upgrade"), (price["team"], "upgrade")]
    assert attribute.state.total_amount_minor == 1000

    preview = paid.amendments.preview_order_amendment(order_id, order_version=1, intents=move_to(options, price["pro"]))

    [item] = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).items
    paymentkit = shop.client.subscriptions.preview_subscription(
        shop.account_id,
        subscription_id,
        request_options={
            "additional_query_parameters": {
                "items": json.dumps([{"id": item.id, "price_id": price["pro"]}]),
                "proration_behavior": "always_invoice",
            }
        },
    )
    proration = extra(paymentkit)["proration"]
    assert (extra(preview)["amountDueMinor"], proration["amount_due_atom"]) == (1000, 1000)
    assert sorted((effect.kind, effect.amount_minor) for effect in preview.money_effects or []) == [
        ("prorationCharge", 1500),
        ("prorationCredit", 500),
    ]
    assert (preview.order_version, extra(preview)["transition"]) == (1, "upgrade")
    assert [change.change for change in preview.state_diff or []] == ["replaced"]
    assert shop.charged() == [1000]  # a preview writes nothing

    executed = paid.amendments.execute_order_amendment(
        order_id, order_version=1, intents=move_to(options, price["pro"]), plan_hash=preview.plan_hash
    )

    assert (executed.version, executed.ended_line_ids, extra(executed)["paymentStatus"]) == (2, [item.id], "succeeded")
    assert executed.amendment_id == extra(executed)["invoiceId"]
    assert shop.charged() == [1000, 1000]
    order = paid.orders.get_order_by_id(order_id)
    assert (order.version, extra(order)["planId"], order.order_amount, order.billed_amount_no_tax) == (
        2,
        price["pro"],
        30.0,
        20.0,
    )
    lines = paid.orders.get_order_lines(order_id).data
    assert [(line.line_type, extra(line)["amount"]) for line in lines] == [
        ("STANDARD", 30.0),
        ("PRORATION_CREDIT", -5.0),
        ("PRORATION_CHARGE", 15.0),
    ]
    assert [i.price.id for i in shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).items] == [
        price["pro"]
    ]

    shop.advance(clock_id, MAY + timedelta(hours=1))
    assert shop.charged() == [1000, 1000, 3000]


def test_a_seat_change_without_proration_applies_now_and_bills_from_the_renewal(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    clock_id, subscription_id = subscribe(shop, price["seat"])
    shop.advance(clock_id, MID_APRIL)
    paid = paid_client(shop)
    order_id = order_of(subscription_id)
    [line] = paid.amendments.get_order_amendment_options(order_id).lines
    seats = [UpdateQuantity(order_line_attribute_id=line.order_line_id, new_quantity=3)]

    preview = paid.amendments.preview_order_amendment(
        order_id, order_version=1, intents=seats, default_treatment="none"
    )
    assert (preview.money_effects, extra(preview)["amountDueMinor"], extra(preview)["nextRenewalMinor"]) == (
        [],
        0,
        3000,
    )
    executed = paid.amendments.execute_order_amendment(
        order_id, order_version=1, intents=seats, default_treatment="none", plan_hash=preview.plan_hash
    )

    assert (executed.version, extra(executed)["invoiceId"]) == (2, None)
    assert executed.amendment_id.startswith("evt_")
    assert shop.charged() == [1000]
    [held] = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).items
    assert held.quantity == 3
    shop.advance(clock_id, MAY + timedelta(hours=1))
    assert shop.charged() == [1000, 3000]


def test_a_stale_version_or_a_drifted_plan_is_refused_and_changes_nothing(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    clock_id, subscription_id = subscribe(shop, price["seat"])
    shop.advance(clock_id, MID_APRIL)
    paid = paid_client(shop)
    order_id = order_of(subscription_id)
    [line] = paid.amendments.get_order_amendment_options(order_id).lines
    two = [UpdateQuantity(order_line_attribute_id=line.order_line_id, new_quantity=2)]
    preview = paid.amendments.preview_order_amendment(order_id, order_version=1, intents=two)

    # Another change (through the PaymentKit dialect) moves the version on.
    shop.client.subscriptions.update_subscription_items(
        shop.account_id, subscription_id, items=[UpdateSubscriptionItemPayload(id=line.order_line_id, quantity=5)]
    )
    with pytest.raises(ConflictError) as stale:
        paid.amendments.execute_order_amendment(order_id, order_version=1, intents=two, plan_hash=preview.plan_hash)
    assert stale.value.body["code"] == "order_version_conflict"
    assert paid.orders.get_order_by_id(order_id).version == 2

    # A renewal leaves the version as it is but not the period the preview priced: the plan hash no longer holds.
    preview = paid.amendments.preview_order_amendment(order_id, order_version=2, intents=two)
    shop.advance(clock_id, MAY + timedelta(hours=1))
    with pytest.raises(ConflictError) as drifted:
        paid.amendments.execute_order_amendment(order_id, order_version=2, intents=two, plan_hash=preview.plan_hash)
    assert drifted.value.body["code"] == "plan_conflict"
    [held] = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).items
    assert held.quantity == 5
    assert shop.charged() == [1000, 5000]

    with pytest.raises(BadRequestError) as unsupported:
        paid.amendments.preview_order_amendment(
            order_id,
            order_version=2,
            intents=[UpdateLineTerm(order_line_id=line.order_line_id, new_end_date=MAY + timedelta(days=60))],
        )
    assert "intents[0].type" in unsupported.value.body["details"]


def test_two_executions_of_one_preview_at_once_apply_and_charge_once(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    clock_id, subscription_id = subscribe(shop, price["basic"])
    shop.advance(clock_id, MID_APRIL)
    paid = paid_client(shop)
    order_id = order_of(subscription_id)
    options = paid.amendments.get_order_amendment_options(order_id)
    intents = move_to(options, price["pro"])
    preview = paid.amendments.preview_order_amendment(order_id, order_version=1, intents=intents)
    start = threading.Barrier(2)

    def execute() -> str:
        start.wait()
        try:
            executed = paid_client(shop).amendments.execute_order_amendment(
                order_id, order_version=1, intents=intents, plan_hash=preview.plan_hash
            )
        except ApiError as refused:
            return str(refused.status_code)
        return str(extra(executed)["paymentStatus"])

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: execute(), range(2)))

    assert outcomes == ["409", "succeeded"]
    assert shop.charged() == [1000, 1000]
    order = paid.orders.get_order_by_id(order_id)
    assert (order.version, extra(order)["planId"]) == (2, price["pro"])


def test_orders_paid_at_once_are_numbered_one_to_n_none_twice(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    once = one_time_price(shop)
    tokens = [
        shop.client.checkout_sessions.create_checkout_session(
            shop.account_id,
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=[CheckoutSessionLineItemCreate(price_id=price_id)],
        ).secure_token
        for price_id in [price["basic"], once] * 4
    ]
    start = threading.Barrier(len(tokens))

    def pay(token: str) -> str:
        start.wait()
        confirmed = httpx.post(
            f"{shop.server.base_url}/api/public/checkout/{token}/confirm",
            json={"payment_method": card(GOOD_CARD), "customer": {"name": "Ada", "email": "ada@example.com"}},
            timeout=60,
        )
        return str(confirmed.json().get("state"))

    with ThreadPoolExecutor(len(tokens)) as pool:
        assert set(pool.map(pay, tokens)) == {"succeeded"}

    listed = paid_client(shop).orders.list_orders(limit=100).data
    assert [order.number for order in listed] == list(range(len(tokens), 0, -1))
    assert sorted(extra(order)["status"] for order in listed) == ["active"] * 4 + ["ended"] * 4
