"""The client's address: taken from X-Forwarded-For only when the TCP peer is a trusted proxy
(CHECKSTAND_TRUSTED_PROXIES), and the peer's own otherwise. The ASGI client's ``client=`` sets the peer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from checkstand.app import create_app
from checkstand.checkout.models import CheckoutSession
from checkstand.db import Database
from checkstand.payments.models import CheckoutAttempt
from checkstand.settings import Settings
from tests.payments import flow

PROXY = "10.1.2.3"
CUSTOMER = "203.0.113.5"
PAYMENT = {
    "payment_method": {"card": {"number": flow.GOOD_CARD, "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
}

Peer = Callable[[str, str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def from_peer(settings: Settings, database: Database) -> Peer:
    """A client whose requests come from ``peer``, to the app with ``trusted`` as its trusted proxies."""

    @asynccontextmanager
    async def connect(peer: str, trusted: str) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings.model_copy(update={"trusted_proxies": trusted}), database=database)
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://checkstand.test") as http:
            yield http

    return connect


async def paid_from(http: httpx.AsyncClient, database: Database, opened: CheckoutSession, forwarded: str) -> str:
    """Pay the session with an X-Forwarded-For header; the address the attempt was counted under."""
    response = await http.post(
        f"/api/public/checkout/{opened.secure_token}/confirm", json=PAYMENT, headers={"X-Forwarded-For": forwarded}
    )
    assert response.status_code == 200, response.text
    async with database.reading() as fresh:
        address = await fresh.scalar(select(CheckoutAttempt.client_ip))
    assert address is not None
    return address


async def test_a_trusted_proxy_names_the_client(from_peer: Peer, database: Database, opened: CheckoutSession) -> None:
    async with from_peer(PROXY, "10.0.0.0/8") as http:
        # The customer's own header said 192.0.2.66; the proxy appended the address it saw.
        assert await paid_from(http, database, opened, f"192.0.2.66, {CUSTOMER}") == CUSTOMER


async def test_an_untrusted_peers_forwarded_for_is_ignored(
    from_peer: Peer, database: Database, opened: CheckoutSession
) -> None:
    async with from_peer("192.0.2.10", "10.0.0.0/8") as http:
        assert await paid_from(http, database, opened, CUSTOMER) == "192.0.2.10"


async def test_no_proxy_is_trusted_by_default_not_even_loopback(
    from_peer: Peer, database: Database, opened: CheckoutSession
) -> None:
    async with from_peer("127.0.0.1", "") as http:
        assert await paid_from(http, database, opened, CUSTOMER) == "127.0.0.1"


def test_trusted_proxies_are_addresses_or_networks() -> None:
    assert Settings(trusted_proxies=" 10.1.2.3/8, 192.0.2.1 ,").trusted_proxies == "10.0.0.0/8,192.0.2.1"
    with pytest.raises(ValidationError, match=r"proxy\.internal"):
        Settings(trusted_proxies="10.0.0.1,proxy.internal")
