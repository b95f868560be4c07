"""Saved payment methods at Stripe (localstripe): a recurring checkout leaves a PaymentMethod attached to a Stripe
customer, which an off-session charge then pays with; a card vaulted by the merchant's server is attached the same
way, and deleting it detaches it at Stripe."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.payment_methods import service as methods
from checkstand.payments import flow as payment_flow
from checkstand.payments import saved_methods
from checkstand.payments.models import SUCCEEDED
from checkstand.processors.base import ChargeRequest, Outcome, PaymentMethod
from checkstand.processors.stripe import StripeProcessor
from checkstand.subscriptions.models import Subscription
from tests.localstripe import SECRET_KEY, LocalStripe
from tests.payments import flow
from tests.payments.flow import paying
from tests.shop import Shop


def _method_at_stripe(localstripe: LocalStripe, method_id: str) -> dict[str, object]:
    return localstripe._call("GET", f"/v1/payment_methods/{method_id}")


async def test_a_recurring_checkout_saves_the_method_at_stripe_and_an_off_session_charge_pays(
    session: AsyncSession, database: Database, shop: Shop, localstripe: LocalStripe
) -> None:
    processor = await flow.stripe(session, shop.account_id, localstripe.api_base)
    created = await flow.open_session(session, shop.account_id, [shop.yearly])
    pm = localstripe.card_method("5555555555554444")

    attempt = await payment_flow.confirm(
        flow.gateway(database), created.secure_token, paying(PaymentMethod(processor_reference=pm))
    )

    assert attempt.state == SUCCEEDED
    async with database.reading() as fresh:
        subscription = await fresh.scalar(select(Subscription).where(Subscription.checkout_session_id == created.id))
        assert subscription is not None
        [method] = await methods.list_by_customer(fresh, shop.account_id, subscription.customer_id)
    assert subscription.default_payment_method_id == method.id
    assert (method.processor_id, method.processor_reference) == (processor.id, pm)
    assert (method.last4, method.exp_month, method.exp_year) == ("4444", 12, 2030)
    stripe_customer = method.processor_customer_reference
    assert stripe_customer is not None
    assert stripe_customer.startswith("cus_")
    assert _method_at_stripe(localstripe, pm)["customer"] == stripe_customer
    [intent] = localstripe.payment_intents_with_key(
        attempt.processor_attempts[0].idempotency_key or "", "checkstand_idempotency_key"
    )
    assert (intent["customer"], intent["setup_future_usage"]) == (stripe_customer, "off_session")

    # A renewal: the saved method, charged with the customer not there.
    async with StripeProcessor(SECRET_KEY, localstripe.api_base, allow_private_urls=True) as stripe:
        renewal = await stripe.charge(
            ChargeRequest(
                idempotency_key=f"renewal-{method.id}",
                amount_atom=9000,
                currency="usd",
                payment_method=PaymentMethod(processor_reference=method.processor_reference),
                processor_customer_reference=stripe_customer,
            )
        )
    assert renewal.outcome is Outcome.SUCCEEDED
    assert renewal.processor_reference is not None
    charged = localstripe.payment_intent(renewal.processor_reference)
    assert (charged["status"], charged["customer"], charged["payment_method"]) == ("succeeded", stripe_customer, pm)


async def test_a_card_vaulted_at_stripe_is_attached_and_deleting_detaches_it(
    session: AsyncSession, database: Database, shop: Shop, localstripe: LocalStripe
) -> None:
    processor = await flow.stripe(session, shop.account_id, localstripe.api_base)
    customer = await customers.create_customer(session, shop.account_id, email="grace@example.test")
    await session.commit()
    gateway = flow.gateway(database)

    async with database.writing() as request:
        method = await saved_methods.create_credit_card(
            request,
            gateway,
            shop.account_id,
            customer_id=customer.id,
            number="4242424242424242",
            exp_month="7",
            exp_year="2031",
            cvc="123",
        )
        await request.commit()

    assert (method.processor_id, method.brand, method.last4, method.exp_month, method.exp_year) == (
        processor.id,
        "visa",
        "4242",
        7,
        2031,
    )
    assert method.processor_reference.startswith("pm_")
    at_stripe = _method_at_stripe(localstripe, method.processor_reference)
    assert method.processor_customer_reference is not None
    assert at_stripe["customer"] == method.processor_customer_reference

    async with database.writing() as request:
        await saved_methods.detach(request, gateway, shop.account_id, method.id)
        await request.commit()

    assert _method_at_stripe(localstripe, method.processor_reference)["customer"] is None
    async with database.reading() as fresh:
        assert (await methods.get_payment_method(fresh, shop.account_id, method.id)).is_active is False
