"""The ``paid-python`` SDK's ``signals`` calls against a real server: usage reported in bulk (a duplicate stored once,
a bad signal failing alone), read back attributed to the customer's order, and billed on the order's renewal invoice
once the customer's test clock (PaymentKit's API, with the same key) passes the period's end. The invoice comes
back through Paid's own ``billing-invoice-created`` webhook too."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from paid import Paid
from paid.errors.bad_request_error import BadRequestError
from paid.types import CustomerByExternalId, CustomerById, ProductByExternalId, ProductById, Signal
from pydantic import BaseModel

from checkstand.catalog import service as catalog
from checkstand.customers import service as customers
from tests.compat.billing import Merchant, merchant
from tests.support import Server, connect_url
from tests.usage.factory import END, METER, START, metered_billing
from tests.webhooks.paid_receiver import running_receiver

BASE = 1000
RATE = 5
GRACE = timedelta(hours=1)  # CHECKSTAND_USAGE_GRACE_SECONDS' default


@dataclass(frozen=True)
class Metered:
    merchant: Merchant
    paid: Paid
    customer_id: str
    product_id: str
    subscription_id: str
    clock_id: str

    @property
    def order_id(self) -> str:
        return "ord_" + self.subscription_id.removeprefix("sub_")


@pytest.fixture
def metered(server: Server) -> Metered:
    """A monthly plan with a metered price on ``METER`` beside it, bought by a customer (external id ``ada``) on a
    clock at ``START``; the product of the metered price has the external id ``api``."""
    shop = merchant(server)

    async def arrange() -> tuple[str, str, str, str]:
        database = connect_url(server.database_url)
        try:
            async with database.writing() as session:
                setup = await metered_billing(database, session, shop.account_id, base_amount_atom=BASE)
                await customers.update_customer(session, shop.account_id, setup.customer_id, {"external_id": "ada"})
                price = await catalog.get_price(session, shop.account_id, setup.price_id)
                await catalog.update_product(session, shop.account_id, price.product_id, {"external_id": "api"})
                await session.commit()
                assert setup.clock_id is not None
                return setup.customer_id, price.product_id, setup.subscription_id, setup.clock_id
        finally:
            await database.dispose()

    customer_id, product_id, subscription_id, clock_id = asyncio.run(arrange())
    client = Paid(base_url=f"{server.base_url}/api/v2", token=shop.secret, timeout=60)
    return Metered(shop, client, customer_id, product_id, subscription_id, clock_id)


def extra(model: BaseModel, name: str) -> Any:
    """A field Checkstand adds to one of the SDK's types (which keep unknown fields under their wire names)."""
    assert model.model_extra is not None
    return model.model_extra[name]


def signal(customer: Any, key: str | None, days: float, data: dict[str, Any] | None = None, **more: Any) -> Signal:
    return Signal(
        event_name=more.pop("event_name", METER),
        customer=customer,
        timestamp=START + timedelta(days=days),
        data=data,
        idempotency_key=key,
        **more,
    )


