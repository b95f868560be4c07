"""A slow processor stalls nobody else: while a payment (or the recovery pass) waits on Stripe, other requests that
write complete, and the payment completes once Stripe answers. On SQLite, whose writers share one database-wide lock,
and on PostgreSQL.

Stripe is localstripe behind a gate of the test's own (:class:`StripeGate`), which holds the chosen request until the
test opens it: as slow a processor as the test needs, without sleeping. The writes must finish within
:data:`WRITES_WITHIN`, well under SQLite's busy timeout (30 s), which a writer blocked by a transaction held open
across the processor call would wait out before failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import httpx
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import lifecycle as checkout_lifecycle
from checkstand.checkout import service as checkout
from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.payments import flow as payment_flow
from checkstand.payments import recovery
from checkstand.payments.models import FAILED
from checkstand.payments.service import get_attempt
from checkstand.processors.base import PaymentMethod
from tests import support
from tests.conftest import bearer
from tests.localstripe import SECRET_KEY, SUCCEEDING_METHOD, LocalStripe
from tests.payments import flow
from tests.shop import Shop

WRITES_WITHIN: Final = 15.0
STRIPE_ANSWERS_WITHIN: Final = 60.0
T = TypeVar("T")
# Headers the gate leaves to its own HTTP client.
_HOP_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class StripeGate:
    """An HTTP server in front of localstripe: it forwards every request, but holds the ones ``holds`` picks until
    :meth:`open` (``holding`` is set once one waits)."""

    def __init__(self, upstream: str, holds: Callable[[web.Request], bool]) -> None:
        self.upstream = upstream
        self.holds = holds
        self.holding = asyncio.Event()
        self._opened = asyncio.Event()
        self._runner = web.AppRunner(web.Application(), access_log=None)
        self.api_base = ""

    async def __aenter__(self) -> Self:
        self._runner.app.router.add_route("*", "/{path:.*}", self._forward)
        await self._runner.setup()
        port = support.free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.api_base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.open()
        await self._runner.cleanup()

    def open(self) -> None:
        self._opened.set()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.holds(request):
            self.holding.set()
            await self._opened.wait()
        headers = {name: value for name, value in request.headers.items() if name.lower() not in _HOP_HEADERS}
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.request(
                request.method, f"{self.upstream}{request.path_qs}", content=body, headers=headers
            )
        content_type = answer.headers.get("content-type", "application/json")
        return web.Response(status=answer.status_code, body=answer.content, headers={"Content-Type": content_type})


async def held(gate: StripeGate, work: asyncio.Task[Any]) -> None:
    """Wait until a request waits at the gate; fails if ``work`` ends first (it never reached the processor)."""
    reached = asyncio.create_task(gate.holding.wait())
    done, _ = await asyncio.wait({reached, work}, timeout=STRIPE_ANSWERS_WITHIN, return_when=asyncio.FIRST_COMPLETED)
    if reached not in done:
        reached.cancel()
        answer = work.result() if work in done else "no answer in time"
        raise AssertionError(f"the processor was never asked: {getattr(answer, 'text', answer)}")


async def within(seconds: float, writes: Awaitable[T], what: str) -> T:
    """``writes``' result, or a failure naming ``what`` when they wait longer than ``seconds``."""
    try:
        return await asyncio.wait_for(writes, seconds)
    except TimeoutError:
        raise AssertionError(f"{what} waited on the slow processor for {seconds} s") from None


def test_writes_complete_while_a_customer_waits_on_a_slow_processor(
    server: support.Server, localstripe: LocalStripe
) -> None:
    """A real server: the customer's confirm waits at Stripe's PaymentIntent call, and meanwhile the merchant
    creates products, prices and checkout sessions through the API."""
    account_id, secret = server.new_account()
    asyncio.run(_confirm_against_a_slow_stripe(server, localstripe, account_id, secret))


