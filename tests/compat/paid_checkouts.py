"""Checkout payments made in a real server, for the SDK's payments and refunds calls: the catalog and a simulator
connection are written into the server's database through the services, and the customer pays through the server's
own public checkout API, so the payment and its charge are what the server's completion makes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from checkstand.catalog import service as catalog
from tests.payments import flow
from tests.support import Server, connect_url


@dataclass(frozen=True)
class Paid:
    checkout_session_id: str
    amount_atom: int


def pay(server: Server, account_id: str, *, amount_atom: int = 1999, yearly: bool = False) -> Paid:
    """A checkout of one price (yearly when asked: it starts a subscription), paid with a good simulator card."""

    async def arrange() -> tuple[str, str]:
        database = connect_url(server.database_url)
        try:
            async with database.writing() as session:
                product = await catalog.create_product(session, account_id, name="Thing")
                price = await catalog.create_price(
                    session,
                    account_id,
                    product_id=product.id,
                    currency="usd",
                    unit_amount_atom=amount_atom,
                    recurring_interval="year" if yearly else None,
                )
                await session.commit()
                await flow.simulator(session, account_id)
                checkout = await flow.open_session(session, account_id, [price.id])
                return checkout.id, checkout.secure_token
        finally:
            await database.dispose()

    checkout_id, token = asyncio.run(arrange())
    confirmed = httpx.post(
        f"{server.base_url}/api/public/checkout/{token}/confirm",
        json={
            "payment_method": {"card": {"number": flow.GOOD_CARD, "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        },
        timeout=30,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "succeeded", confirmed.text
    return Paid(checkout_id, amount_atom)