def test_signals_are_deduplicated_attributed_to_the_order_and_billed_at_renewal(metered: Metered) -> None:
    client = metered.paid
    with running_receiver() as receiver:
        client.webhooks.update_webhook("billing-invoice-created", enabled=True, url=receiver.url())
        by_id = CustomerById(customer_id=metered.customer_id)
        metered.merchant.advance(metered.clock_id, START + timedelta(days=10))
        batch = [
            signal(
                by_id,
                "k1",
                1,
                {"quantity": 10, "model": "large"},
                attribution=ProductById(product_id=metered.product_id),
            ),
            signal(by_id, "k1", 1, {"quantity": 99}),  # a retry of k1: the first one stands
            signal(
                CustomerByExternalId(external_customer_id="ada"),
                "k2",
                2,
                attribution=ProductByExternalId(external_product_id="api"),
            ),
            signal(CustomerById(customer_id="cus_nobody"), "k3", 3),
            signal(by_id, "k4", 3, event_name="no_such_meter"),
            signal(by_id, "k5", 3, {"quantity": -3}),
        ]
        created = client.signals.create_signals(signals=batch)
        assert (created.ingested, created.duplicates, created.failed) == (2, 1, 3)
        results = extra(created, "results")
        assert [r["status"] for r in results] == ["ingested", "duplicate", "ingested", "failed", "failed", "failed"]
        assert results[1]["id"] == results[0]["id"]
        assert [r["error"].split(":")[0] for r in results[3:]] == ["customer", "eventName", "data.quantity"]

        again = client.signals.create_signals(signals=batch)
        assert (again.ingested, again.duplicates, again.failed) == (0, 3, 3)

        listed = client.signals.list_signals(customer_id=metered.customer_id)
        assert [s.id for s in listed.data] == [results[2]["id"], results[0]["id"]]  # newest first
        assert (listed.pagination.total, listed.pagination.has_more) == (2, False)
        first = client.signals.get_signal_by_id(results[0]["id"])
        assert (first.name, first.customer_id, first.external_customer_id) == (METER, metered.customer_id, "ada")
        assert (first.product_id, first.external_product_id, first.data) == (
            metered.product_id,
            "api",
            {"quantity": 10, "model": "large"},
        )
        assert (extra(first, "orderId"), extra(first, "quantity")) == (metered.order_id, 10)
        second = client.signals.get_signal_by_id(results[2]["id"])
        assert (extra(second, "orderId"), extra(second, "quantity"), second.data) == (metered.order_id, 1, None)

        lines = client.orders.get_order_lines(metered.order_id).data
        assert [extra(line, "usage")["quantity"] for line in lines if extra(line, "usage")] == [11]  # 10 + 1

        def count(**filters: Any) -> int:
            return client.signals.list_signals(**filters).pagination.total

        assert count(signal_name=METER) == 2
        assert count(signal_name="no_such_meter") == 0
        assert count(external_customer_id="ada") == 2
        assert count(external_customer_id="nobody") == 0
        assert count(product_id=metered.product_id) == 2
        assert count(external_product_id="api", customer_id=metered.customer_id) == 2
        assert count(created_at_to="2000-01-01") == 0
        assert count(created_at_from="2000-01-01", created_at_to="2999-12-31T00:00:00Z") == 2

        metered.merchant.advance(metered.clock_id, END + GRACE)
        (renewal,) = metered.merchant.invoices(metered.subscription_id)
        shop = metered.merchant
        items = shop.client.invoices.get_invoice(shop.account_id, renewal.id, expand=["items"]).items or []
        usage = [item for item in items if (item.metadata or {}).get("metered_id") == METER]
        assert [(item.quantity, item.amount) for item in usage] == [(11, 11 * RATE)]
        assert renewal.total_amount_atom == BASE + 11 * RATE

        delivered = receiver.wait_for(lambda d: d.envelope["data"]["id"] == renewal.id)
        invoice = delivered.envelope["data"]
        assert (invoice["orderId"], invoice["invoiceTotal"], invoice["currency"]) == (
            metered.order_id,
            (BASE + 11 * RATE) / 100,
            "USD",
        )

        late = client.signals.create_signals(signals=[signal(by_id, "k6", 5)])
        assert late.failed == 1
        assert extra(late, "results")[0]["error"].startswith("timestamp:")


def test_a_bulk_request_with_a_malformed_signal_is_refused_whole(metered: Metered) -> None:
    client = metered.paid
    with pytest.raises(BadRequestError) as refused:
        client.signals.create_signals(signals=[signal(CustomerById(customer_id=metered.customer_id), "x" * 101, 1)])
    assert refused.value.body["details"].startswith("signals[0].idempotencyKey:")
    assert client.signals.list_signals().pagination.total == 0
