"""A Paid checkout for browser tests: made through ``paid-python`` against the real server, over a catalog written
through the services."""

from __future__ import annotations

from dataclasses import dataclass

from paid import Paid
from paid.types import CheckoutCustomCardInput, CheckoutPlanInput, CheckoutProductInput
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from tests.e2e.conftest import SUCCESS_ORIGIN, in_database, off_the_loop
from tests.payments import flow
from tests.support import Server

BASIC = 1000
PRO = 3000


@dataclass(frozen=True)
class PaidCheckout:
    url: str
    id: str
    account_id: str
    pro_price_id: str


def open_paid_checkout(server: Server) -> PaidCheckout:
    """A checkout of Plan, at Basic ($10 a month, picked first) or Pro ($30, two features), in USD or EUR, that
    asks an anonymous customer's address and phone, with an Enterprise card and a cancel link."""
    account_id, secret = off_the_loop(lambda: server.new_account("E2E Paid"))

    async def populate(session: AsyncSession) -> tuple[str, str, str, str]:
        product = await catalog.create_product(session, account_id, name="Plan")
        made = []
        for name, amount, currency in [("Basic", BASIC, "usd"), ("Pro", PRO, "usd"), ("Pro EUR", PRO, "eur")]:
            price = await catalog.create_price(
                session,
                account_id,
                product_id=product.id,
                currency=currency,
                unit_amount_atom=amount,
                recurring_interval="month",
                name=name,
            )
            made.append(price.id)
        await session.commit()
        await flow.simulator(session, account_id, currencies=["usd", "eur"])
        return product.id, made[0], made[1], made[2]

    product_id, basic, pro, pro_eur = in_database(server, populate)
    client = Paid(base_url=f"{server.base_url}/api/v2", token=secret, timeout=60)
    checkout = client.checkouts.create_checkout(
        products=[
            CheckoutProductInput(
                id=product_id,
                plans=[
                    CheckoutPlanInput(id=basic, features=["1 seat"]),
                    CheckoutPlanInput(id=pro, features=["10 seats", "Priority support"]),
                    CheckoutPlanInput(id=pro_eur),
                ],
            )
        ],
        success_url=f"{SUCCESS_ORIGIN}/ok?checkout={{CHECKOUT_ID}}",
        cancel_url=f"{SUCCESS_ORIGIN}/pricing",
        collect_phone=True,
        custom_cards=[
            CheckoutCustomCardInput(
                label="Enterprise",
                price_text="Custom pricing",
                button_text="Talk to sales",
                button_url=f"{SUCCESS_ORIGIN}/sales",
            )
        ],
    )
    return PaidCheckout(checkout.url, checkout.id, account_id, pro)
