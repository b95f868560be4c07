"""Helpers for checkout attempt tests: simulator processors, sessions to pay, cards, and counting what happened."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout
from checkstand.checkout.models import CheckoutSession
from checkstand.core.crypto import SecretBox
from checkstand.db import Database
from checkstand.payments.adapters import Gateway
from checkstand.payments.flow import Confirmation, CustomerDetails
from checkstand.payments.models import Payment
from checkstand.payments.policy import PaymentPolicy
from checkstand.processors import connections
from checkstand.processors.base import CardDetails, PaymentMethod
from checkstand.processors.models import Processor, SimulatorCharge
from checkstand.settings import Settings
from checkstand.subscriptions.models import Subscription
from tests.localstripe import SECRET_KEY as STRIPE_SECRET_KEY

BOX = SecretBox("test-at-rest-key")
PUBLIC_URL = "http://checkstand.test"
# The settings' defaults, as the app in tests has them: localstripe is on loopback, so private processor URLs pass.
POLICY = PaymentPolicy.of(
    Settings.model_construct(processor_allow_private_urls=True, secret_key="test-card-fingerprint-key-0000000000")
)
STRIPE_WEBHOOK_SECRET = "whsec_localstripe000000000001"
GOOD_CARD = "4242424242424242"
THREE_DS_CARD = "4000002760003184"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
LOST_CARD = "4000000000009987"
PROCESSING_ERROR_CARD = "4000000000000119"
# Cards the simulator declines for good: a test that fails a session many times goes round them, so that it meets the
# session's limit before any card's own (CHECKSTAND_CONFIRM_MAX_FAILED_PER_CARD).
DECLINING_CARDS = ("4000000000000002", INSUFFICIENT_FUNDS_CARD, LOST_CARD, "4000000000009979", "4000000000000069")


def gateway(database: Database) -> Gateway:
    return Gateway(database=database, public_url=PUBLIC_URL, box=BOX, policy=POLICY)


def card(number: str = GOOD_CARD, *, exp_year: int = 2099, cvc: str = "123") -> PaymentMethod:
    return PaymentMethod(card=CardDetails(number=number, exp_month=12, exp_year=exp_year, cvc=cvc))


def paying(method: PaymentMethod | None = None, **fields: object) -> Confirmation:
    """A confirmation by an anonymous customer, Ada, with a good card unless told otherwise."""
    values: dict[str, object] = {
        "payment_method": method or card(),
        "customer": CustomerDetails(name="Ada Lovelace", email="ada@example.test"),
        **fields,
    }
    return Confirmation(**values)  # type: ignore[arg-type]


async def simulator(
    session: AsyncSession,
    account_id: str,
    name: str = "Sim",
    *,
    currencies: Sequence[str] | None = None,
    available: bool = True,
) -> Processor:
    processor = await connections.create_processor(
        session,
        account_id,
        BOX,
        name=name,
        type="simulator",
        currencies=list(currencies) if currencies is not None else None,
        is_available=available,
    )
    await session.commit()
    return processor


async def stripe(
    session: AsyncSession,
    account_id: str,
    api_base: str,
    *,
    box: SecretBox = BOX,
    publishable_key: str | None = None,
) -> Processor:
    """A Stripe connection to the localstripe at ``api_base``, sealed with ``box`` (the app's own key when the app
    must open it)."""
    processor = await connections.create_processor(
        session,
        account_id,
        box,
        name="Stripe",
        type="stripe",
        currencies=["usd"],
        secret_key=STRIPE_SECRET_KEY,
        webhook_secret=STRIPE_WEBHOOK_SECRET,
        api_base=api_base,
        publishable_key=publishable_key,
        allow_private_urls=True,
    )
    await session.commit()
    return processor


async def open_session(
    session: AsyncSession,
    account_id: str,
    prices: Sequence[str],
    *,
    tiers: Sequence[tuple[Sequence[str], str | None]] = (),
    route_id: str | None = None,
    three_ds_mode: str | None = None,
    customer_id: str | None = None,
) -> CheckoutSession:
    created = await checkout.create_session(
        session,
        account_id,
        checkout.NewCheckoutSession(
            success_url="https://shop.test/ok?session={CHECKOUT_SESSION_ID}",
            return_url="https://shop.test/back",
            line_items=[checkout.LineItemSpec(price_id=price) for price in prices],
            processor_route_id=route_id,
            three_ds_mode=three_ds_mode,
            customer_id=customer_id,
            metadata={"order": "secret-internal-42"},
            cascade_tiers=[
                checkout.TierSpec(
                    line_items=[checkout.LineItemSpec(price_id=price) for price in tier_prices],
                    processor_route_id=tier_route,
                )
                for tier_prices, tier_route in tiers
            ],
        ),
    )
    await session.commit()
    return created


async def count(session: AsyncSession, model: type[Payment | SimulatorCharge | Subscription], account_id: str) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(model.account_id == account_id)) or 0)


async def charged_amounts(session: AsyncSession, account_id: str) -> list[int]:
    rows = await session.scalars(
        select(SimulatorCharge.amount_atom)
        .where(SimulatorCharge.account_id == account_id)
        .order_by(SimulatorCharge.created_at, SimulatorCharge.id)
    )
    return list(rows)