async def _confirm_against_a_slow_stripe(
    server: support.Server, localstripe: LocalStripe, account_id: str, secret: str
) -> None:
    api = f"{server.base_url}/api/{account_id}"

    def charges(request: web.Request) -> bool:
        return request.method == "POST" and request.path == "/v1/payment_intents"

    async with (
        StripeGate(localstripe.api_base, charges) as gate,
        httpx.AsyncClient(headers=bearer(secret), timeout=STRIPE_ANSWERS_WITHIN) as http,
    ):
        connected = await http.post(
            f"{api}/processors/",
            json={
                "name": "Slow Stripe",
                "type": "stripe",
                "currencies": ["usd"],
                "secret_key": SECRET_KEY,
                "webhook_secret": flow.STRIPE_WEBHOOK_SECRET,
                "api_base": gate.api_base,
            },
        )
        assert connected.status_code == 201, connected.text
        price_id = await _price(http, api, "Slow sale")
        created = await _checkout_session(http, api, price_id)
        assert created.status_code == 201, created.text
        token = created.json()["url"].rsplit("/", 1)[1]

        confirming = asyncio.create_task(
            http.post(
                f"{server.base_url}/api/public/checkout/{token}/confirm",
                json={
                    "payment_method": {"payment_method_id": SUCCEEDING_METHOD},
                    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
                },
            )
        )
        await held(gate, confirming)

        async def merchant_writes() -> list[httpx.Response]:
            products = [http.post(f"{api}/products/", json={"name": f"Made meanwhile {n}"}) for n in range(3)]
            sessions = [_checkout_session(http, api, price_id) for _ in range(3)]
            return list(await asyncio.gather(*products, *sessions))

        written = await within(WRITES_WITHIN, merchant_writes(), "creating products and checkout sessions")
        assert [answer.status_code for answer in written] == [201] * len(written), [a.text for a in written]
        assert not confirming.done()

        gate.open()
        paid = await asyncio.wait_for(confirming, STRIPE_ANSWERS_WITHIN)
        assert paid.status_code == 200, paid.text
        assert paid.json()["state"] == "succeeded"
        completed = await http.get(f"{api}/checkout-sessions/{created.json()['id']}")
        assert completed.json()["state"] == "success"


async def _price(http: httpx.AsyncClient, api: str, name: str) -> str:
    product = await http.post(f"{api}/products/", json={"name": name})
    assert product.status_code == 201, product.text
    price = await http.post(
        f"{api}/prices/", json={"product_id": product.json()["id"], "currency": "usd", "unit_amount_atom": 2500}
    )
    assert price.status_code == 201, price.text
    return str(price.json()["id"])


async def _checkout_session(http: httpx.AsyncClient, api: str, price_id: str) -> httpx.Response:
    return await http.post(
        f"{api}/checkout-sessions/",
        json={
            "success_url": "https://shop.test/ok",
            "return_url": "https://shop.test/back",
            "line_items": [{"price_id": price_id}],
        },
    )


async def test_recovery_holds_no_lock_while_it_asks_a_slow_processor(
    session: AsyncSession, database: Database, shop: Shop, localstripe: LocalStripe, frozen_clock: FrozenClock
) -> None:
    """Two payments left processing (their process died before asking Stripe). Recovery settles the first, then
    waits at Stripe for the second: meanwhile the merchant expires the first session and creates another one. Each
    attempt is recorded in its own transaction, so the first session's row is no longer locked, and on SQLite no
    write transaction is open while Stripe is asked."""
    stuck: list[str] = []

    def asks_about_the_second(request: web.Request) -> bool:
        return len(stuck) == 2 and stuck[1] in request.query.get("query", "")

    async with StripeGate(localstripe.api_base, asks_about_the_second) as gate:
        await flow.stripe(session, shop.account_id, gate.api_base)
        sessions = [await flow.open_session(session, shop.account_id, [shop.tshirt]) for _ in range(2)]
        for created in sessions:
            async with database.writing() as writing:
                attempt, pending = await payment_flow.begin_attempt(
                    writing,
                    created.secure_token,
                    flow.paying(PaymentMethod(processor_reference=SUCCEEDING_METHOD)),
                    public_url=flow.PUBLIC_URL,
                    limits=flow.POLICY.rate_limits,
                )
                await writing.commit()
            assert pending is not None
            stuck.append(attempt.id)
            frozen_clock.advance(timedelta(seconds=1))  # the first is the older, so recovery takes it first
        frozen_clock.advance(flow.POLICY.attempt_lease)

        recovering = asyncio.create_task(recovery.recover_stuck_attempts(flow.gateway(database)))
        await held(gate, recovering)

        async def merchant_writes() -> None:
            async with database.writing() as writing:
                await checkout_lifecycle.expire_session(writing, shop.account_id, sessions[0].id)
                await writing.commit()
            await flow.open_session(session, shop.account_id, [shop.tshirt])

        await within(WRITES_WITHIN, merchant_writes(), "expiring the first session and creating another")
        gate.open()
        assert await asyncio.wait_for(recovering, STRIPE_ANSWERS_WITHIN) == 2

    async with database.reading() as fresh:
        # Stripe never received either charge: both attempts failed, and charged nobody.
        assert [(await get_attempt(fresh, shop.account_id, attempt_id)).state for attempt_id in stuck] == [FAILED] * 2
        states = [checkout.state(await checkout.get_session(fresh, shop.account_id, s.id)) for s in sessions]
    assert states == ["expired", "open"]
